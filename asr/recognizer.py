"""The one inference path: a :class:`Recognizer` (network, features, vocabulary, normaliser,
rebuilt from one model file by :func:`asr.load_model`) turns a waveform into log-probs, and
batches into hypotheses. Evaluation, LM tuning, transcription, long audio, the service,
training's validation and the benchmarks all run the network through it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from asr.config import ExperimentConfig
from asr.data import Batch
from asr.decode import Decoder, Hypothesis
from asr.features import FeatureExtractor
from asr.model import AcousticModel
from asr.runtime import progress
from asr.text import Normalizer, Vocabulary

logger = logging.getLogger(__name__)
LossFn = Callable[[torch.Tensor, torch.Tensor, Batch], torch.Tensor]  # (log-probs, lengths, batch)


@dataclass
class Inference:
    """What :meth:`Recognizer.infer` found for a set of batches."""

    hyps: list[Hypothesis] = field(default_factory=list)  # none when no decoder was given
    log_probs: dict[str, torch.Tensor] = field(default_factory=dict)  # id -> [T', V] CPU, when kept
    failed: list[tuple[str, str]] = field(default_factory=list)  # (utt id, reason): audio unreadable
    loss: float | None = None  # mean per utterance, when a loss function was given


@dataclass
class Recognizer:
    """Everything inference needs, rebuilt from one checkpoint."""

    config: ExperimentConfig
    model: AcousticModel  # or asr.export.GraphModel: the same call, run by onnxruntime/TorchScript
    extractor: FeatureExtractor
    vocab: Vocabulary
    normalizer: Normalizer
    source: str = ""  # the file it was loaded from ("" when built in memory)
    precision: str = "fp32"  # what the network runs at (asr.precision), decided at load
    assets_sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # file name beside it -> digest

    @property
    def frame_seconds(self) -> float:
        """Seconds between the model's output frames (feature hop x time stride)."""
        return self.config.features.hop_ms / 1000 * self.config.model.time_stride

    def to(self, device: torch.device | str) -> Recognizer:
        self.model.to(device)
        return self

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        """Eval mode and no gradients for the block; a model in training (validation) goes back."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train(was_training)

    def log_probs(self, waveform: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """One 16 kHz waveform -> its ``[T', V]`` log-probs (float32, CPU), the network on ``device``."""
        with self._evaluating():
            feats = self.extractor(waveform)[None].to(device)
            out = self.model(feats, torch.tensor([feats.shape[1]], device=device))
        return out.log_probs[0, : int(out.output_lengths[0])].float().cpu()

    def infer(
        self,
        batches: Iterable[Batch],
        device: torch.device,
        decoder: Decoder | None = None,
        loss: LossFn | None = None,
        keep_log_probs: bool = False,
        show_progress: bool | str = False,
    ) -> Inference:
        """Run the network over ``batches``: hypotheses by ``decoder``, the mean ``loss`` per
        utterance, each utterance's log-probs when ``keep_log_probs``. Utterances whose audio
        could not be read are logged and listed in ``failed``."""
        result = Inference()
        loss_sum, done = 0.0, 0
        with self._evaluating():
            for batch in progress(batches, show_progress, desc="decode", unit="batch"):
                for utt_id, reason in batch.failed:
                    logger.warning("%s: skipped: %s", utt_id, reason)
                result.failed.extend(batch.failed)
                if not batch.utt_ids:
                    continue
                batch = batch.to(device)
                out = self.model(batch.features, batch.feature_lengths)
                done += len(batch.utt_ids)
                if decoder is not None:
                    result.hyps.extend(decoder(out.log_probs, out.output_lengths, batch.utt_ids))
                if loss is not None:
                    loss_sum += float(loss(out.log_probs, out.output_lengths, batch)) * len(batch.utt_ids)
                if keep_log_probs:
                    for row, (utt_id, n) in enumerate(zip(batch.utt_ids, out.output_lengths.tolist())):
                        result.log_probs[utt_id] = out.log_probs[row, :n].float().cpu()
        if loss is not None and done:
            result.loss = loss_sum / done
        return result

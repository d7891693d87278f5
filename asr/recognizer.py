"""The one inference path: a :class:`Recognizer` (network, features, vocabulary, normaliser,
rebuilt from one model file by :func:`asr.load_model`) turns a waveform into log-probs, and
batches into hypotheses. Evaluation, LM tuning, transcription, long audio, the service,
training's validation and the benchmarks all run the network through it; streaming runs it
piece by piece through :class:`StreamingAcoustics`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from asr.config import ONSET_FIELDS, ExperimentConfig, feature_problems
from asr.data import Batch
from asr.decode import Decoder, Hypothesis
from asr.features import FeatureExtractor, hop_samples, num_frames, window_samples
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

    def set_onset(self, **onset: Any) -> None:
        """Change where clips start (``ONSET_FIELDS``) in both copies of the front end's
        settings: the config's, which checks read, and the extractor's, which loading reads."""
        if unknown := set(onset) - set(ONSET_FIELDS):
            raise ValueError(f"not an onset setting: {', '.join(sorted(unknown))}")
        features = dataclasses.replace(self.config.features, **onset)
        if problems := feature_problems(features):
            raise ValueError("; ".join(problems))
        self.config = dataclasses.replace(self.config, features=features)
        self.extractor.cfg = dataclasses.replace(self.extractor.cfg, **onset)

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


def check_streamable(recognizer: Recognizer) -> None:
    """Raise ValueError unless the model can stream (unidirectional, not per-utterance features)."""
    cfg = recognizer.config
    if not isinstance(recognizer.model, AcousticModel):
        raise ValueError("streaming runs the PyTorch model; load a checkpoint, not an exported graph")
    if cfg.model.bidirectional:
        raise ValueError(
            "a bidirectional model needs the whole utterance and cannot stream; train one with "
            "model.bidirectional=false (and model.lookahead=N), as recipes/streaming does"
        )
    if cfg.features.onset_db > 0:
        raise ValueError(
            "this model cuts each clip's quiet lead (features.onset_db), which needs the clip's peak; "
            "streaming models use features.onset_db=0"
        )
    if cfg.features.normalize == "utterance":
        raise ValueError(
            "this model normalises features per utterance, which needs the whole utterance; "
            "streaming models use features.normalize=global"
        )


class StreamingAcoustics:
    """Audio pieces -> final log-prob frames ``[n, V]``, exactly as whole-stream inference."""

    def __init__(self, recognizer: Recognizer) -> None:
        check_streamable(recognizer)
        self.model, self.extractor = recognizer.model.eval(), recognizer.extractor
        features, model_cfg = recognizer.config.features, recognizer.config.model
        self.feature_cfg = features
        self.hop, self.half_window = hop_samples(features), window_samples(features) // 2
        self.s1, self.s2 = recognizer.model.time_strides
        self.stride = self.s1 * self.s2
        self.lookahead = model_cfg.lookahead
        self.audio = torch.zeros(0)  # samples from self.audio_start on
        self.audio_start = self.received = 0
        self.feats = torch.zeros(0, features.n_mels)  # feature frames from self.feats_start on
        self.feats_start = self.feats_done = 0
        self.conv_done = 0
        self.rnn_out = torch.zeros(0, model_cfg.hidden_size)  # rnn frames not yet past lookahead
        self.rnn_start = 0
        self.state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None
        self.emitted = 0
        self.finished = False

    def _right_reach(self, j: int) -> int:
        """Last feature frame that conv output ``j`` depends on (kernel 3, padding 1 per block)."""
        return self.s1 * (self.s2 * j + 1) + 1

    @torch.no_grad()
    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """Add 16 kHz float samples; returns the log-prob frames that became final."""
        if self.finished:
            raise RuntimeError("this stream has finished; start a new one")
        samples = samples.detach().float().reshape(-1)
        self.audio = torch.cat([self.audio, samples])
        self.received += samples.numel()
        return self._advance(final=False)

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """End of stream: the remaining frames (zero padded past the end, as offline)."""
        already, self.finished = self.finished, True
        if already or self.received == 0:
            return self._no_frames()
        return self._advance(final=True)

    def _no_frames(self) -> torch.Tensor:
        return torch.zeros(0, self.model.classifier.out_features)

    def _advance(self, final: bool) -> torch.Tensor:
        n = self.received
        if final:
            feats_ready = num_frames(n, self.feature_cfg)
        else:  # frames whose whole window has arrived
            feats_ready = (n - self.half_window) // self.hop + 1 if n >= self.half_window else 0
        self._features(feats_ready, final)
        if final:
            conv_ready = int(self.model.output_lengths(torch.tensor([self.feats_done])).item())
        else:  # outputs whose receptive field lies inside the final feature frames
            conv_ready = self.feats_done // self.stride + 1
            while conv_ready > 0 and self._right_reach(conv_ready - 1) > self.feats_done - 1:
                conv_ready -= 1
        return self._network(conv_ready, final)

    def _features(self, ready: int, final: bool) -> None:
        if ready <= self.feats_done:
            return
        # audio from 2 hops before the first new frame: local frames from 2 on have no edge padding
        first = max(0, self.feats_done - 2)
        start = first * self.hop
        end = self.received if final else (ready - 1) * self.hop + self.half_window
        piece = self.audio[start - self.audio_start : end - self.audio_start]
        frames = self.extractor(piece)[self.feats_done - first : ready - first]
        self.feats = torch.cat([self.feats, frames])
        self.feats_done = ready
        # keep audio from 2 hops before the next new frame
        keep_from = max(0, self.feats_done - 2) * self.hop
        self.audio = self.audio[keep_from - self.audio_start :]
        self.audio_start = keep_from

    def _network(self, conv_ready: int, final: bool) -> torch.Tensor:
        model = self.model
        if conv_ready > self.conv_done:
            # features from 2 outputs before the first new one (aligned to the stride): local
            # outputs from 2 on never see the window's zero edge
            first = max(0, self.conv_done - 2)
            start = first * self.stride
            window = self.feats[start - self.feats_start :]
            x, _ = model.front_end(window[None], torch.tensor([window.shape[0]]))
            x = x[0, self.conv_done - first : conv_ready - first]
            out, self.state = model.rnn(x[None], self.state)
            self.rnn_out = torch.cat([self.rnn_out, out[0]])
            self.conv_done = conv_ready
            keep_from = max(0, self.conv_done - 2) * self.stride
            self.feats = self.feats[keep_from - self.feats_start :]
            self.feats_start = keep_from
        ready = self.conv_done if final else max(self.emitted, self.conv_done - self.lookahead)
        if ready <= self.emitted:
            return self._no_frames()
        x = self.rnn_out[self.emitted - self.rnn_start :]
        if model.lookahead is not None:
            if final:  # past the end: zeros, as the offline model's padding
                x = torch.cat([x, torch.zeros(self.lookahead, x.shape[1])])
            x = model.lookahead.conv(x.T[None])[0].T  # [frames - lookahead, C]
        log_probs = model.head(x[: ready - self.emitted][None])[0]
        self.emitted = ready
        self.rnn_out = self.rnn_out[self.emitted - self.rnn_start :]
        self.rnn_start = self.emitted
        return log_probs

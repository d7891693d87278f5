"""LM tuning: a dev manifest -> acoustic log-probs (computed once) -> WER for each
(LM weight, word score) pair of a grid -> the table and the best pair.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from asr._types import PathLike
from asr.checkpoint import Recognizer
from asr.config import DecodeConfig
from asr.data import AsrDataset, inference_loader
from asr.decode import BeamDecoder
from asr.manifest import read_manifest
from asr.metrics import score
from asr.runtime import inference_batch_seconds, pick_device, progress

logger = logging.getLogger(__name__)


@dataclass
class TuneRow:
    lm_weight: float
    word_score: float
    wer: float
    cer: float


@torch.no_grad()
def cache_log_probs(
    recognizer: Recognizer, manifest: PathLike, device: str = "auto"
) -> tuple[dict[str, str], list[tuple[str, torch.Tensor]]]:
    """References and per-utterance log-probs ``[T', V]`` (CPU) for every row of ``manifest``."""
    utterances = read_manifest(manifest)
    torch_device = pick_device(device)
    recognizer.to(torch_device).model.eval()
    dataset = AsrDataset(utterances, recognizer.extractor)
    cached = []
    unreadable = set()
    cap = inference_batch_seconds(recognizer.config.decode.batch_seconds, torch_device)
    for batch in inference_loader(dataset, cap):
        for utt_id, reason in batch.failed:
            logger.warning("%s: skipped: %s", utt_id, reason)
            unreadable.add(utt_id)
        if not batch.utt_ids:
            continue
        batch = batch.to(torch_device)
        out = recognizer.model(batch.features, batch.feature_lengths)
        for row, (utt_id, length) in enumerate(zip(batch.utt_ids, out.output_lengths.tolist())):
            cached.append((utt_id, out.log_probs[row, :length].cpu()))
    return {u.id: u.text for u in utterances if u.id not in unreadable}, cached


def tune(
    recognizer: Recognizer,
    refs: dict[str, str],
    cached: Sequence[tuple[str, torch.Tensor]],
    decode: DecodeConfig,
    lm_weights: Sequence[float],
    word_scores: Sequence[float],
    show_progress: bool = False,
) -> list[TuneRow]:
    """WER/CER of beam search with ``decode``'s LM at every grid point, best first."""
    rows = []
    grid = list(itertools.product(lm_weights, word_scores))
    for weight, word_score in progress(grid, show_progress, desc="grid", unit="point"):
        cfg = dataclasses.replace(decode, method="beam", lm_weight=weight, word_score=word_score)
        decoder = BeamDecoder(recognizer.vocab, cfg)
        hyps = {}
        for utt_id, lp in cached:
            (hyp,) = decoder(lp[None], torch.tensor([lp.shape[0]]), [utt_id])
            hyps[utt_id] = hyp.text
        report = score(refs, hyps, recognizer.normalizer)
        rows.append(TuneRow(weight, word_score, report.wer, report.cer))
    return sorted(rows, key=lambda r: (r.wer, r.cer))

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
from asr.config import DecodeConfig
from asr.data import AsrDataset, inference_loader
from asr.decode import BeamDecoder, BeamResources
from asr.manifest import read_manifest
from asr.metrics import score
from asr.recognizer import Recognizer
from asr.runtime import inference_batch_seconds, pick_device, progress

logger = logging.getLogger(__name__)


@dataclass
class TuneRow:
    lm_weight: float
    word_score: float
    wer: float
    cer: float


def cache_log_probs(
    recognizer: Recognizer, manifest: PathLike, device: str = "auto"
) -> tuple[dict[str, str], list[tuple[str, torch.Tensor]]]:
    """References and per-utterance log-probs ``[T', V]`` (CPU) for every row of ``manifest``."""
    utterances = read_manifest(manifest)
    torch_device = pick_device(device)
    recognizer.to(torch_device)
    cap = inference_batch_seconds(recognizer.config.decode.batch_seconds, torch_device)
    loader = inference_loader(AsrDataset(utterances, recognizer.extractor), cap)
    inference = recognizer.infer(loader, torch_device, keep_log_probs=True)
    unreadable = {utt_id for utt_id, _ in inference.failed}
    return {u.id: u.text for u in utterances if u.id not in unreadable}, list(inference.log_probs.items())


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
    resources = BeamResources.load(recognizer.vocab, decode)  # the LM, lexicon and trie, once
    for weight, word_score in progress(grid, show_progress, desc="grid", unit="point"):
        cfg = dataclasses.replace(decode, method="beam", lm_weight=weight, word_score=word_score)
        decoder = BeamDecoder(recognizer.vocab, cfg, resources)
        hyps = {}
        for utt_id, lp in cached:
            (hyp,) = decoder(lp[None], torch.tensor([lp.shape[0]]), [utt_id])
            hyps[utt_id] = hyp.text
        report = score(refs, hyps, recognizer.normalizer)
        rows.append(TuneRow(weight, word_score, report.wer, report.cer))
    return sorted(rows, key=lambda r: (r.wer, r.cer))

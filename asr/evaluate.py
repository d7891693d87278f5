"""Evaluation: a manifest -> hypotheses -> :class:`~asr.metrics.ErrorReport` and files.

``evaluate`` writes, into its output folder, ``hyps.jsonl`` (one row per
utterance, keyed by id), ``errors.txt`` (aligned errors, worst first) and
``wer.json`` (the corpus figures).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F

from asr._types import PathLike
from asr.audio import AudioError
from asr.checkpoint import Recognizer
from asr.config import DecodeConfig
from asr.data import AsrDataset, Batch, inference_loader
from asr.decode import Decoder, Hypothesis, make_decoder
from asr.manifest import read_manifest
from asr.metrics import ErrorReport, score
from asr.model import AcousticModel
from asr.runtime import pick_device, progress

logger = logging.getLogger(__name__)


def ctc_loss(log_probs: torch.Tensor, output_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean CTC loss in fp32; the one ``[B, T', V] -> [T', B, V]`` transpose of the pipeline."""
    return F.ctc_loss(
        log_probs.float().transpose(0, 1),
        batch.targets,
        output_lengths,
        batch.target_lengths,
        blank=0,
        reduction="mean",
        zero_infinity=True,  # an infeasible label (too long for its audio) gives 0, not inf
    )


@torch.no_grad()
def infer(
    model: AcousticModel,
    batches: Iterable[Batch],
    decoder: Decoder,
    device: torch.device,
    with_loss: bool = False,
    show_progress: bool = False,
    failed: list[tuple[str, str]] | None = None,
) -> tuple[list[Hypothesis], float | None]:
    """Hypotheses for every batch, plus the mean CTC loss when asked. Utterances whose audio
    could not be read get no hypothesis; they are logged and appended to ``failed``."""
    was_training = model.training
    model.eval()
    hyps: list[Hypothesis] = []
    loss_sum, loss_count = 0.0, 0
    try:
        for batch in progress(batches, show_progress, desc="decode", unit="batch"):
            for utt_id, reason in batch.failed:
                logger.warning("%s: skipped: %s", utt_id, reason)
            if failed is not None:
                failed.extend(batch.failed)
            if not batch.utt_ids:
                continue
            batch = batch.to(device)
            out = model(batch.features, batch.feature_lengths)
            hyps.extend(decoder(out.log_probs, out.output_lengths, batch.utt_ids))
            if with_loss:
                loss_sum += float(ctc_loss(out.log_probs, out.output_lengths, batch)) * len(batch.utt_ids)
                loss_count += len(batch.utt_ids)
    finally:
        model.train(was_training)
    return hyps, (loss_sum / loss_count if with_loss and loss_count else None)


def evaluate(
    recognizer: Recognizer,
    manifest: PathLike,
    out_dir: PathLike | None = None,
    decode: DecodeConfig | None = None,
    device: str = "auto",
    num_workers: int = 0,
    show_progress: bool = True,
) -> ErrorReport:
    """Decode every utterance of ``manifest`` and score it against its ``text``."""
    decode = decode or recognizer.config.decode
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest}: the manifest has no utterances")
    torch_device = pick_device(device)
    recognizer.to(torch_device)
    dataset = AsrDataset(utterances, recognizer.extractor)
    loader = inference_loader(dataset, decode.batch_seconds, num_workers)
    decoder = make_decoder(recognizer.vocab, decode, torch_device)
    failed: list[tuple[str, str]] = []
    hyps, _ = infer(recognizer.model, loader, decoder, torch_device, False, show_progress, failed)
    if len(failed) == len(utterances):
        raise AudioError(
            manifest, f"none of its {len(failed)} audio files could be read, e.g. {failed[0][1]}"
        )
    unreadable = {utt_id for utt_id, _ in failed}
    refs = {u.id: u.text for u in utterances if u.id not in unreadable}
    report = score(refs, {h.utt_id: h.text for h in hyps}, recognizer.normalizer)
    report = dataclasses.replace(report, unreadable=failed)
    if out_dir is not None:
        write_report(report, hyps, Path(out_dir))
    return report


def write_report(report: ErrorReport, hyps: list[Hypothesis], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {h.utt_id: h for h in hyps}
    with (out_dir / "hyps.jsonl").open("w", encoding="utf-8") as handle:
        for row in report.per_utterance:
            hyp = by_id[row.utt_id]
            record = {
                "id": row.utt_id,
                "ref": row.ref,
                "hyp": row.hyp,
                "raw_hyp": hyp.text,
                "score": hyp.score,
                "errors": row.errors,
                "ref_words": row.ref_words,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (out_dir / "errors.txt").open("w", encoding="utf-8") as handle:
        handle.write(f"{report}\n\n")
        for row in sorted(report.per_utterance, key=lambda r: (-r.errors, r.utt_id)):
            handle.write(f"{row.utt_id}\t{row.errors} errors / {row.ref_words} words\n")
            handle.write(f"  ref: {row.ref}\n  hyp: {row.hyp}\n  ali: {row.alignment}\n")
    (out_dir / "wer.json").write_text(json.dumps(report.summary(), indent=2) + "\n")

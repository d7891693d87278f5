"""Evaluation: a manifest -> hypotheses -> :class:`~asr.metrics.ErrorReport` and files.

``evaluate`` writes, into its output folder, ``hyps.jsonl`` (one row per
utterance, keyed by id, with its audio and speaker), ``errors.txt`` (aligned errors,
worst first), ``wer.json`` (the corpus figures), ``info.json`` (model, manifest, decoder
settings) and ``report.html`` (:mod:`asr.report`; with matplotlib, the posteriors of the
worst utterances are drawn in it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch

from asr._types import PathLike
from asr.audio import AudioError, load_audio
from asr.config import DecodeConfig
from asr.data import AsrDataset, inference_loader
from asr.decode import PHONES_WITHOUT_LM, Hypothesis, make_decoder, writes_words
from asr.manifest import Utterance, read_manifest
from asr.metrics import DecodeRow, ErrorReport, score
from asr.recognizer import Recognizer
from asr.runtime import MissingDependency, inference_batch_seconds, pick_device
from asr.timing import word_times

logger = logging.getLogger(__name__)


def evaluate(
    recognizer: Recognizer,
    manifest: PathLike,
    out_dir: PathLike | None = None,
    decode: DecodeConfig | None = None,
    device: str = "auto",
    num_workers: int = 0,
    show_progress: bool = True,
    figures: int = 10,
) -> ErrorReport:
    """Decode every utterance of ``manifest`` and score it against its ``text``; with ``out_dir``,
    write the files above, drawing the posteriors of the ``figures`` worst utterances."""
    decode = decode or recognizer.config.decode
    if not writes_words(recognizer.vocab, decode):
        raise ValueError(f"evaluate scores words, and {PHONES_WITHOUT_LM}")
    utterances = read_manifest(manifest)
    if not utterances:
        raise ValueError(f"{manifest}: the manifest has no utterances")
    torch_device = pick_device(device)
    recognizer.to(torch_device)
    dataset = AsrDataset(utterances, recognizer.extractor)
    loader = inference_loader(
        dataset, inference_batch_seconds(decode.batch_seconds, torch_device), num_workers
    )
    decoder = make_decoder(recognizer.vocab, decode, torch_device)
    inference = recognizer.infer(loader, torch_device, decoder, show_progress=show_progress)
    hyps, failed = inference.hyps, inference.failed
    if len(failed) == len(utterances):
        raise AudioError(
            manifest, f"none of its {len(failed)} audio files could be read, e.g. {failed[0][1]}"
        )
    unreadable = {utt_id for utt_id, _ in failed}
    refs = {u.id: u.text for u in utterances if u.id not in unreadable}
    report = score(refs, {h.utt_id: h.text for h in hyps}, recognizer.normalizer)
    report = dataclasses.replace(report, unreadable=failed)
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_report(report, hyps, utterances, out_dir)
        info = {
            "model": recognizer.source,
            "manifest": str(Path(manifest).resolve()),
            "decode": dataclasses.asdict(decode),
            "precision": recognizer.precision,
        }
        (out_dir / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        from asr import report as html_report  # the report and its plots load only when written

        drawn = _draw_worst(recognizer, report, hyps, utterances, figures, torch_device)
        html_report.write_html(out_dir, drawn)
    return report


def _draw_worst(
    recognizer: Recognizer,
    report: ErrorReport,
    hyps: list[Hypothesis],
    utterances: list[Utterance],
    count: int,
    device: torch.device,
) -> dict[str, bytes]:
    """Posterior pictures of the ``count`` worst utterances; none without matplotlib (said once)."""
    from asr import plots
    from asr import report as html_report

    if count <= 0:
        return {}
    try:
        plots.pyplot()
    except MissingDependency as err:
        logger.warning("%s; report.html has no posterior pictures", err)
        return {}
    rows = {u.id: u for u in utterances}
    token_ids = {h.utt_id: h.token_ids for h in hyps}
    worst = sorted(
        report.per_utterance, key=lambda r: html_report.worst_rank(r.errors, r.ref_words, r.utt_id)
    )
    worst = worst[:count]
    hop = recognizer.config.features.hop_ms / 1000
    drawn = {}
    for row in worst:
        utt = rows[row.utt_id]
        try:
            waveform = load_audio(utt.audio_filepath, offset=utt.offset, duration=utt.duration or None)
        except AudioError:
            continue
        log_probs = recognizer.log_probs(waveform, device)
        words = word_times(
            log_probs, token_ids[row.utt_id], recognizer.vocab, recognizer.frame_seconds, utt.duration
        )
        log_mel = recognizer.extractor.log_mel(waveform).T.numpy()
        drawn[row.utt_id] = plots.posterior_png(
            log_mel,
            log_probs.numpy(),
            recognizer.vocab.tokens,
            words,
            hop,
            recognizer.frame_seconds,
            f"{row.utt_id}: {row.errors} errors",
        )
    return drawn


def write_report(
    report: ErrorReport, hyps: list[Hypothesis], utterances: list[Utterance], out_dir: Path
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    by_id = {h.utt_id: h for h in hyps}
    utts = {u.id: u for u in utterances}
    with (out_dir / "hyps.jsonl").open("w", encoding="utf-8") as handle:
        for row in report.per_utterance:
            hyp, utt = by_id[row.utt_id], utts[row.utt_id]
            record = DecodeRow(row.utt_id, row.ref, row.hyp, hyp.text, hyp.score, row.errors,
                               row.ref_words, str(utt.audio_filepath), utt.speaker or "", utt.offset,
                               utt.duration)  # fmt: skip
            handle.write(record.to_json() + "\n")
    with (out_dir / "errors.txt").open("w", encoding="utf-8") as handle:
        handle.write(f"{report}\n\n")
        for row in sorted(report.per_utterance, key=lambda r: (-r.errors, r.utt_id)):
            handle.write(f"{row.utt_id}\t{row.errors} errors / {row.ref_words} words\n")
            handle.write(f"  ref: {row.ref}\n  hyp: {row.hyp}\n  ali: {row.alignment}\n")
    (out_dir / "wer.json").write_text(json.dumps(report.summary(), indent=2) + "\n")

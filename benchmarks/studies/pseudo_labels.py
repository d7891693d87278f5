"""Pseudo-label quality: a teacher labels a *labelled* manifest as if it were not; per confidence
threshold, the share of rows (and hours) kept and the WER of the kept labels against the truth.

Usage: python -m benchmarks.studies.pseudo_labels MANIFEST.jsonl --teacher whisper-base [--teacher MODEL ...]
       [--smoke]
Run it on validation speakers, never on a test set you report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from asr import Normalizer, TextConfig, read_manifest, score
from benchmarks.harness import BUNDLED, run_or_smoke, smoke_corpus
from data_prep.pseudo_label import pseudo_label


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, nargs="?")
    parser.add_argument("--teacher", action="append", default=[])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.3, 0.4, 0.5, 0.6, 0.7])
    return run_or_smoke(parser, argv, run, smoke, "the bundled model labels 4 tone clips",
                        required=("manifest", "teacher"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifest, args.teacher = smoke_corpus(tmp, 4), [str(BUNDLED)]


def run(args: argparse.Namespace) -> None:
    truth = {u.id: u.text for u in read_manifest(args.manifest)}
    normalizer = Normalizer(TextConfig())
    print("| teacher | min confidence | rows kept | hours kept | WER of kept labels | labelling RTF |")
    print("|---|---|---|---|---|---|")
    for teacher in args.teacher:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            paths = pseudo_label(args.manifest, Path(tmp) / "rows.jsonl", teacher)
            seconds = time.perf_counter() - start
            rows = [json.loads(line) for line in paths["all"].read_text().splitlines()]
        audio = sum(r["duration"] for r in rows)
        for threshold in args.thresholds:
            kept = [r for r in rows if r["text"] and r["confidence"] >= threshold]
            report = score(
                {r["id"]: truth[r["id"]] for r in kept}, {r["id"]: r["text"] for r in kept}, normalizer
            )
            hours = sum(r["duration"] for r in kept) / 3600
            print(f"| {Path(teacher).name} | {threshold:.2f} | {len(kept)}/{len(rows)} | {hours:.2f} | "
                  f"{100 * report.wer:.1f}% | {seconds / audio:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()

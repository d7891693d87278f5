"""What every benchmark shares: timing, seeded samples of a manifest, and the ``--smoke`` data.

Timing takes the best (or mean) of repeated calls after an untimed warm-up call, so allocator
growth, oneDNN plans and LM loading never land in a figure; runs compared in one table go round
in turn (``interleaved``), so a load that comes and goes falls on all of them.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch

import asr
from data_prep.tones import TINY_MODEL, random_texts, write_tone_corpus

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "asr" / "assets" / "model.pt"
SAMPLE = ROOT / "asr" / "assets" / "sample.flac"
Recognise = Callable[[list[torch.Tensor]], list[str]]
K = TypeVar("K")


def seconds_per_call(fn: Callable[[], object], repeats: int, device: torch.device | str = "cpu") -> float:
    """Mean wall time of ``fn`` over ``repeats`` calls after one untimed warm-up call."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def interleaved(
    runs: dict[K, Recognise], waves: list[torch.Tensor], seconds: float, rounds: int
) -> tuple[dict[K, float], dict[K, list[str]]]:
    """Best real-time factor (processing / audio seconds) and hypotheses of each run, after a
    warm-up call each, over ``rounds`` rounds that go through every run in turn."""
    for run in runs.values():
        run(waves[:2])
    best = dict.fromkeys(runs, float("inf"))
    hyps = {}
    for _ in range(rounds):
        for key, run in runs.items():
            start = time.perf_counter()
            hyps[key] = run(waves)
            best[key] = min(best[key], (time.perf_counter() - start) / seconds)
    return best, hyps


def timed(run: Recognise, waves: list[torch.Tensor], seconds: float) -> tuple[list[str], float]:
    """One run's hypotheses and real-time factor: :func:`interleaved` with one run and one round."""
    best, hyps = interleaved({0: run}, waves, seconds, rounds=1)
    return hyps[0], best[0]


def seeded_sample(utts: list[asr.Utterance], n: int | None) -> list[asr.Utterance]:
    """``n`` rows drawn with seed 0 and sorted by id, the same for every system and script; all
    rows, as they are, when there are no more than ``n``."""
    if n and len(utts) > n:
        return sorted(random.Random(0).sample(utts, n), key=lambda u: u.id)
    return utts


def sample_waves(manifest: Path, n: int | None) -> tuple[list[asr.Utterance], list[torch.Tensor], float]:
    """A manifest's seeded sample (:func:`seeded_sample`), its waveforms and their total seconds."""
    utts = seeded_sample(asr.read_manifest(manifest), n)
    waves = [asr.load_utterance(u) for u in utts]
    return utts, waves, sum(w.numel() for w in waves) / asr.SAMPLE_RATE


def greedy_scores(
    model: asr.Recognizer, tests: dict[str, tuple[list[asr.Utterance], list[torch.Tensor]]]
) -> dict[str, dict[str, float | None]]:
    """Greedy WER and CER, in %, of ``model`` on each named set of (rows, waveforms); None for a
    phone model, whose greedy output is phones."""
    return scores(model, tests, asr.DecodeConfig(method="greedy"))


def scores(
    model: asr.Recognizer,
    tests: dict[str, tuple[list[asr.Utterance], list[torch.Tensor]]],
    decode: asr.DecodeConfig,
) -> dict[str, dict[str, float | None]]:
    """WER and CER, in %, of ``model`` decoded by ``decode`` on each named set of (rows, waveforms)."""
    wer: dict[str, float | None] = {}
    cer: dict[str, float | None] = {}
    decoder = asr.make_decoder(model.vocab, decode) if asr.writes_words(model.vocab, decode) else None
    for name, (utts, waves) in tests.items():
        if decoder is None:
            wer[name] = cer[name] = None
            continue
        hyps = [t.text for t in asr.transcribe(model, waves, decode=decode, decoder=decoder)]
        refs = {u.id: u.text for u in utts}
        report = asr.score(refs, {u.id: h for u, h in zip(utts, hyps, strict=True)}, model.normalizer)
        wer[name] = round(100 * report.wer, 2)
        cer[name] = round(100 * report.cer, 2)
    return {"wer": wer, "cer": cer}


@contextmanager
def smoke_folder() -> Iterator[Path]:
    """A temporary folder for a ``--smoke`` run's data, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="asr-smoke-") as name:
        yield Path(name)


def run_or_smoke(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    run: Callable[[argparse.Namespace], Any],
    smoke: Callable[[argparse.Namespace, Path], None],
    smoke_help: str,
    required: Sequence[str] = (),
) -> Any:
    """Parse ``argv``; with ``--smoke``, ``smoke(args, folder)`` fills the arguments with tiny data
    made in a temporary folder, else the ``required`` ones must be given; then ``run(args)``."""
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    args = parser.parse_args(argv)
    if not args.smoke:
        if missing := [name for name in required if not getattr(args, name)]:
            parser.error(f"{', '.join(missing)} must be given (or --smoke)")
        return run(args)
    with smoke_folder() as folder:
        smoke(args, folder)
        return run(args)


def smoke_corpus(folder: Path, count: int = 6, seed: int = 0, name: str = "train.jsonl") -> Path:
    """A manifest of ``count`` tone-language clips (data_prep.tones), a second or two each."""
    return write_tone_corpus(folder, random_texts(count, seed), name)


def smoke_model(folder: Path, manifest: Path, *overrides: str, steps: int = 3) -> Path:
    """A tiny model trained ``steps`` steps on ``manifest``: a checkpoint to run code paths, not to score."""
    cfg = asr.load_config(None, [*TINY_MODEL, f"data.train_manifest='{manifest}'",
                                 f"data.valid_manifest='{manifest}'", f"exp_dir='{folder}'",
                                 f"train.max_steps={steps}", *overrides])  # fmt: skip
    summary = asr.train(cfg, show_progress=False)
    return summary.last_checkpoint


def print_table(header: list[str], rows: list[list[object]]) -> None:
    """A Markdown table: floats to 4 significant digits, the rest as they are."""
    cells = [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in cells:
        print("| " + " | ".join(row) + " |")

"""Inference speed by batch size: ``asr.transcribe`` (greedy) on real clips with several
``decode.batch_seconds`` caps, interleaved over rounds, best round each; the first cap is the
baseline of the ratio column.

Why: on a CPU a batch of 600 padded seconds (last round's default) was 2.7x slower per audio
second than batches of 40 s, though batching shares weight reads — its activations no longer
fit in the caches. This table picks the CPU default of ``batch_seconds: 0`` (auto).

Usage: python -m benchmarks.speed.inference_batch M.jsonl [...] [--caps 600 120 60 40 20 0.01]
       [--max-utterances 40] [--rounds 3] [--model CKPT] [--smoke]   (0.01: one utterance per batch)
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

import asr
from benchmarks.harness import BUNDLED, interleaved, run_or_smoke, sample_waves, smoke_corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--caps", type=float, nargs="+", default=[600, 120, 60, 40, 20, 0.01])
    parser.add_argument("--max-utterances", type=int, default=40, help="a seeded sample per set")
    parser.add_argument("--rounds", type=int, default=3)
    return run_or_smoke(parser, argv, run, smoke, "6 tone clips, caps 60 and 0.01, one round",
                        required=("manifests",))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifests, args.caps, args.rounds = [smoke_corpus(tmp)], [60.0, 0.01], 1


def run(args: argparse.Namespace) -> None:
    recognizer = asr.load_model(args.model)
    greedy = dataclasses.replace(recognizer.config.decode, method="greedy")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {args.model}\n")
    header = f"{'test set':24} {'batch s':>8} {'RTF':>8} {'x baseline':>10}"
    print(header + "\n" + "-" * len(header))
    for manifest in args.manifests:
        utts, waves, seconds = sample_waves(manifest, args.max_utterances)
        runs = {
            cap: lambda w, cap=cap: [
                t.text for t in asr.transcribe(recognizer, w, decode=greedy, batch_seconds=cap)
            ]
            for cap in args.caps
        }
        best, texts = interleaved(runs, waves, seconds, args.rounds)
        differ = [cap for cap in args.caps if texts[cap] != texts[args.caps[0]]]
        name = f"{manifest.parent.name}/{manifest.stem} ({len(utts)}, {seconds:.0f} s)"
        for cap in args.caps:
            print(f"{name:24} {cap:8g} {best[cap]:8.4f} {best[args.caps[0]] / best[cap]:10.2f}")
        print(f"{'':24} transcripts differ from the baseline's at caps: {differ or 'none'}")


if __name__ == "__main__":
    main()

"""Start-up of ``asr transcribe``: wall time beyond what ``import torch`` alone costs, same run.

Runs, interleaved N times, ``python -c "import torch"`` and ``asr transcribe SAMPLE --model M``
for each model given (default: the bundled one), each in a fresh process, and prints the mean
and median of each model's time minus the ``import torch`` time of the same round.

Usage: python -m benchmarks.speed.startup [--model M ...] [--rounds 8] [--sample FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import BUNDLED, SAMPLE


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[BUNDLED])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--smoke", action="store_true", help="one round")
    args = parser.parse_args(argv)
    args.rounds = 1 if args.smoke else args.rounds
    beyond: dict[Path, list[float]] = {m: [] for m in args.model}
    for _ in range(args.rounds):
        torch_only = wall([sys.executable, "-c", "import torch"])
        for model in args.model:
            seconds = wall(
                [sys.executable, "-m", "asr", "transcribe", str(args.sample), "--model", str(model)]
            )
            beyond[model].append(seconds - torch_only)
    print("| model | rounds | mean s beyond import torch | median |\n|---|---|---|---|")
    for model, values in beyond.items():
        print(
            f"| {model} | {len(values)} | {statistics.mean(values):.2f} | {statistics.median(values):.2f} |"
        )


if __name__ == "__main__":
    main()

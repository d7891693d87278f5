"""Start-up of ``asr transcribe``: wall time beyond what ``import torch`` alone costs, same run.

Runs, interleaved N times, ``python -c "import torch"`` and ``asr transcribe SAMPLE --model M``
for each model given (default: the bundled one), each in a fresh process, and prints the mean
and median of each model's time minus the ``import torch`` time of the same round.

Usage: python benchmarks/startup.py [--model M ...] [--rounds 8] [--sample FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "asr" / "assets"


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[ASSETS / "model.pt"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sample", type=Path, default=ASSETS / "sample.flac")
    args = parser.parse_args()
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

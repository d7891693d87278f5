"""Peak memory and speed of transcribing one long file, as its length grows.

Each length runs in a fresh process (so peak RSS is that run's alone): a 16 kHz 16-bit wav of
that many minutes (the bundled sample repeated, with a little noise) is transcribed with the
default chunking (``decode.chunk_seconds`` 30 s, 2 s overlap), and with chunking off for
comparison where that fits. Ratios are against the first row, measured in the same run.

Usage: python -m benchmarks.speed.long_audio [--minutes 1 10 60] [--model CKPT] [--no-chunk-up-to 10]
       [--smoke]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from benchmarks.harness import BUNDLED, SAMPLE

CHILD = """
import dataclasses, json, resource, sys, time
import asr
model = asr.load_model(sys.argv[1])
decode = dataclasses.replace(model.config.decode, chunk_seconds=float(sys.argv[3]))
start = time.perf_counter()
(t,) = asr.transcribe(model, sys.argv[2], decode=decode)
print(json.dumps({"seconds": time.perf_counter() - start, "words": len(t.text.split()),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_long_file(path: Path, minutes: float, sample: Path) -> None:
    clip, rate = soundfile.read(sample, dtype="float32")
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, 1, "PCM_16") as out:
        written, total = 0, int(minutes * 60 * rate)
        while written < total:
            block = clip[: total - written] + 0.002 * rng.standard_normal(min(clip.size, total - written))
            out.write(block.astype(np.float32))
            written += block.size


def run(model: Path, audio: Path, chunk_seconds: float) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(audio), str(chunk_seconds)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--no-chunk-up-to", type=float, default=10, help="minutes; longer runs skip it")
    parser.add_argument("--smoke", action="store_true", help="one file of 40 s: chunked and whole")
    args = parser.parse_args(argv)
    if args.smoke:
        args.minutes = [40 / 60]
    header = f"{'audio':>8} {'chunking':>9} {'peak RSS':>9} {'ratio':>6} {'x real time':>12} {'words':>6}"
    print(header + "\n" + "-" * len(header))
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            audio = Path(tmp) / f"{minutes:g}min.wav"
            write_long_file(audio, minutes, args.sample)
            for chunk in (30.0, 0.0):
                if chunk == 0 and minutes > args.no_chunk_up_to:
                    continue
                r = run(args.model, audio, chunk)
                base = base or r["peak_mb"]
                speed = minutes * 60 / r["seconds"]
                print(f"{minutes:6.3g} m {'30 s' if chunk else 'off':>9} {r['peak_mb']:7.0f} MB "
                      f"{r['peak_mb'] / base:6.2f} {speed:12.0f} {r['words']:6d}")  # fmt: skip
            audio.unlink()


if __name__ == "__main__":
    main()

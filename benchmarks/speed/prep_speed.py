"""Data-prep speed: manifest rows per second from file headers, and synthetic voices'
speed in seconds of audio per second, printed as tables.

The folder preparer reads only headers; the baseline row decodes every file in full
(what a preparer that measured durations by loading audio would cost), so the ratio
shows what header reads save.

Usage: python -m benchmarks.speed.prep_speed [--files 10000] [--seconds 3] [--sentences 10] [--voices V ...]
       [--voices-only] [--smoke]        (taskset -c 0 python ... measures one core)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from asr import load_audio
from data_prep import folder, synthetic

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "printing in the only sense with which we are at present concerned",
    "he was not an ill disposed young man",
    "for although the chinese took impressions from wood blocks engraved in relief",
    "in being comparatively modern",
]


def make_folder(root: Path, files: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    for i in range(files):
        sub = root / f"spk{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        soundfile.write(sub / f"utt{i:05d}.wav", wave, 16000, subtype="PCM_16")
        (sub / f"utt{i:05d}.txt").write_text("some words here\n")


def manifest_speed(tmp: Path, files: int, seconds: float) -> None:
    make_folder(tmp / "corpus", files, seconds)
    start = time.perf_counter()
    folder.prepare(tmp / "corpus", tmp / "out")
    header_rate = files / (time.perf_counter() - start)
    sample = sorted((tmp / "corpus").rglob("*.wav"))[: min(files, 1000)]
    start = time.perf_counter()
    for path in sample:
        load_audio(path)
    decode_rate = len(sample) / (time.perf_counter() - start)
    print(f"manifest speed, {files} files of {seconds:g} s (16 kHz wav):\n")
    print(f"{'method':44} {'files/s':>9} {'ratio':>6}")
    print(f"{'decode every file (baseline, 1000 files)':44} {decode_rate:9.0f} {1.0:6.2f}")
    ratio = header_rate / decode_rate
    print(f"{'asr prep folder (headers + validation)':44} {header_rate:9.0f} {ratio:6.2f}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sentences", type=int, default=10)
    every = dict.fromkeys([*synthetic.DEFAULT_VOICES, *synthetic.NATURAL_VOICES, *synthetic.NON_COMMERCIAL])
    parser.add_argument("--voices", nargs="+", default=list(every), help="ENGINE:VOICE names to time")
    parser.add_argument("--voices-only", action="store_true", help="skip the manifest-speed table")
    parser.add_argument("--smoke", action="store_true", help="20 files; one sentence in flite's slt")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.seconds, args.sentences, args.voices = 20, 1.0, 1, ["flite:slt"]
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="asr-prep-bench-"))
    try:
        if not args.voices_only:
            manifest_speed(tmp, args.files, args.seconds)

        text = tmp / "sentences.txt"
        text.write_text("\n".join((SENTENCES * args.sentences)[: args.sentences]) + "\n")
        print(f"synthetic voices, {args.sentences} sentences each, one job:\n")
        print(f"{'voice':34} {'audio s':>8} {'wall s':>7} {'x real time':>12}")
        for voice in args.voices:
            try:
                synthetic.check_voice(voice)
            except synthetic.SynthesisError as err:
                print(f"{voice:34} skipped: {err}")
                continue
            out = tmp / voice.replace(":", "_").replace("+", "_").replace("/", "_")
            start = time.perf_counter()
            synthetic.prepare(text, out, voices=[voice], jobs=1)
            wall = time.perf_counter() - start
            audio = sum(soundfile.info(str(p)).duration for p in out.rglob("*.flac"))
            print(f"{voice:34} {audio:8.1f} {wall:7.1f} {audio / wall:12.1f}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

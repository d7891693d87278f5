"""Free Spoken Digit Dataset: isolated English digits, 8 kHz wav, 4+ speakers.

Files are named ``{digit}_{speaker}_{index}.wav``; the transcript is the digit's word.
With ``test_speakers``, those speakers form the test split (speaker-independent test),
and indices 0-4 of the others are ``valid``; without, the dataset's own convention
holds: indices 0-4 of every speaker are ``test``, 5-9 ``valid``, the rest ``train``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, probe_duration, write_splits
from data_prep.download import fetch

URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")


def download(target: Path) -> Path:
    """The repository snapshot (no published checksum); the wavs are under ``recordings/``."""
    return fetch(URL, target)


def split_of(speaker: str, index: int, test_speakers: Sequence[str]) -> str:
    if test_speakers:
        return "test" if speaker in test_speakers else "valid" if index < 5 else "train"
    return "test" if index < 5 else "valid" if index < 10 else "train"


def prepare(corpus_dir: Path, out_dir: Path, test_speakers: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``{train,valid,test}.jsonl`` for the wavs under ``corpus_dir`` (searched recursively)."""
    splits: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    wavs = sorted(Path(corpus_dir).rglob("*.wav"))
    if not wavs:
        raise FileNotFoundError(f"no .wav files under {corpus_dir}")
    speakers = set()
    for wav in wavs:
        match = _NAME.match(wav.stem)
        if match is None:
            continue
        digit, speaker, index = int(match[1]), match[2], int(match[3])
        speakers.add(speaker)
        utt = Utterance(wav.stem, wav.resolve(), probe_duration(wav), WORDS[digit], speaker=speaker)
        splits[split_of(speaker, index, test_speakers)].append(utt)
    missing = sorted(set(test_speakers) - speakers)
    if missing:
        raise ValueError(f"test speaker(s) {missing} not found; speakers here: {sorted(speakers)}")
    return write_splits(splits, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder with the FSDD wavs")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--test-speakers", nargs="+", default=[], help="hold these speakers out as test")
    parser.add_argument("--download", action="store_true", help="fetch the corpus into corpus_dir first")


def run(args: argparse.Namespace) -> dict[str, Path]:
    if args.download:
        download(args.corpus_dir)
    return prepare(args.corpus_dir, args.out_dir, args.test_speakers)

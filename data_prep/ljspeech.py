"""LJ Speech 1.1: one female US speaker reading non-fiction, 22 kHz wav (any rate works).

``metadata.csv`` is ``id|raw text|normalised text`` (numbers spelt out in the third
field, which is the one used). Ids are ``LJ{chapter}-{index}``; the chapters in
``test_chapters`` form the test split, and ``valid_fraction`` of the remaining
utterances (seeded) the valid split.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Sequence
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, chapter_of, probe_duration, write_splits
from data_prep.download import fetch

URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"


def download(target: Path) -> Path:
    return fetch(URL, target, SHA256) / "LJSpeech-1.1"


def read_metadata(corpus_dir: Path) -> list[Utterance]:
    metadata = next(iter(sorted(Path(corpus_dir).rglob("metadata.csv"))), None)
    if metadata is None:
        raise FileNotFoundError(f"no metadata.csv under {corpus_dir}")
    rows = []
    with metadata.open(encoding="utf-8", newline="") as handle:
        for number, fields in enumerate(csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if len(fields) < 2:
                raise ValueError(f"{metadata}:{number}: expected id|raw|normalised")
            wav = metadata.parent / "wavs" / f"{fields[0]}.wav"
            if not wav.exists():
                flac = wav.with_suffix(".flac")
                wav = flac if flac.exists() else wav  # a missing file is reported by validation
            duration = probe_duration(wav)
            rows.append(Utterance(fields[0], wav.resolve(), duration, fields[-1], speaker="LJ"))
    return rows


def prepare(
    corpus_dir: Path, out_dir: Path, test_chapters: Sequence[str] = ("LJ002",),
    valid_fraction: float = 0.05, seed: int = 0,
) -> dict[str, Path]:  # fmt: skip
    rows = read_metadata(corpus_dir)
    test = [u for u in rows if chapter_of(u) in test_chapters]
    rest = [u for u in rows if chapter_of(u) not in test_chapters]
    if not test:
        chapters = sorted({chapter_of(u) for u in rows})
        raise ValueError(f"no utterances in test chapters {list(test_chapters)}; chapters here: {chapters}")
    shuffled = rest[:]
    random.Random(seed).shuffle(shuffled)
    n_valid = max(1, round(valid_fraction * len(rest)))
    valid_ids = {u.id for u in shuffled[:n_valid]}
    splits = {
        "train": [u for u in rest if u.id not in valid_ids],
        "valid": [u for u in rest if u.id in valid_ids],
        "test": test,
    }
    return write_splits(splits, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder holding metadata.csv and wavs/")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--test-chapters", nargs="+", default=["LJ002"], help="chapters held out for test")
    parser.add_argument("--valid-fraction", type=float, default=0.05, help="share of the rest for valid")
    parser.add_argument("--download", action="store_true", help="fetch the corpus into corpus_dir first")


def run(args: argparse.Namespace) -> dict[str, Path]:
    corpus = download(args.corpus_dir) if args.download else args.corpus_dir
    return prepare(corpus, args.out_dir, args.test_chapters, args.valid_fraction)

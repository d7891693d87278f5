"""LibriSpeech: read audiobooks in speaker/chapter folders (FLAC as published; WAV, MP3 or Opus copies too).

Each subset folder (``train-clean-100``, ``dev-clean``, ...) becomes one manifest of
the same name. Transcripts come from ``{speaker}-{chapter}.trans.txt``; speakers are
recorded, so subsets can be re-split by speaker without leaks. Mini LibriSpeech
(``train-clean-5``, ``dev-clean-2``) has the same layout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.manifest import Utterance
from asr.validate import Limits
from data_prep.common import OUT_DIR_HELP, audio_file, probe_duration, write_splits
from data_prep.download import fetch

BASE_URL = "https://www.openslr.org/resources/12/"
MINI_URL = "https://www.openslr.org/resources/31/"
SHA256 = {  # published by torchaudio for openslr.org/12
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}
MINI_SUBSETS = ("train-clean-5", "dev-clean-2")


def download(target: Path, subset: str, base_url: str | None = None) -> Path:
    """Fetch one subset (full or mini LibriSpeech) into ``target``."""
    if subset not in SHA256 and subset not in MINI_SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: {sorted([*SHA256, *MINI_SUBSETS])}")
    base = base_url or (MINI_URL if subset in MINI_SUBSETS else BASE_URL)
    return fetch(f"{base}{subset}.tar.gz", target, SHA256.get(subset))


def read_subset(subset_dir: Path) -> list[Utterance]:
    rows = []
    for trans in sorted(subset_dir.rglob("*.trans.txt")):
        for number, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, text = line.partition(" ")
            if not text:
                raise ValueError(f"{trans}:{number}: expected 'ID TRANSCRIPT'")
            audio = audio_file(trans.parent, utt_id, ".flac")  # as published; MP3/Opus copies too
            duration = probe_duration(audio)
            rows.append(Utterance(utt_id, audio.resolve(), duration, text, speaker=utt_id.split("-")[0]))
    return rows


def prepare(corpus_dir: Path, out_dir: Path, max_duration: float = 40.0) -> dict[str, Path]:
    """One manifest per subset folder found under ``corpus_dir`` (e.g. ``LibriSpeech/dev-clean``)."""
    subsets = sorted({t.parent.parent.parent for t in Path(corpus_dir).rglob("*.trans.txt")})
    if not subsets:
        raise FileNotFoundError(f"no LibriSpeech *.trans.txt files under {corpus_dir}")
    splits = {d.name: read_subset(d) for d in subsets}
    return write_splits(splits, Path(out_dir), Limits(max_duration=max_duration))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder holding LibriSpeech/<subset>/...")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--download", nargs="+", metavar="SUBSET", default=[],
                        help="fetch these subsets first, e.g. dev-clean train-clean-5")  # fmt: skip
    parser.add_argument("--max-duration", type=float, default=40.0, help="longer utterances are left out (s)")


def run(args: argparse.Namespace) -> dict[str, Path]:
    for subset in args.download:
        download(args.corpus_dir, subset)
    return prepare(args.corpus_dir, args.out_dir, args.max_duration)

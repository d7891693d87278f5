"""Mozilla Common Voice: crowd-sourced read sentences, MP3 clips, many languages.

A language folder holds ``train.tsv``, ``dev.tsv``, ``test.tsv`` (columns include
``client_id``, ``path`` and ``sentence``) and ``clips/``. Common Voice needs a sign-up
to download, so there is no ``--download``. For a language other than English pass
``--alphabet`` with its characters (or ``any``).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from asr.manifest import Utterance
from asr.validate import ENGLISH_ALPHABET, Limits
from data_prep.common import OUT_DIR_HELP, probe_duration, write_splits

SPLITS = {"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv"}


def read_tsv(tsv: Path) -> list[Utterance]:
    rows = []
    with tsv.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"path", "sentence"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{tsv}: missing column(s) {sorted(missing)}")
        for row in reader:
            clip = tsv.parent / "clips" / row["path"]
            duration = probe_duration(clip)
            rows.append(Utterance(Path(row["path"]).stem, clip.resolve(), duration, row["sentence"] or "",
                                  speaker=row.get("client_id") or None))  # fmt: skip
    return rows


def prepare(corpus_dir: Path, out_dir: Path, alphabet: str | None = None) -> dict[str, Path]:
    corpus_dir = Path(corpus_dir)
    found = {name: corpus_dir / tsv for name, tsv in SPLITS.items() if (corpus_dir / tsv).exists()}
    if not found:
        raise FileNotFoundError(f"none of {sorted(SPLITS.values())} in {corpus_dir}")
    chars = ENGLISH_ALPHABET if alphabet is None else None if alphabet == "any" else frozenset(alphabet + " ")
    splits = {name: read_tsv(path) for name, path in found.items()}
    return write_splits(splits, Path(out_dir), Limits(alphabet=chars))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="a language folder: *.tsv and clips/")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--alphabet", help="allowed characters after normalisation, or 'any'")


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir, args.alphabet)

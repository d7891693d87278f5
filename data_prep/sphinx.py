"""CMU Sphinx-style test sets: a ``fileids`` list and a ``transcription`` file.

``transcription`` lines look like ``<s> he was not an ill disposed young man </s> (FILEID)``.
Debian's ``pocketsphinx-testdata`` ships one (5 LibriVox clips, an unseen male voice):
``asr prep sphinx /usr/share/pocketsphinx/test/data/librivox data/librivox``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, audio_file, probe_duration, write_splits

_LINE = re.compile(r"^(?:<s>\s*)?(?P<text>.*?)(?:\s*</s>)?\s*\((?P<id>[^()]+)\)\s*$")


def read_transcription(corpus_dir: Path) -> list[Utterance]:
    path = Path(corpus_dir) / "transcription"
    if not path.exists():
        raise FileNotFoundError(f"no transcription file in {corpus_dir}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise ValueError(f"{path}:{number}: expected '<s> TEXT </s> (FILEID)'")
        file_id = match["id"].strip()
        audio = audio_file(path.parent, file_id)
        duration = probe_duration(audio)
        rows.append(Utterance(Path(file_id).name, audio.resolve(), duration, match["text"]))
    return rows


def prepare(corpus_dir: Path, out_dir: Path) -> dict[str, Path]:
    return write_splits({"test": read_transcription(corpus_dir)}, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder with fileids, transcription and audio")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir)

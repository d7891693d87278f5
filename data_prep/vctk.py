"""VCTK: ``wav/{speaker}/{id}.{wav,flac,opus}`` read from ``txt/{speaker}/{id}.txt`` (one sentence
each). All rows go to ``all.jsonl`` with their speaker; ``asr manifest split --by speaker`` holds
speakers out."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, audio_files, probe_duration, write_splits


def prepare(corpus_dir: Path, out_dir: Path) -> dict[str, Path]:
    corpus_dir = Path(corpus_dir)
    rows = []
    for audio in audio_files(corpus_dir / "wav"):
        transcript = corpus_dir / "txt" / audio.parent.name / f"{audio.stem}.txt"
        if transcript.is_file():
            text = " ".join(transcript.read_text(encoding="utf-8").split())
            speaker = audio.parent.name
            rows.append(Utterance(audio.stem, audio.resolve(), probe_duration(audio), text, speaker=speaker))
    if not rows:
        raise FileNotFoundError(f"no audio under {corpus_dir}/wav with a transcript in {corpus_dir}/txt")
    return write_splits({"all": rows}, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="the VCTK folder (wav/ and txt/)")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir)

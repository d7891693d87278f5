"""Google Speech Commands: ``{word}/{speaker}_nohash_{n}.{wav,opus}``; the transcript is the folder's
word (``_background_noise_`` is not speech and is skipped). All rows go to ``all.jsonl``;
``asr manifest split --by speaker`` holds speakers out."""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, audio_files, probe_duration, write_splits


def prepare(corpus_dir: Path, out_dir: Path) -> dict[str, Path]:
    rows = []
    for audio in audio_files(Path(corpus_dir)):
        word = audio.parent.name
        if word.startswith("_") or "_nohash_" not in audio.stem:
            continue
        speaker = audio.stem.split("_nohash_")[0]
        rows.append(Utterance(f"{word}-{audio.stem}", audio.resolve(), probe_duration(audio),
                              word.replace("_", " "), speaker=speaker))  # fmt: skip
    if not rows:
        raise FileNotFoundError(f"no {{word}}/{{speaker}}_nohash_{{n}} clips under {corpus_dir}")
    return write_splits({"all": rows}, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="the Speech Commands folder (one folder per word)")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir)

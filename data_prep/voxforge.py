"""VoxForge submissions: ``{user-date}/wav/*`` with ``{user-date}/etc/PROMPTS`` (``id text`` a
line; the id may carry a path, ``user/mfc/a0001``). The speaker is the user part of the folder.
All rows go to ``all.jsonl``; ``asr manifest split --by speaker`` holds speakers out."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, audio_files, probe_duration, write_splits

logger = logging.getLogger(__name__)


def prepare(corpus_dir: Path, out_dir: Path) -> dict[str, Path]:
    rows, unprompted = [], []
    for submission in sorted(p for p in Path(corpus_dir).iterdir() if (p / "etc" / "PROMPTS").is_file()):
        prompts = {}
        lines = (submission / "etc" / "PROMPTS").read_text(encoding="utf-8", errors="replace").splitlines()
        for line in lines:
            key, _, text = line.strip().partition(" ")
            if text:
                prompts[key.rsplit("/", 1)[-1]] = " ".join(text.split())
        speaker = submission.name.split("-")[0]
        for audio in audio_files(submission / "wav"):
            if audio.stem not in prompts:
                unprompted.append(audio)
                continue
            rows.append(Utterance(f"{submission.name}-{audio.stem}", audio.resolve(), probe_duration(audio),
                                  prompts[audio.stem], speaker=speaker))  # fmt: skip
    if unprompted:
        logger.warning("%d clips have no line in their PROMPTS, e.g. %s", len(unprompted), unprompted[0])
    if not rows:
        raise FileNotFoundError(f"no VoxForge submissions (*/etc/PROMPTS with wav/) under {corpus_dir}")
    return write_splits({"all": rows}, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder of VoxForge submission folders")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir)

"""A plain folder: audio files, each with a same-named ``.txt`` or ``.lab`` transcript.

``talks/a.wav`` + ``talks/a.txt`` -> one row. Audio without a transcript is listed
and left out. With ``--valid-fraction``/``--test-fraction`` the rows are split by
sub-folder (``--by chapter`` style: each sub-folder stays on one side) or by file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.manifest import Utterance
from data_prep.common import OUT_DIR_HELP, audio_files, probe_duration, split_groups, write_splits

logger = logging.getLogger(__name__)


def read_folder(corpus_dir: Path) -> list[Utterance]:
    rows, untranscribed = [], []
    for audio in audio_files(Path(corpus_dir)):
        transcript = next(
            (p for p in (audio.with_suffix(".txt"), audio.with_suffix(".lab")) if p.exists()), None
        )
        if transcript is None:
            untranscribed.append(audio)
            continue
        try:
            text = " ".join(transcript.read_bytes().decode("utf-8").split())
        except UnicodeDecodeError as err:
            logger.warning("%s: transcript is not UTF-8 (byte at offset %d); %s left out",
                           transcript, err.start, audio.name)  # fmt: skip
            continue
        utt_id = str(audio.relative_to(corpus_dir).with_suffix("")).replace("/", "-")
        speaker = str(audio.parent.relative_to(corpus_dir)) or None
        rows.append(Utterance(utt_id, audio.resolve(), probe_duration(audio), text, speaker=speaker))
    if untranscribed:
        logger.warning("%d audio files have no .txt/.lab transcript and are left out, e.g. %s",
                       len(untranscribed), untranscribed[0])  # fmt: skip
    if not rows:
        raise FileNotFoundError(f"no audio file with a transcript under {corpus_dir}")
    return rows


def prepare(
    corpus_dir: Path, out_dir: Path, valid_fraction: float = 0.0, test_fraction: float = 0.0,
    by: str = "utterance", seed: int = 0,
) -> dict[str, Path]:  # fmt: skip
    rows = read_folder(Path(corpus_dir))
    if valid_fraction or test_fraction:
        splits = split_groups(rows, "speaker" if by == "folder" else by, valid_fraction, test_fraction, seed)
    else:
        splits = {"all": rows}
    return write_splits(splits, Path(out_dir))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder of audio files with same-named .txt/.lab")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--valid-fraction", type=float, default=0.0, help="share held out for valid")
    parser.add_argument("--test-fraction", type=float, default=0.0, help="share held out for test")
    parser.add_argument("--by", choices=["utterance", "folder"], default="utterance",
                        help="keep whole sub-folders on one side of the split")  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir, args.valid_fraction, args.test_fraction, args.by)

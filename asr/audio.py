"""Audio loading: any file soundfile reads -> mono float32 waveform at 16 kHz.

soundfile (libsndfile) reads wav, flac, ogg/vorbis, opus and mp3 without FFmpeg;
torchaudio's polyphase resampler converts the rate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF

from asr._types import PathLike

if TYPE_CHECKING:
    from asr.manifest import Utterance

SAMPLE_RATE = 16000  # Hz; every waveform inside asr has this rate


class AudioError(RuntimeError):
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


def audio_duration(path: PathLike) -> float:
    """Duration in seconds, read from the header only."""
    with _open(Path(path)) as handle:
        if handle.samplerate <= 0:
            raise AudioError(path, "header gives no sample rate")
        return handle.frames / handle.samplerate


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
        start = int(round(offset * rate))
        if start:
            handle.seek(min(start, handle.frames))
        frames = -1 if duration is None else int(round(duration * rate))
        data = handle.read(frames, dtype="float32", always_2d=True)
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
    """Resample ``[..., num_samples]`` from ``rate`` to ``SAMPLE_RATE`` (no-op when equal)."""
    if rate == SAMPLE_RATE:
        return waveform
    return AF.resample(waveform, orig_freq=rate, new_freq=SAMPLE_RATE)

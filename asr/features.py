"""Features: waveform ``[num_samples]`` -> normalised log-mel ``[num_frames, n_mels]``.

80-bin log-mel with a 25 ms Hann window every 10 ms (torchaudio's MelSpectrogram,
Slaney mel scale and filter norm, as librosa's default), then mean/variance
normalisation per utterance or with training-set statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import torch
import torchaudio

from asr.audio import SAMPLE_RATE
from asr.config import FeatureConfig

T = TypeVar("T", int, torch.Tensor)
LOG_FLOOR = 1e-6  # added to mel power before the log, so digital silence stays finite
STD_FLOOR = 1e-5  # keeps constant bins from dividing by ~0


def window_samples(cfg: FeatureConfig) -> int:
    return int(round(cfg.win_ms * SAMPLE_RATE / 1000))


def hop_samples(cfg: FeatureConfig) -> int:
    return int(round(cfg.hop_ms * SAMPLE_RATE / 1000))


def num_frames(num_samples: T, cfg: FeatureConfig) -> T:
    """Frames that :class:`FeatureExtractor` makes from ``num_samples`` (centred frames); an
    int, or an integer tensor of per-row counts.

    >>> num_frames(16000, FeatureConfig())
    101
    """
    return num_samples // hop_samples(cfg) + 1


class FeatureExtractor(torch.nn.Module):
    """Log-mel plus normalisation; its statistics travel inside the checkpoint."""

    def __init__(
        self,
        cfg: FeatureConfig,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        n_fft = window_samples(cfg)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE,
            n_fft=n_fft,
            win_length=n_fft,
            hop_length=hop_samples(cfg),
            n_mels=cfg.n_mels,
            power=2.0,
            center=True,
            pad_mode="constant",
            norm="slaney",
            mel_scale="slaney",
        )
        if cfg.normalize == "global" and (mean is None or std is None):
            raise ValueError("features.normalize='global' needs training-set mean and std")
        self.mean: torch.Tensor | None
        self.std: torch.Tensor | None
        self.register_buffer("mean", mean.float() if mean is not None else None)
        self.register_buffer("std", std.float() if std is not None else None)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[num_samples]`` -> ``[num_frames, n_mels]``, before normalisation."""
        power = self.mel(waveform.float())  # [n_mels, num_frames]
        return torch.log(power + LOG_FLOOR).transpose(0, 1).contiguous()

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        if self.cfg.normalize == "utterance":
            mean = features.mean(dim=0, keepdim=True)
            std = features.std(dim=0, keepdim=True, unbiased=False)
            return (features - mean) / (std + STD_FLOOR)
        if self.cfg.normalize == "global":
            assert self.mean is not None and self.std is not None  # checked in __init__
            return (features - self.mean) / self.std
        return features

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[num_samples]`` 16 kHz -> ``[num_frames, n_mels]`` normalised log-mel."""
        return self.normalize(self.log_mel(waveform))

    def batch(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Zero-padded ``[B, num_samples]`` and each row's frame count (:func:`num_frames`, on the
        waveforms' device) -> ``[B, num_frames, n_mels]``, zero past each row's frames.
        Each row is what :meth:`forward` gives for it alone (the padding is the zeros the centred
        STFT pads with anyway). For feature extraction on a GPU: no host-device sync."""
        power = self.mel(waveforms.float())  # [B, n_mels, num_samples // hop + 1]
        feats = torch.log(power + LOG_FLOOR).transpose(1, 2)
        mask = (torch.arange(feats.shape[1], device=feats.device)[None, :] < frames[:, None])[..., None]
        if self.cfg.normalize == "utterance":
            count = frames[:, None, None].to(feats.dtype)
            mean = (feats * mask).sum(1, keepdim=True) / count
            std = (((feats - mean) * mask).pow(2).sum(1, keepdim=True) / count).sqrt()
            feats = (feats - mean) / (std + STD_FLOOR)
        elif self.cfg.normalize == "global":
            assert self.mean is not None and self.std is not None
            feats = (feats - self.mean) / self.std
        return feats * mask


def global_stats(features: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin mean and std over all frames of ``[num_frames, n_mels]`` tensors (float64 sums)."""
    total = squares = None
    count = 0
    for feats in features:
        f = feats.double()
        total = f.sum(0) if total is None else total + f.sum(0)
        squares = (f * f).sum(0) if squares is None else squares + (f * f).sum(0)
        count += f.shape[0]
    if total is None or squares is None or count == 0:
        raise ValueError("no frames to compute global statistics from")
    mean = total / count
    var = (squares / count - mean * mean).clamp_min(0.0)
    return mean.float(), (var.sqrt() + STD_FLOOR).float()

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


def onset_cut(waveform: torch.Tensor, cfg: FeatureConfig) -> int:
    """Samples to cut from the start of ``waveform`` (negative: zeros to put in front) so that
    its first sample within ``cfg.onset_db`` dB of the peak lands ``cfg.onset_margin_ms`` in;
    0 when ``onset_db`` is 0 or the clip is silent. Silence added in front moves the onset by
    as much, so the cut clip is the same sample for sample. With ``cfg.onset_align_ms`` the
    lead kept is a whole number of that, at most the margin, and never made up with zeros.

    >>> onset_cut(torch.tensor([0.0] * 3000 + [0.5, 1.0]), FeatureConfig(onset_db=40, onset_margin_ms=100))
    1400
    >>> onset_cut(torch.tensor([0.0] * 1000 + [1.0]), FeatureConfig(onset_db=40, onset_align_ms=40))
    360
    """
    if cfg.onset_db <= 0 or waveform.numel() == 0:
        return 0
    level = waveform.abs()
    peak = level.max()
    if not peak > 0:  # silent (or NaN): nothing to find
        return 0
    first = int(torch.nonzero(level >= peak * 10 ** (-cfg.onset_db / 20))[0])
    margin = int(round(cfg.onset_margin_ms * SAMPLE_RATE / 1000))
    if cfg.onset_align_ms > 0:  # the lead kept: min(whole frames of it, the margin in whole frames)
        frame = int(round(cfg.onset_align_ms * SAMPLE_RATE / 1000))
        margin -= margin % frame
        if first < margin:
            return first % frame
    return first - margin


def from_onset(waveform: torch.Tensor, cfg: FeatureConfig) -> tuple[torch.Tensor, float]:
    """``waveform`` from :func:`onset_cut`'s point on, and where that point lies in the
    original audio (seconds; negative when zeros were put in front): word times add it back."""
    cut = onset_cut(waveform, cfg)
    if cut > 0:
        waveform = waveform[cut:]
    elif cut < 0:
        waveform = torch.cat([waveform.new_zeros(-cut), waveform])
    return waveform, cut / SAMPLE_RATE


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

    def log_mel(self, waveform: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        """``[num_samples]`` -> ``[num_frames, n_mels]``, before normalisation; ``warp``: the
        spectrum's frequency axis warped first (:func:`warp_frequencies`, for VTLP)."""
        waveform = waveform.float()
        power = self.mel(waveform) if warp == 1.0 else self._warped(waveform, torch.tensor([warp]))
        return torch.log(power + LOG_FLOOR).transpose(0, 1).contiguous()  # power: [n_mels, num_frames]

    def _warped(self, waveforms: torch.Tensor, warps: torch.Tensor) -> torch.Tensor:
        """Mel power as ``self.mel`` gives it, with the linear spectrum warped in between."""
        spectrum = self.mel.spectrogram(waveforms)  # [(B,) n_freq, frames]
        return self.mel.mel_scale(warp_frequencies(spectrum, warps.to(spectrum.device)))

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        if self.cfg.normalize == "utterance":
            mean = features.mean(dim=0, keepdim=True)
            std = features.std(dim=0, keepdim=True, unbiased=False)
            return (features - mean) / (std + STD_FLOOR)
        if self.cfg.normalize == "global":
            assert self.mean is not None and self.std is not None  # checked in __init__
            return (features - self.mean) / self.std
        return features

    def forward(self, waveform: torch.Tensor, warp: float = 1.0) -> torch.Tensor:
        """``[num_samples]`` 16 kHz -> ``[num_frames, n_mels]`` normalised log-mel."""
        return self.normalize(self.log_mel(waveform, warp))

    def batch(
        self, waveforms: torch.Tensor, frames: torch.Tensor, warps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Zero-padded ``[B, num_samples]`` and each row's frame count (:func:`num_frames`, on the
        waveforms' device) -> ``[B, num_frames, n_mels]``, zero past each row's frames.
        Each row is what :meth:`forward` gives for it alone (the padding is the zeros the centred
        STFT pads with anyway). For feature extraction on a GPU: no host-device sync.
        ``warps``: ``[B]`` VTLP factors (1.0: none)."""
        waveforms = waveforms.float()
        power = self.mel(waveforms) if warps is None else self._warped(waveforms, warps)  # [B, n_mels, T]
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


VTLP_BOUNDARY_HZ = 4800.0  # the warp is linear up to about here, then meets the Nyquist frequency


def warp_frequencies(spectrum: torch.Tensor, warps: torch.Tensor) -> torch.Tensor:
    """Power ``[(B,) n_freq, frames]`` with its frequency axis warped by ``warps`` (one factor, or
    ``[B]``): what was at f moves to ``warp * f`` below the boundary, and the rest is stretched
    linearly so that the Nyquist frequency stays put (Jaitly & Hinton's piecewise-linear VTLP).
    Each output bin linearly interpolates the input bins around its source frequency."""
    n_freq = spectrum.shape[-2]
    nyquist = SAMPLE_RATE / 2
    alpha = warps.reshape(-1, 1).to(spectrum.dtype)  # [B or 1, 1]
    f_out = torch.linspace(0.0, nyquist, n_freq, device=spectrum.device, dtype=spectrum.dtype)[None]
    knee = VTLP_BOUNDARY_HZ * torch.clamp(alpha, max=1.0) / alpha  # source frequency of the knee
    above = knee + (f_out - alpha * knee) * (nyquist - knee) / (nyquist - alpha * knee)
    f_in = torch.where(f_out <= alpha * knee, f_out / alpha, above)
    position = (f_in / nyquist * (n_freq - 1)).clamp(0, n_freq - 1)  # [B or 1, n_freq]
    low = position.floor().long().clamp(max=n_freq - 2)
    frac = (position - low)[..., None]
    batched = spectrum if spectrum.dim() == 3 else spectrum[None]
    index = low[..., None].expand(batched.shape[0], n_freq, batched.shape[-1])
    out = batched.gather(-2, index) * (1 - frac) + batched.gather(-2, index + 1) * frac
    return out if spectrum.dim() == 3 else out[0]


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

"""Augmentation for training: waveform -> speed-perturbed, noisy waveform; features ->
SpecAugment-masked features.

Every random choice comes from a generator seeded by (seed, epoch, utterance index), so an
utterance is augmented the same way whatever worker loads it, and a resumed run sees
exactly the augmentations the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from asr.audio import SAMPLE_RATE, load_audio, resample
from asr.config import AugmentConfig
from asr.manifest import Utterance

SPEEDS = (0.9, 1.0, 1.1)


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def _randint(gen: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (), generator=gen))


def speed_perturb(waveform: torch.Tensor, speed: float) -> torch.Tensor:
    """Play ``speed`` times faster (tempo and pitch, as Kaldi's speed perturbation)."""
    if speed == 1.0:
        return waveform
    # Treat the samples as recorded at rate*speed, then bring them back to SAMPLE_RATE.
    return resample(waveform, int(round(SAMPLE_RATE * speed)))


def add_noise(
    waveform: torch.Tensor, noise: torch.Tensor, snr_db: float, gen: torch.Generator
) -> torch.Tensor:
    """Mix ``noise`` (looped or cut at a random offset to the waveform's length) at ``snr_db``."""
    n = waveform.numel()
    if noise.numel() < n:
        noise = noise.repeat(n // noise.numel() + 1)
    start = _randint(gen, 0, noise.numel() - n)
    noise = noise[start : start + n]
    signal_power = waveform.pow(2).mean().clamp_min(1e-10)
    noise_power = noise.pow(2).mean().clamp_min(1e-10)
    scale = torch.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return waveform + scale * noise


def spec_augment(features: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Zero random bands of mel bins and runs of frames of ``[T, F]`` normalised features
    (zero is the normalised mean)."""
    out = features.clone()
    frames, bins = out.shape
    for _ in range(cfg.freq_masks):
        width = _randint(gen, 0, min(cfg.freq_mask_width, bins))
        start = _randint(gen, 0, bins - width)
        out[:, start : start + width] = 0.0
    max_time = min(cfg.time_mask_width, int(0.2 * frames))
    for _ in range(cfg.time_masks):
        width = _randint(gen, 0, max_time)
        start = _randint(gen, 0, frames - width)
        out[start : start + width, :] = 0.0
    return out


class Augmenter:
    """Applies :class:`AugmentConfig` to one training utterance at a time."""

    def __init__(self, cfg: AugmentConfig, noises: Sequence[Utterance] = ()) -> None:
        self.cfg = cfg
        self.noises = list(noises)

    @property
    def active(self) -> bool:
        c = self.cfg
        return c.speed_perturb or bool(self.noises) or c.freq_masks > 0 or c.time_masks > 0

    def waveform(self, waveform: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.cfg.speed_perturb:
            waveform = speed_perturb(waveform, SPEEDS[_randint(gen, 0, len(SPEEDS) - 1)])
        if self.noises and _uniform(gen, 0.0, 1.0) < self.cfg.noise_prob:
            noise_utt = self.noises[_randint(gen, 0, len(self.noises) - 1)]
            span = noise_utt.duration if noise_utt.offset > 0 else None
            noise = load_audio(noise_utt.audio_filepath, noise_utt.offset, span)
            waveform = add_noise(
                waveform, noise, _uniform(gen, self.cfg.snr_min_db, self.cfg.snr_max_db), gen
            )
        return waveform

    def spec_seed(self, gen: torch.Generator) -> int:
        """Drawn after the waveform's choices: SpecAugment's own seed, so the masks are the same
        whether the loader or the training device computes the features."""
        return _randint(gen, 0, 2**62)

    def features(self, features: torch.Tensor, spec_seed: int) -> torch.Tensor:
        if not (self.cfg.freq_masks or self.cfg.time_masks):
            return features
        return spec_augment(features, self.cfg, torch.Generator().manual_seed(spec_seed))

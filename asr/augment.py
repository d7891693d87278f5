"""Augmentation for training: waveform -> speed-perturbed, reverberant, noisy, telephone-band
waveform; features -> SpecAugment-masked features.

Every random choice comes from a generator seeded by (seed, epoch, utterance index), so an
utterance is augmented the same way whatever worker loads it, and a resumed run sees
exactly the augmentations the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchaudio.functional as AF

from asr.audio import SAMPLE_RATE, load_utterance, resample
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


def room_impulse_response(rt60: float, gen: torch.Generator) -> torch.Tensor:
    """A simulated room's impulse response (image source method, pyroomacoustics): a shoebox room
    of drawn size with walls absorbing for ``rt60`` seconds, source and microphone at drawn places."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise ImportError("augment.reverb_prob needs pyroomacoustics: pip install 'asr[augment]'") from None
    dims = [_uniform(gen, 3.0, 10.0), _uniform(gen, 3.0, 8.0), _uniform(gen, 2.4, 4.0)]
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 30))
    room.add_source([d * _uniform(gen, 0.15, 0.85) for d in dims])
    room.add_microphone([d * _uniform(gen, 0.15, 0.85) for d in dims])
    room.compute_rir()
    return torch.from_numpy(room.rir[0][0].astype("float32"))


def reverberate(waveform: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve with ``rir`` aligned on its direct path (no added delay), at the input's level."""
    rir = rir[int(rir.abs().argmax()) :]
    wet = AF.fftconvolve(waveform, rir)[: waveform.numel()]
    return wet * (waveform.abs().max() / wet.abs().max().clamp_min(1e-8))


def telephone(waveform: torch.Tensor) -> torch.Tensor:
    """A narrow-band phone line: 300-3400 Hz, 8 kHz sampling, 8-bit mu-law (G.711-like) coding."""
    band = AF.lowpass_biquad(AF.highpass_biquad(waveform, SAMPLE_RATE, 300.0), SAMPLE_RATE, 3400.0)
    narrow = AF.resample(band, SAMPLE_RATE, 8000)
    peak = narrow.abs().max().clamp_min(1e-8)
    coded = AF.mu_law_decoding(AF.mu_law_encoding(narrow / peak, 256), 256) * peak
    return AF.resample(coded, 8000, SAMPLE_RATE)[: waveform.numel()]


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
        amounts = (c.reverb_prob, c.telephone_prob, c.vtlp_prob, c.shift_ms, c.freq_masks, c.time_masks)
        return c.speed_perturb or bool(self.noises) or any(a > 0 for a in amounts)

    def waveform(self, waveform: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Speed, room, noise, the channel, then the start; a step that is off draws nothing, so turning a
        new one on leaves the draws of the others as they were for earlier configs."""
        if self.cfg.speed_perturb:
            waveform = speed_perturb(waveform, SPEEDS[_randint(gen, 0, len(SPEEDS) - 1)])
        if self.cfg.reverb_prob > 0 and _uniform(gen, 0.0, 1.0) < self.cfg.reverb_prob:
            rt60 = _uniform(gen, self.cfg.rt60_min, self.cfg.rt60_max)
            waveform = reverberate(waveform, room_impulse_response(rt60, gen))
        if self.noises and _uniform(gen, 0.0, 1.0) < self.cfg.noise_prob:
            noise_utt = self.noises[_randint(gen, 0, len(self.noises) - 1)]
            noise = load_utterance(noise_utt)
            waveform = add_noise(
                waveform, noise, _uniform(gen, self.cfg.snr_min_db, self.cfg.snr_max_db), gen
            )
        if self.cfg.telephone_prob > 0 and _uniform(gen, 0.0, 1.0) < self.cfg.telephone_prob:
            waveform = telephone(waveform)
        if self.cfg.shift_ms > 0:
            samples = _randint(gen, 0, int(self.cfg.shift_ms * SAMPLE_RATE / 1000))
            waveform = torch.cat([waveform.new_zeros(samples), waveform])
        return waveform

    def spec_seed(self, gen: torch.Generator) -> int:
        """Drawn after the waveform's choices: SpecAugment's own seed, so the masks are the same
        whether the loader or the training device computes the features."""
        return _randint(gen, 0, 2**62)

    def warp(self, spec_seed: int) -> float:
        """The utterance's VTLP factor (1.0: not warped), drawn from its SpecAugment seed, so the
        loader and the training device warp alike and no other draw moves."""
        if self.cfg.vtlp_prob <= 0 or spec_seed < 0:
            return 1.0
        gen = torch.Generator().manual_seed(spec_seed + 1)
        if _uniform(gen, 0.0, 1.0) >= self.cfg.vtlp_prob:
            return 1.0
        return _uniform(gen, self.cfg.vtlp_min, self.cfg.vtlp_max)

    def features(self, features: torch.Tensor, spec_seed: int) -> torch.Tensor:
        if not (self.cfg.freq_masks or self.cfg.time_masks):
            return features
        return spec_augment(features, self.cfg, torch.Generator().manual_seed(spec_seed))

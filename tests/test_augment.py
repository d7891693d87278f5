"""Augmentation: each transform does what it says, and draws only from its (seed, epoch, index) generator."""

import numpy as np
import pytest
import soundfile
import torch

from asr.augment import add_noise, item_generator, spec_augment, speed_perturb
from asr.config import AugmentConfig, FeatureConfig
from asr.data import AsrDataset
from asr.features import FeatureExtractor
from asr.manifest import read_manifest


def test_speed_perturb_changes_length_and_pitch():
    t = torch.arange(16000) / 16000
    wave = torch.sin(2 * torch.pi * 400 * t)
    fast = speed_perturb(wave, 1.1)
    assert abs(fast.numel() - 16000 / 1.1) < 2
    peak_hz = np.argmax(np.abs(np.fft.rfft(fast.numpy()))) * 16000 / fast.numel()
    assert abs(peak_hz - 440) < 3
    assert speed_perturb(wave, 1.0) is wave


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_requested_snr(snr_db):
    gen = torch.Generator().manual_seed(0)
    signal = torch.sin(torch.arange(8000) / 5.0)
    noise = torch.randn(3000, generator=gen)  # shorter than the signal: looped
    mixed = add_noise(signal, noise, snr_db, gen)
    measured = 10 * torch.log10(signal.pow(2).mean() / (mixed - signal).pow(2).mean())
    assert float(measured) == pytest.approx(snr_db, abs=0.5)


def test_spec_augment_masks_bands_and_runs():
    feats = torch.ones(200, 80)
    cfg = AugmentConfig(freq_masks=2, freq_mask_width=10, time_masks=2, time_mask_width=30)
    out = spec_augment(feats, cfg, torch.Generator().manual_seed(3))
    zero_bins = (out == 0).all(dim=0).sum()
    zero_frames = (out == 0).all(dim=1).sum()
    assert 0 < zero_bins <= 20 and 0 < zero_frames <= 2 * min(30, 40)
    assert feats.eq(1).all()  # the input is not modified


def test_dataset_augmentation_is_a_function_of_seed_epoch_and_index(tone_manifest):
    from asr.augment import Augmenter

    utts = read_manifest(tone_manifest)
    cfg = AugmentConfig(speed_perturb=True, freq_masks=2, time_masks=2, time_mask_width=10)
    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    a = AsrDataset(utts, extractor, augmenter=Augmenter(cfg), seed=1)
    b = AsrDataset(utts, extractor, augmenter=Augmenter(cfg), seed=1)
    torch.manual_seed(123)  # global RNG state must not matter
    first = a[3].features
    torch.manual_seed(456)
    assert torch.equal(first, b[3].features)
    b.epoch = 1
    changed = [not torch.equal(a[i].features, b[i].features) for i in range(len(utts))]
    assert any(changed)
    plain = AsrDataset(utts, extractor)
    assert not torch.equal(plain[3].features, first)
    assert item_generator(1, 0, 3).initial_seed() != item_generator(1, 1, 3).initial_seed()


def test_noise_manifest_in_training_config(tone_manifest, tmp_path):
    from asr.train import train
    from conftest import tiny_config

    noise = tmp_path / "noise.wav"
    soundfile.write(noise, np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    (tmp_path / "noise.jsonl").write_text(f'{{"audio_filepath": "{noise}", "duration": 1.0, "text": ""}}\n')
    noise_manifest = tmp_path / "noise.jsonl"
    augment = [f"augment.noise_manifest='{noise_manifest}'", "augment.noise_prob=1.0",
               "augment.speed_perturb=True", "augment.freq_masks=1", "augment.time_masks=1"]  # fmt: skip
    cfg = tiny_config(tone_manifest, tmp_path / "exp", "train.max_steps=3", *augment)
    assert train(cfg, show_progress=False).steps == 3


def _sweep(seconds=1.0):
    t = torch.arange(int(16000 * seconds)) / 16000
    return 0.5 * torch.sin(2 * torch.pi * (200 + 3000 * t) * t)  # 200 Hz rising past 6 kHz


def test_reverberation_keeps_length_and_level_and_smears_in_time():
    pytest.importorskip("pyroomacoustics")
    from asr.augment import reverberate, room_impulse_response

    rir = room_impulse_response(0.6, item_generator(0, 0, 0))
    assert torch.equal(rir, room_impulse_response(0.6, item_generator(0, 0, 0)))  # seeded
    click = torch.zeros(16000)
    click[1000] = 1.0
    wet = reverberate(click, rir)
    assert wet.shape == click.shape and float(wet.abs().max()) == pytest.approx(1.0)
    assert int(wet.abs().argmax()) == 1000  # the direct path adds no delay
    tail = wet[1000 + 800 :].pow(2).sum() / wet.pow(2).sum()  # energy after 50 ms
    assert 0.01 < float(tail) < 0.99
    longer = reverberate(click, room_impulse_response(0.8, item_generator(0, 0, 0)))
    shorter = reverberate(click, room_impulse_response(0.2, item_generator(0, 0, 0)))
    assert longer[1800:].pow(2).sum() > shorter[1800:].pow(2).sum()


def test_telephone_channel_removes_what_a_phone_line_cannot_carry():
    from asr.augment import telephone

    wave = _sweep()
    narrow = telephone(wave)
    assert narrow.shape == wave.shape
    spectrum = np.abs(np.fft.rfft(narrow.numpy())) ** 2
    hz = np.fft.rfftfreq(narrow.numel(), 1 / 16000)
    inside = spectrum[(hz > 500) & (hz < 3000)].mean()
    assert spectrum[hz > 4500].mean() < 1e-3 * inside  # nothing above the 8 kHz line's band
    assert spectrum[hz < 100].mean() < 0.1 * inside
    assert 0.2 < float(narrow.abs().max()) < 1.0


def test_new_augmentations_are_seeded_and_leave_old_draws_alone(tone_manifest):
    from asr.augment import Augmenter

    wave = _sweep(0.5)
    old = AugmentConfig(speed_perturb=True)
    plain = Augmenter(old).waveform(wave, item_generator(1, 0, 2))
    # a config written before reverb/telephone existed draws the same speeds as before
    off = AugmentConfig(speed_perturb=True, reverb_prob=0.0, telephone_prob=0.0)
    assert torch.equal(plain, Augmenter(off).waveform(wave, item_generator(1, 0, 2)))
    on = AugmentConfig(speed_perturb=True, telephone_prob=1.0)
    first = Augmenter(on).waveform(wave, item_generator(1, 0, 2))
    assert torch.equal(first, Augmenter(on).waveform(wave, item_generator(1, 0, 2)))
    assert first.numel() == plain.numel() and not torch.equal(first, plain)


def _tone_power(freq: float, extractor: FeatureExtractor) -> torch.Tensor:
    t = torch.arange(16000) / 16000
    return extractor.mel.spectrogram(torch.sin(2 * torch.pi * freq * t))  # [n_freq, frames]


@pytest.mark.parametrize("warp", [0.9, 1.1])
def test_vtlp_moves_a_formant_by_its_factor_below_the_knee_and_keeps_nyquist(warp):
    from asr.features import warp_frequencies

    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    power = _tone_power(1000.0, extractor)
    hz_per_bin = 8000 / (power.shape[0] - 1)
    peak = int(warp_frequencies(power, torch.tensor([warp])).mean(1).argmax())
    assert abs(peak * hz_per_bin - 1000 * warp) <= hz_per_bin
    assert torch.allclose(warp_frequencies(power, torch.tensor([1.0])), power, rtol=1e-4, atol=1e-6)
    high = warp_frequencies(_tone_power(7800.0, extractor), torch.tensor([warp])).mean(1)
    assert 7000 < int(high.argmax()) * hz_per_bin < 8000  # the top is stretched, not folded or lost


def test_vtlp_is_seeded_and_the_device_path_warps_as_the_loader_does(tone_manifest):
    from asr.augment import Augmenter
    from asr.data import collate

    cfg = AugmentConfig(vtlp_prob=1.0, vtlp_min=0.85, vtlp_max=1.15)
    augmenter = Augmenter(cfg)
    warps = [augmenter.warp(seed) for seed in range(50)]
    assert warps == [augmenter.warp(seed) for seed in range(50)]
    assert all(0.85 <= w <= 1.15 for w in warps) and len(set(warps)) == 50
    assert Augmenter(AugmentConfig(vtlp_prob=0.0)).warp(7) == 1.0
    half = Augmenter(AugmentConfig(vtlp_prob=0.5))
    assert 10 < sum(half.warp(seed) != 1.0 for seed in range(50)) < 40

    utts = read_manifest(tone_manifest)[:3]
    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    loader = AsrDataset(utts, extractor, augmenter=augmenter, seed=3)
    device = AsrDataset(utts, extractor, augmenter=augmenter, seed=3, waveforms=True)
    plain = AsrDataset(utts, extractor)
    loader_side = collate([loader[i] for i in range(3)])
    made = collate([device[i] for i in range(3)]).with_features(extractor, augmenter)
    assert torch.allclose(made.features, loader_side.features, atol=1e-4)
    assert not torch.allclose(loader_side.features, collate([plain[i] for i in range(3)]).features, atol=1e-2)


def test_vtlp_settings_out_of_range_are_refused():
    from asr.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="vtlp"):
        load_config(None, ["augment.vtlp_min=1.2", "augment.vtlp_max=0.9"])


def test_a_shifted_start_puts_up_to_shift_ms_of_silence_in_front_and_moves_no_other_draw():
    from asr.augment import Augmenter

    wave = _sweep(0.5)
    cfg = AugmentConfig(speed_perturb=True, shift_ms=40.0)
    plain = Augmenter(AugmentConfig(speed_perturb=True)).waveform(wave, item_generator(1, 0, 2))
    added = []
    for index in range(20):
        out = Augmenter(cfg).waveform(wave, item_generator(1, 0, index))
        same = Augmenter(cfg).waveform(wave, item_generator(1, 0, index))
        speed = Augmenter(AugmentConfig(speed_perturb=True)).waveform(wave, item_generator(1, 0, index))
        assert torch.equal(out, same)
        lead = out.numel() - speed.numel()
        assert 0 <= lead <= 640 and torch.equal(out[lead:], speed) and not out[:lead].any()
        added.append(lead)
    assert len(set(added)) > 10  # drawn per utterance
    assert torch.equal(Augmenter(cfg).waveform(wave, item_generator(1, 0, 2))[-plain.numel():], plain)

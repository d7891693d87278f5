"""``asr prep noise``: coloured noise, hum and babble clips with a manifest training can mix in."""

import numpy as np
import pytest
import soundfile
import torch

from asr.augment import Augmenter
from asr.config import AugmentConfig
from asr.manifest import read_manifest
from data_prep.noise import coloured_noise, make_noise


@pytest.fixture
def speech_dir(tmp_path):
    """Five 'talkers' (1.5 s of distinct gliding tones) and one corrupt file babble must skip."""
    folder = tmp_path / "speech"
    folder.mkdir()
    t = np.arange(24000) / 16000
    for k in range(5):
        soundfile.write(
            folder / f"talker{k}.wav", 0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t * (1 + t)), 16000
        )
    (folder / "broken.wav").write_bytes(b"RIFF....not audio")
    return folder


def band_power(x, lo, hi):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    return spectrum[(freqs >= lo) & (freqs < hi)].mean()


def test_colours_have_their_spectral_slope():
    rng = np.random.default_rng(0)
    for exponent, expected_db_per_decade in [(0.0, 0.0), (1.0, -10.0), (2.0, -20.0)]:
        x = coloured_noise(160000, exponent, rng)
        slope = 10 * np.log10(band_power(x, 4000, 5000) / band_power(x, 400, 500))
        assert slope == pytest.approx(expected_db_per_decade, abs=2.0)


def test_clips_manifest_levels_and_seeding(speech_dir, tmp_path, caplog):
    manifest = make_noise(tmp_path / "noise", count=2, seconds=1.5, babble_from=speech_dir, seed=3)
    rows = read_manifest(manifest)
    assert [r.speaker for r in rows] == [
        k for k in ("white", "pink", "brown", "hum", "babble") for _ in range(2)
    ]
    assert all(r.text == "" and r.duration == 1.5 for r in rows)
    assert "broken.wav" in caplog.text  # the unreadable source is named, not fatal
    for row in rows:
        audio, rate = soundfile.read(row.audio_filepath)
        assert rate == 16000 and len(audio) == 24000
        assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.05, rel=0.05)
    hum, _ = soundfile.read(tmp_path / "noise" / "hum-000.wav")
    mains = max(band_power(hum, f - 2, f + 3) for f in (50, 60))
    assert mains > 100 * band_power(hum, 1000, 2000)  # a hum, not a hiss
    again = make_noise(tmp_path / "again", count=2, seconds=1.5, babble_from=speech_dir, seed=3)
    other = make_noise(tmp_path / "other", count=2, seconds=1.5, babble_from=speech_dir, seed=4)
    for name in ("pink-001.wav", "babble-000.wav"):
        same = (tmp_path / "noise" / name).read_bytes()
        assert (again.parent / name).read_bytes() == same
        assert (other.parent / name).read_bytes() != same
    # the manifest feeds training's noise mixing as it is
    augmenter = Augmenter(AugmentConfig(noise_prob=1.0, speed_perturb=False), read_manifest(manifest))
    wave = torch.zeros(8000)
    wave[::40] = 0.5
    mixed = augmenter.waveform(wave, torch.Generator().manual_seed(0))
    assert mixed.shape == wave.shape and not torch.equal(mixed, wave)


def test_bad_requests_are_clear(speech_dir, tmp_path):
    with pytest.raises(ValueError, match="--babble-from"):
        make_noise(tmp_path / "a", count=1, seconds=1.0)
    with pytest.raises(ValueError, match="unknown noise kind"):
        make_noise(tmp_path / "b", kinds=["rain"])
    (tmp_path / "few").mkdir()
    soundfile.write(tmp_path / "few" / "one.wav", np.zeros(16000), 16000)
    with pytest.raises(ValueError, match="at least 3 readable"):
        make_noise(tmp_path / "c", count=1, seconds=1.0, babble_from=tmp_path / "few")
    white_only = make_noise(tmp_path / "d", count=1, seconds=1.0, kinds=["white"])
    assert len(read_manifest(white_only)) == 1

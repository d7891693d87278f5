import numpy as np
import pytest
import soundfile
import torch

from asr.audio import SAMPLE_RATE, AudioError, audio_duration, load_audio


def sine(rate, seconds=1.0, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    "fmt, subtype",
    [
        ("wav", "PCM_16"),
        ("flac", "PCM_16"),
        ("ogg", "VORBIS"),
        ("wav", "FLOAT"),
        ("wav", "PCM_24"),
        ("mp3", "MPEG_LAYER_III"),
    ],
)
def test_formats_load_as_mono_16k(tmp_path, fmt, subtype):
    path = tmp_path / f"a.{fmt}"
    soundfile.write(path, sine(SAMPLE_RATE), SAMPLE_RATE, subtype=subtype)
    wave = load_audio(path)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert abs(wave.numel() - SAMPLE_RATE) < 0.1 * SAMPLE_RATE  # mp3 adds encoder padding
    assert 0.3 < wave.abs().max() < 0.7


def test_resampling_and_stereo(tmp_path):
    rate = 8000
    stereo = np.stack([sine(rate, 2.0, 300), sine(rate, 2.0, 300)], axis=1)
    path = tmp_path / "s.wav"
    soundfile.write(path, stereo, rate)
    wave = load_audio(path)
    assert wave.numel() == 2 * SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / wave.numel() - 300) < 2  # pitch survives
    assert audio_duration(path) == pytest.approx(2.0)


def test_stereo_channels_are_averaged(tmp_path):
    left = sine(SAMPLE_RATE)
    path = tmp_path / "lr.wav"
    soundfile.write(path, np.stack([left, -left], axis=1), SAMPLE_RATE, subtype="FLOAT")
    assert load_audio(path).abs().max() < 1e-6


def test_offset_and_duration(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, np.arange(SAMPLE_RATE * 3, dtype=np.float32) / 1e6, SAMPLE_RATE, subtype="FLOAT")
    wave = load_audio(path, offset=1.0, duration=0.5)
    assert wave.numel() == SAMPLE_RATE // 2
    assert wave[0].item() == pytest.approx(SAMPLE_RATE / 1e6)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="file not found"):
        audio_duration(tmp_path / "missing.wav")


@pytest.mark.parametrize("content", [b"", b"this is plain text, not audio\n" * 10])
def test_non_audio_names_the_file(tmp_path, content):
    path = tmp_path / "fake.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="fake.wav: not a readable audio file"):
        load_audio(path)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="empty.wav: contains no audio samples"):
        load_audio(path)


def test_offset_past_the_end(tmp_path):
    path = tmp_path / "short.wav"
    soundfile.write(path, sine(SAMPLE_RATE, 0.5), SAMPLE_RATE)
    with pytest.raises(AudioError, match="no audio samples after 2"):
        load_audio(path, offset=2.0)


def test_nan_samples(tmp_path):
    wave = sine(SAMPLE_RATE)
    wave[100] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, wave, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path)

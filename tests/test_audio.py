import io
import subprocess
import sys

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


def _without_length(flac: bytes) -> bytes:
    """The FLAC with its STREAMINFO sample count zeroed, as a FLAC written to a pipe has it."""
    data = bytearray(flac)
    assert data[:4] == b"fLaC"
    data[21] &= 0xF0  # the count's 36 bits: the low nibble of byte 21 and bytes 22-25
    data[22:26] = bytes(4)
    return bytes(data)


def test_flac_whose_header_gives_no_length(tmp_path):
    """``ffmpeg ... -f flac -`` writes no sample count; libsndfile then reports 2**63-1 frames and
    fails its seek after the first read. Duration, whole reads and windows come out exact."""
    wave = sine(SAMPLE_RATE, seconds=3.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, SAMPLE_RATE, format="FLAC")
    piped = tmp_path / "piped.flac"
    piped.write_bytes(_without_length(buffer.getvalue()))
    assert soundfile.info(str(piped)).frames > 2**62  # the case being tested
    exact = torch.from_numpy(soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")[0])
    assert audio_duration(piped) == 3.0
    assert torch.equal(load_audio(piped), exact)
    assert torch.equal(load_audio(piped, 0.5, 1.25), exact[8000:28000])
    assert torch.equal(load_audio(piped, 2.5), exact[40000:])
    with pytest.raises(AudioError, match="no audio samples after 4"):
        load_audio(piped, 4.0, 1.0)


MEMORY_PROBE = """
import resource, sys
import numpy as np, soundfile
from asr.audio import load_audio
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for rate in map(int, sys.argv[2:]):
    path = f"{sys.argv[1]}/{rate}.wav"
    soundfile.write(path, np.zeros(rate, np.float32), rate, subtype="PCM_16")
    assert load_audio(path).numel() == 16000, rate
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_odd_sample_rates_resample_in_bounded_memory(tmp_path):
    """One second at a rate sharing no factor with 16 kHz took 6 GB (22,051 Hz) in torchaudio's
    resampler, whose kernel grows with 16000 / gcd(rate, 16000); it must take a few MB."""
    rates = ["22051", "44099", "96001", "191999", "192000", "8001", "11025"]
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path), *rates],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert int(probe.stdout.split()[-1]) < 200  # MB of peak memory above the baseline after imports

import numpy as np
import pytest
import torch

from asr.config import FeatureConfig
from asr.features import LOG_FLOOR, FeatureExtractor, global_stats, hop_samples, num_frames


@pytest.mark.parametrize("samples", [1, 159, 160, 16000, 16123])
def test_num_frames_matches_extractor(samples):
    cfg = FeatureConfig()
    feats = FeatureExtractor(cfg)(torch.randn(samples))
    assert feats.shape == (num_frames(samples, cfg), cfg.n_mels)


def test_utterance_normalisation():
    feats = FeatureExtractor(FeatureConfig(normalize="utterance"))(torch.randn(16000))
    assert torch.allclose(feats.mean(0), torch.zeros(80), atol=1e-4)
    assert torch.allclose(feats.std(0, unbiased=False), torch.ones(80), atol=1e-2)


def test_global_normalisation_uses_given_stats():
    raw = FeatureExtractor(FeatureConfig(normalize="none"))
    waves = [torch.randn(8000) * s for s in (0.1, 1.0, 3.0)]
    mean, std = global_stats(raw(w) for w in waves)
    glob = FeatureExtractor(FeatureConfig(normalize="global"), mean, std)
    stacked = torch.cat([glob(w) for w in waves])
    assert torch.allclose(stacked.mean(0), torch.zeros(80), atol=1e-3)
    with pytest.raises(ValueError, match="global"):
        FeatureExtractor(FeatureConfig(normalize="global"))


def test_silence_is_finite():
    feats = FeatureExtractor(FeatureConfig(normalize="none"))(torch.zeros(4000))
    assert torch.isfinite(feats).all()
    assert torch.allclose(feats, torch.full_like(feats, float(np.log(LOG_FLOOR))))


@pytest.mark.slow  # librosa's first call compiles with numba (~20 s)
def test_matches_librosa_log_mel():
    """Parity with librosa's default log-mel (Slaney scale and norm, Hann, centred).

    Tolerance: 1e-3 absolute in natural-log units (float32 FFT vs librosa's float64 path),
    checked on bins whose power is above the 1e-6 floor's influence."""
    librosa = pytest.importorskip("librosa")
    cfg = FeatureConfig(normalize="none")
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = FeatureExtractor(cfg)(torch.from_numpy(wave)).numpy()
    ref = librosa.feature.melspectrogram(
        y=wave,
        sr=16000,
        n_fft=400,
        hop_length=hop_samples(cfg),
        win_length=400,
        n_mels=80,
        power=2.0,
        center=True,
        pad_mode="constant",
    )
    ref = np.log(ref + LOG_FLOOR).T
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < 1e-3


@pytest.mark.parametrize("normalize", ["utterance", "global", "none"])
def test_batched_extraction_equals_one_at_a_time(normalize):
    """Feature extraction on the training device works on padded batches: each row must be
    what the extractor gives for that waveform alone, and zero past its frames."""
    stats = (torch.randn(80), torch.rand(80) + 0.5) if normalize == "global" else (None, None)
    extractor = FeatureExtractor(FeatureConfig(normalize=normalize), *stats)
    lengths = torch.tensor([16000, 12345, 400, 159])
    waves = torch.randn(4, 16000) * (torch.arange(16000)[None, :] < lengths[:, None])
    frames = lengths // hop_samples(extractor.cfg) + 1
    feats = extractor.batch(waves, frames)
    assert feats.shape[1] == frames.max()
    for row, n in enumerate(lengths.tolist()):
        alone = extractor(waves[row, :n])
        assert frames[row] == alone.shape[0]
        assert torch.allclose(feats[row, : alone.shape[0]], alone, atol=1e-4)
        assert not feats[row, alone.shape[0] :].any()

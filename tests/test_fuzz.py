"""Property-based fuzzing (hypothesis) of the input stages: whatever the bytes, the loaders
and the normaliser either work or raise their documented error, nothing else."""

import json
import math

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.config import FeatureConfig, TextConfig
from asr.features import FeatureExtractor
from asr.manifest import ManifestError, read_manifest
from asr.text import Normalizer, Vocabulary

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
row_fields = st.fixed_dictionaries(
    {},
    optional={"id": json_values, "audio_filepath": json_values | st.just("a.wav"), "duration": json_values,
              "offset": json_values, "text": json_values, "speaker": json_values},
)  # fmt: skip


@FUZZ
@given(text=st.text())
def test_normaliser_never_fails_and_is_idempotent(text):
    normalize = Normalizer(TextConfig())
    once = normalize(text)
    assert isinstance(once, str) and normalize(once) == once
    assert once == once.strip() and "  " not in once
    ids = Vocabulary.build(["abc def"]).encode_known(once)
    assert all(isinstance(i, int) for i in ids)


@FUZZ
@given(lines=st.lists(row_fields.map(json.dumps) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                      max_size=5))  # fmt: skip
@example(lines=['{"audio_filepath": "a.wav", "duration": 1' + "0" * 400 + ', "text": ""}'])  # found by hand
def test_manifest_rows_load_or_raise_manifest_error(tmp_path, lines):
    path = tmp_path / "m.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape"))
    try:
        utts = read_manifest(path)
    except ManifestError as err:
        assert str(path) in str(err)
        return
    for u in utts:
        assert math.isfinite(u.duration) and u.duration >= 0 and u.offset >= 0 and isinstance(u.text, str)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_as_audio_load_or_raise_audio_error(tmp_path, data):
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    try:
        wave = load_audio(path)
    except AudioError as err:
        assert "x.wav" in str(err)
        return
    assert wave.dtype == torch.float32 and wave.ndim == 1 and torch.isfinite(wave).all()


@FUZZ
@given(
    samples=arrays(np.float32, st.tuples(st.integers(0, 3000), st.integers(1, 3)),
                   elements=st.floats(-4, 4, width=32) | st.sampled_from([np.nan, np.inf, -np.inf])),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT", "PCM_U8"]),
)  # fmt: skip
def test_written_audio_loads_as_finite_mono_16k_or_raises(tmp_path, samples, rate, subtype):
    path = tmp_path / "y.wav"
    soundfile.write(path, samples, rate, subtype=subtype)
    try:
        wave = load_audio(path)
    except AudioError:
        assert samples.shape[0] == 0 or not np.isfinite(samples).all()
        return
    assert wave.ndim == 1 and torch.isfinite(wave).all()
    assert abs(wave.numel() - samples.shape[0] * SAMPLE_RATE / rate) <= 2


@FUZZ
@given(n=st.integers(1, 4000), normalize=st.sampled_from(["utterance", "none"]), scale=st.floats(0, 10))
def test_features_of_any_length_are_finite(n, normalize, scale):
    extractor = FeatureExtractor(FeatureConfig(n_mels=40, normalize=normalize))
    feats = extractor(scale * torch.randn(n))
    assert feats.shape[1] == 40 and feats.shape[0] >= 1 and torch.isfinite(feats).all()


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

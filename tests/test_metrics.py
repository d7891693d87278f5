import pytest

from asr.config import TextConfig
from asr.metrics import paired_bootstrap, score
from asr.text import Normalizer

NORM = Normalizer(TextConfig())


def test_known_substitutions_deletions_insertions():
    refs = {"a": "the cat sat on the mat", "b": "hello world"}
    hyps = {"a": "the hat sat on mat", "b": "hello big world"}
    r = score(refs, hyps, NORM)
    assert (r.substitutions, r.deletions, r.insertions, r.ref_words) == (1, 1, 1, 8)
    assert r.wer == pytest.approx(3 / 8)
    assert r.utterances == 2
    rows = {row.utt_id: row for row in r.per_utterance}
    assert rows["a"].alignment == "the (cat->hat) sat on (the->*) mat"
    assert rows["b"].alignment == "hello (*->big) world"
    assert (rows["b"].insertions, rows["b"].errors) == (1, 1)


def test_normaliser_applies_to_both_sides():
    r = score({"a": "Hello, World!"}, {"a": "hello world"}, NORM)
    assert r.wer == 0 and r.cer == 0


def test_cer():
    r = score({"a": "abcd"}, {"a": "abxd"}, NORM)
    assert r.cer == pytest.approx(0.25) and r.wer == 1.0


def test_paired_by_id_not_order():
    refs = {"x": "one two", "y": "three"}
    r1 = score(refs, {"y": "three", "x": "one two"}, NORM)
    r2 = score(dict(reversed(list(refs.items()))), {"x": "one two", "y": "three"}, NORM)
    assert r1.wer == r2.wer == 0


def test_empty_reference_and_hypothesis():
    r = score({"a": "", "b": "word"}, {"a": "noise", "b": ""}, NORM)
    assert (r.insertions, r.deletions, r.ref_words) == (1, 1, 1)
    assert r.wer == 2.0
    only_empty = score({"a": ""}, {"a": ""}, NORM)
    assert only_empty.wer == 0.0


def test_missing_hypothesis_is_an_error():
    with pytest.raises(ValueError, match="no hypothesis"):
        score({"a": "x", "b": "y"}, {"a": "x"}, NORM)
    with pytest.raises(ValueError, match="nothing to score"):
        score({}, {}, NORM)


def test_paired_bootstrap_sees_a_consistent_gain_and_no_change():
    words = [10] * 40
    a = [3] * 40
    same = paired_bootstrap(a, a, words)
    assert (same.delta, same.low, same.high, same.p_b_better) == (0, 0, 0, 0)
    better = paired_bootstrap(a, [2] * 40, words)  # one error fewer in every utterance
    assert better.delta == pytest.approx(-0.1) and better.p_b_better == 1 and better.high < 0
    mixed = paired_bootstrap(a, [2, 4] * 20, words)  # as many gains as losses: chance
    assert mixed.delta == 0 and mixed.low < 0 < mixed.high and 0.2 < mixed.p_b_better < 0.8
    assert "B better in" in str(mixed)
    with pytest.raises(ValueError, match="same utterances"):
        paired_bootstrap(a, a[:-1], words)


def test_paired_bootstrap_interval_matches_scipy():
    """The hand-written resampling gives scipy.stats.bootstrap's percentile interval."""
    stats = pytest.importorskip("scipy.stats")
    import numpy as np

    rng = np.random.default_rng(3)
    words = rng.integers(3, 30, 300)
    err_a = rng.binomial(words, 0.5)
    err_b = rng.binomial(words, 0.47)
    ours = paired_bootstrap(err_a.tolist(), err_b.tolist(), words.tolist(), resamples=20_000)

    def delta(ea, eb, w, axis=-1):
        return (eb.sum(axis=axis) - ea.sum(axis=axis)) / w.sum(axis=axis)

    ref = stats.bootstrap((err_a, err_b, words), delta, paired=True, n_resamples=20_000,
                          method="percentile", random_state=1)  # fmt: skip
    ci = ref.confidence_interval
    assert ours.low == pytest.approx(ci.low, abs=0.002) and ours.high == pytest.approx(ci.high, abs=0.002)
    assert ours.p_b_better == pytest.approx((ref.bootstrap_distribution < 0).mean(), abs=0.01)


def test_an_empty_reference_with_errors_scores_100_percent():
    from asr.metrics import error_rate

    assert error_rate(0, 0) == 0.0
    assert error_rate(3, 0) == 1.0 and error_rate(1, 0) == 1.0
    assert error_rate(2, 4) == 0.5

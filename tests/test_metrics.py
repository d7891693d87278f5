import pytest

from asr.config import TextConfig
from asr.metrics import score
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

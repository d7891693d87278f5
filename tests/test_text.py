import pytest

from asr.config import TextConfig
from asr.text import BLANK, Normalizer, UnknownCharacterError, Vocabulary, unknown_report


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello, World!", "hello world"),
        ("  many   spaces\tand\nlines ", "many spaces and lines"),
        ("Don\u2019t 'quote' me", "don't quote me"),
        ("rock 'n' roll", "rock n roll"),
        ("twenty-one / two", "twenty one two"),
        ("caf\u00e9 \uff21", "café a"),  # NFKC folds the full-width A
        ("", ""),
        ("?!", ""),
        ("room 101", "room 101"),
    ],
)
def test_normalizer(raw, expected):
    assert Normalizer(TextConfig())(raw) == expected


def test_normalizer_options():
    cfg = TextConfig(lowercase=False, keep_apostrophes=False)
    assert Normalizer(cfg)("Don't Stop") == "Don t Stop"


def test_vocabulary_is_sorted_with_blank_first():
    v1 = Vocabulary.build(["cab", "a b"])
    v2 = Vocabulary.build(["a b", "bac"])
    assert v1.tokens == [BLANK, " ", "a", "b", "c"] == v2.tokens


def test_encode_decode_round_trip():
    v = Vocabulary.build(["hello world"], extra="'")
    assert "'" in v.tokens
    assert v.decode(v.encode("hello")) == "hello"
    assert 0 not in v.encode("hello world")


def test_unknown_characters_are_reported_not_dropped():
    v = Vocabulary.build(["abc"])
    with pytest.raises(UnknownCharacterError, match=r"'z' x2, 'q' x1") as info:
        v.encode("zazq", where="utt7")
    assert "utt7" in str(info.value)
    assert v.encode_known("zazq") == v.encode("a")
    assert unknown_report([("u1", "abc"), ("u2", "abx")], v) == {"u2": {"x": 1}}


def test_vocabulary_rejects_bad_token_lists():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError):
        Vocabulary([BLANK, "a", "a"])

"""The disk-based, partitioned Kneser-Ney builder equals the in-memory reference (asr.lm.build),
for every order, partition count and pruning; KenLM reads what it writes with the same values."""

import random

import pytest

from asr.lm import BOS, EOS, UNK, build
from asr.lm.books import build_arpa

WORDS = "the a cat dog sat on mat log ate rat and my big red old man saw".split()


def corpus(sentences=300, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):  # a skewed, repetitive language, so that every order has repeats
        n = rng.randint(1, 9)
        out.append([WORDS[min(int(rng.expovariate(0.25)), len(WORDS) - 1)] for _ in range(n)])
    return out


def read_arpa(path):
    """{n: {ngram: (logprob, backoff or None)}}"""
    model, n = {}, 0
    for line in path.read_text().splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            n = int(line[1 : line.index("-")])
            model[n] = {}
        elif n and line and not line.startswith("\\"):
            fields = line.split("\t")
            model[n][tuple(fields[1].split())] = (
                float(fields[0]),
                float(fields[2]) if len(fields) > 2 else None,
            )
    return model


@pytest.mark.parametrize("order, partitions, prune", [
    (1, 1, ()), (2, 1, ()), (3, 3, ()), (4, 7, ()), (5, 2, ()),
    (3, 4, (0, 1, 1)), (4, 3, (0, 0, 2, 3)), (5, 5, (0, 1, 2, 2, 2)),
])  # fmt: skip
def test_equals_the_reference_estimate(tmp_path, order, partitions, prune):
    sentences = corpus()
    reference = build(sentences, order, prune)
    arpa, stats, _ = build_arpa(lambda: iter(sentences), tmp_path / "lm.arpa", order, prune,
                                memory=1 << 20, partitions=partitions)  # fmt: skip
    ours = read_arpa(arpa)
    assert stats.ngrams == [len(p) for p in reference.prob]
    for n in range(1, order + 1):
        assert set(ours[n]) == set(reference.prob[n - 1]), f"order {n}"
        for gram, (logp, bow) in ours[n].items():
            assert logp == pytest.approx(reference.prob[n - 1][gram], abs=2e-6), gram
            if n < order:
                assert bow == pytest.approx(reference.backoff[n - 1].get(gram, 0.0), abs=2e-6), gram
    header = [line for line in arpa.read_text().splitlines() if line.startswith("ngram ")]
    assert [int(line.split("=")[1]) for line in header] == stats.ngrams


def test_small_chunks_spill_many_runs_and_agree(tmp_path):
    sentences = corpus(600, seed=3)
    one, _, _ = build_arpa(lambda: iter(sentences), tmp_path / "a.arpa", 3, memory=1 << 30, partitions=1)
    many, _, _ = build_arpa(lambda: iter(sentences), tmp_path / "b.arpa", 3, memory=1 << 14, partitions=5)
    a, b = read_arpa(one), read_arpa(many)
    for n in (1, 2, 3):
        assert a[n].keys() == b[n].keys()
        assert all(a[n][g] == pytest.approx(b[n][g], abs=1e-6) for g in a[n])


def test_vocabulary_limit_maps_rare_words_to_unk(tmp_path):
    sentences = [["the", "cat"], ["the", "dog"], ["the", "cat", "sat"], ["a", "zebra"]]
    arpa, stats, words = build_arpa(lambda: iter(sentences), tmp_path / "lm.arpa", 2, vocab_size=2)
    unigrams = read_arpa(arpa)[1]
    assert set(unigrams) == {(BOS,), (EOS,), (UNK,), ("the",), ("cat",)}
    assert ("the", UNK) in read_arpa(arpa)[2] and stats.vocabulary == 2


def test_allowed_words_keep_a_frequent_word_out_of_the_vocabulary(tmp_path):
    sentences = [["och", "ae", "the", "cat"], ["ae", "ae", "the", "dog"], ["the", "cat", "sat"]]
    allowed = {"the", "cat", "dog", "sat", "zebra"}  # "zebra" is allowed but never seen: not a word
    arpa, stats, words = build_arpa(lambda: iter(sentences), tmp_path / "a.arpa", 2, allowed=allowed)
    assert set(read_arpa(arpa)[1]) == {(BOS,), (EOS,), (UNK,), ("the",), ("cat",), ("dog",), ("sat",)}
    assert (UNK, UNK) in read_arpa(arpa)[2] and stats.vocabulary == 4
    top, _, _ = build_arpa(lambda: iter(sentences), tmp_path / "b.arpa", 2, vocab_size=2, allowed=allowed)
    assert set(read_arpa(top)[1]) == {(BOS,), (EOS,), (UNK,), ("the",), ("cat",)}  # not "ae", most frequent
    with pytest.raises(ValueError, match="allowed words"):
        build_arpa(lambda: iter(sentences), tmp_path / "c.arpa", 2, allowed={"zebra"})


def test_kenlm_reads_it_identically(tmp_path):
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import create_word_dict, load_words

    from asr.lm import write_lexicon

    sentences = corpus()
    reference = build(sentences, 4, (0, 1, 1, 2))
    arpa, _, _ = build_arpa(lambda: iter(sentences), tmp_path / "lm.arpa", 4, (0, 1, 1, 2), partitions=3)
    words = create_word_dict(load_words(str(write_lexicon(reference, tmp_path / "lm.lexicon"))))
    lm = kenlm.KenLM(str(arpa), words)
    state, context = lm.start(False), (BOS,)
    for word in "the old man saw a big red dog and the cat sat on my mat".split():
        state, score = lm.score(state, words.get_index(word))
        assert score == pytest.approx(reference.logprob(word, context), abs=1e-4)
        context = (*context, word)
    state, score = lm.finish(state)
    assert score == pytest.approx(reference.logprob(EOS, context), abs=1e-4)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="order"):
        build_arpa(lambda: iter([["a"]]), tmp_path / "x.arpa", 7)
    with pytest.raises(ValueError, match="prune"):
        build_arpa(lambda: iter([["a"]]), tmp_path / "x.arpa", 3, prune=(1, 1))
    with pytest.raises(ValueError, match="no words"):
        build_arpa(lambda: iter([[]]), tmp_path / "x.arpa", 3)

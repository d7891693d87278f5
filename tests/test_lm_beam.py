"""Kneser-Ney LM checked by hand and against KenLM; beam search with and without it."""

import dataclasses
import gzip
import lzma
import math

import pytest
import torch

from asr.cli import main
from asr.config import DecodeConfig
from asr.decode import BeamDecoder, greedy_decode
from asr.lm import BOS, EOS, UNK, build, compile_binary, write_arpa, write_lexicon
from asr.runtime import MissingDependency
from asr.text import Vocabulary

CORPUS = [s.split() for s in ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
                               "the cat ate", "on the mat the cat sat"]] * 3  # fmt: skip


def test_unigram_probabilities_by_hand():
    # counts a:2 b:1 </s>:2 over 5; discounts fall back to 0.5/1/1.5 on so little data;
    # gamma = (0.5 * 1 + 1.0 * 2) / 5 = 0.5, spread uniformly over {a, b, </s>, <unk>}.
    model = build([["a", "b"], ["a"]], order=1)
    expected = {"a": 1 / 5 + 0.125, "b": 0.5 / 5 + 0.125, EOS: 1 / 5 + 0.125, UNK: 0.125}
    for word, p in expected.items():
        assert 10 ** model.logprob(word, ()) == pytest.approx(p)
    assert model.prob[0][(BOS,)] == -99.0


@pytest.mark.parametrize(
    "context", [(), (BOS,), ("the",), ("the", "cat"), (BOS, "the"), ("zzz", "the"), ("cat", "zzz")]
)
def test_distributions_sum_to_one(context):
    model = build(CORPUS, order=3)
    vocab = {w for s in CORPUS for w in s} | {EOS, UNK}
    assert sum(10 ** model.logprob(w, context) for w in vocab) == pytest.approx(1.0, abs=1e-9)


def test_seen_continuations_beat_unseen():
    model = build(CORPUS, order=3)
    assert model.logprob("sat", ("the", "cat")) > model.logprob("log", ("the", "cat"))
    assert model.logprob("cat", ("the",)) > model.logprob("and", ("the",))


def test_kenlm_reads_our_arpa_identically(tmp_path):
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import create_word_dict, load_words

    model = build(CORPUS, order=3)
    arpa = write_arpa(model, tmp_path / "lm.arpa")
    words = create_word_dict(load_words(str(write_lexicon(model, tmp_path / "lm.lexicon"))))
    lm = kenlm.KenLM(str(arpa), words)
    state, context = lm.start(False), (BOS,)
    for word in ["the", "cat", "sat", "on", "the", "log"]:
        state, score = lm.score(state, words.get_index(word))
        assert score == pytest.approx(model.logprob(word, context), abs=1e-4)
        context = (*context, word)


BIGGER = [s.split() for s in ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
                              "the cat ate the rat", "on the mat the cat sat", "a dog ate a log",
                              "the rat and the cat", "my dog sat", "the cat sat on my mat"]] * 2  # fmt: skip


@pytest.mark.parametrize("context", [(), (BOS,), ("the",), ("the", "cat"), (BOS, "the"), ("a", "dog"),
                                     ("cat", "sat"), ("zzz", "the")])  # fmt: skip
def test_pruned_model_still_sums_to_one_and_keeps_frequent_ngrams(context):
    full, pruned = build(BIGGER, order=3), build(BIGGER, order=3, prune=[0, 2, 2])
    assert sum(map(len, pruned.prob)) < sum(map(len, full.prob))
    assert ("the", "cat") in pruned.prob[1] and ("on", "my") not in pruned.prob[1]
    for n in (2, 3):  # every kept n-gram's context and suffix are kept too
        assert all(g[:-1] in pruned.prob[n - 2] and g[1:] in pruned.prob[n - 2] for g in pruned.prob[n - 1])
    vocab = {w for s in BIGGER for w in s} | {EOS, UNK}
    assert sum(10 ** pruned.logprob(w, context) for w in vocab) == pytest.approx(1.0, abs=1e-9)


def test_kenlm_reads_a_pruned_arpa_identically(tmp_path):
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import create_word_dict, load_words

    model = build(BIGGER, order=3, prune=[0, 1, 2])
    words = create_word_dict(load_words(str(write_lexicon(model, tmp_path / "lm.lexicon"))))
    lm = kenlm.KenLM(str(write_arpa(model, tmp_path / "lm.arpa")), words)
    state, context = lm.start(False), (BOS,)
    for word in ["my", "cat", "ate", "the", "log", "and", "a", "rat"]:
        state, score = lm.score(state, words.get_index(word))
        assert score == pytest.approx(model.logprob(word, context), abs=1e-4)
        context = (*context, word)


def test_lm_build_reads_compressed_files_and_leaves_test_sentences_out(tmp_path):
    import lzma

    from asr.lm import build_files

    with lzma.open(tmp_path / "books.txt.xz", "wt") as f:
        f.write("the cat sat\nthe secret test sentence\nthe dog sat\nthe café was open\n")
    (tmp_path / "test.txt").write_text("The secret test sentence.\n")
    from asr.sentences import excluded_texts

    arpa, lexicon = build_files([tmp_path / "books.txt.xz"], tmp_path / "lm.arpa", order=2,
                                exclude_texts=excluded_texts([tmp_path / "test.txt"]),
                                alphabet="abcdefghijklmnopqrstuvwxyz' ")  # fmt: skip
    words = [line.split()[0] for line in lexicon.read_text().splitlines()]
    assert "secret" not in arpa.read_text() and "cat" in words
    assert "café" in arpa.read_text() and "café" not in words  # the model cannot spell it
    capped, _ = build_files([tmp_path / "books.txt.xz"], tmp_path / "cap.arpa", order=2, max_words=3)
    assert "dog" not in capped.read_text()


def test_lm_build_cli_keeps_to_a_word_list(tmp_path, capsys):
    from asr.cli import main

    (tmp_path / "books.txt").write_text("Thae cat sat\nthe dog sat on thae mat\nthe cat ran\n")
    (tmp_path / "words.lexicon").write_text("CAT c a t |\nthe t h e |\nsat s a t |\nmat m a t |\n")
    assert main(["lm", "build", str(tmp_path / "books.txt"), "-o", str(tmp_path / "lm.arpa"), "--order", "2",
                 "--vocab", str(tmp_path / "words.lexicon"), "--vocab-size", "3", "-q"]) == 0  # fmt: skip
    words = [line.split()[0] for line in (tmp_path / "lm.lexicon").read_text().splitlines()]
    assert sorted(words) == ["cat", "sat", "the"]  # the word list's case normalised; "thae", "mat" out


def peaked(vocab, text, frames_per_char=2, confusion=None):
    """Log-probs spelling ``text`` (blank between characters); ``confusion`` maps a position
    to a {char: prob} mix for that character's frames."""
    rows = []
    for i, ch in enumerate(text):
        dist = confusion.get(i, {ch: 0.9}) if confusion else {ch: 0.9}
        for _ in range(frames_per_char):
            row = torch.full((len(vocab),), 0.01)
            for c, p in dist.items():
                row[vocab.tokens.index(c)] = p
            rows.append(row / row.sum())
        blank = torch.full((len(vocab),), 0.01)
        blank[0] = 0.9
        rows.append(blank / blank.sum())
    return torch.log(torch.stack(rows))[None]


@pytest.fixture
def vocab():
    return Vocabulary.build(["the cat sat on a mat hdog"])


def test_beam_without_lm_equals_greedy_on_peaked_input(vocab):
    pytest.importorskip("flashlight.lib.text.decoder")
    lp = peaked(vocab, "the cat sat")
    lengths = torch.tensor([lp.shape[1]])
    beam = BeamDecoder(vocab, DecodeConfig(method="beam", beam_size=8))
    (b,) = beam(lp, lengths, ["u"])
    (g,) = greedy_decode(lp, lengths, vocab, ["u"])
    assert b.text == g.text == "the cat sat"


def test_lm_fixes_an_ambiguous_word_if_the_token_beam_lets_it(vocab, tmp_path):
    pytest.importorskip("flashlight.lib.text.decoder")
    model = build(CORPUS + [["the", "hat"]], order=2)
    arpa = write_arpa(model, tmp_path / "lm.arpa")
    write_lexicon(model, tmp_path / "lm.lexicon")
    # The acoustics lean to "hat" (0.5 vs 0.4), the LM knows "the cat sat" well.
    lp = peaked(vocab, "the cat sat", confusion={4: {"h": 0.5, "c": 0.4}})
    lengths = torch.tensor([lp.shape[1]])
    assert greedy_decode(lp, lengths, vocab, ["u"])[0].text == "the hat sat"
    cfg = DecodeConfig(method="beam", lm=str(arpa), lm_weight=2.0, beam_size=20)
    assert BeamDecoder(vocab, cfg)(lp, lengths, ["u"])[0].text == "the cat sat"
    weightless = DecodeConfig(method="beam", lm=str(arpa), lm_weight=0.0, beam_size=20)
    assert BeamDecoder(vocab, weightless)(lp, lengths, ["u"])[0].text == "the hat sat"
    # With one token tried a frame the LM never sees "c" (0.4 against "h" 0.5); with two it does.
    texts = {k: BeamDecoder(vocab, dataclasses.replace(cfg, beam_size_token=k))(lp, lengths, ["u"])[0].text
             for k in (1, 2, 0)}  # fmt: skip
    assert texts == {1: "the hat sat", 2: "the cat sat", 0: "the cat sat"}
    with pytest.raises(ValueError, match="beam_size_token"):
        BeamDecoder(vocab, dataclasses.replace(cfg, beam_size_token=-1))


def have_build_binary():
    from asr.lm import find_build_binary

    try:
        return find_build_binary()
    except MissingDependency:
        return None


@pytest.mark.skipif(not have_build_binary(), reason="no KenLM build_binary (tools/build_kenlm.sh)")
def test_binary_lm_scores_and_decodes_as_its_arpa(vocab, tmp_path, capsys):
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm")
    from flashlight.lib.text.dictionary import create_word_dict, load_words

    model = build(CORPUS + [["the", "hat"]], order=3)
    arpa = write_arpa(model, tmp_path / "lm.arpa")
    with open(arpa, "rb") as src, gzip.open(tmp_path / "lm.arpa.gz", "wb") as dst:
        dst.write(src.read())
    words = create_word_dict(load_words(str(write_lexicon(model, tmp_path / "lm.lexicon"))))
    assert main(["lm", "binary", str(tmp_path / "lm.arpa.gz"), "--quantize", "0"]) == 0
    exact = tmp_path / "lm.bin"  # the default name: the lexicon's stem, so the decoder finds lm.lexicon
    assert capsys.readouterr().out.strip() == str(exact)
    (tmp_path / "xz").mkdir()
    with open(arpa, "rb") as src, lzma.open(tmp_path / "xz" / "lm.arpa.xz", "wb") as dst:
        dst.write(src.read())
    assert main(["lm", "binary", str(tmp_path / "xz" / "lm.arpa.xz"), "--quantize", "0"]) == 0
    assert (tmp_path / "xz" / "lm.bin").read_bytes() == exact.read_bytes()  # any compression we read
    capsys.readouterr()
    quantized = compile_binary(arpa, tmp_path / "q8.bin", quantize=8)
    for path, tolerance in ((exact, 1e-4), (quantized, 0.05)):
        lm = kenlm.KenLM(str(path), words)
        state, context = lm.start(False), (BOS,)
        for word in ["the", "cat", "sat", "on", "the", "log"]:
            state, score = lm.score(state, words.get_index(word))
            assert score == pytest.approx(model.logprob(word, context), abs=tolerance)
            context = (*context, word)
    lp = peaked(vocab, "the cat sat", confusion={4: {"h": 0.5, "c": 0.4}})
    lengths = torch.tensor([lp.shape[1]])
    cfg = DecodeConfig(method="beam", lm=str(exact), lm_weight=2.0, beam_size=20)
    assert BeamDecoder(vocab, cfg)(lp, lengths, ["u"])[0].text == "the cat sat"


def test_binary_lm_errors(tmp_path):
    with pytest.raises(MissingDependency, match="tools/build_kenlm.sh"):
        compile_binary(tmp_path / "lm.arpa", tmp_path / "lm.bin", tool=str(tmp_path / "no" / "build_binary"))
    fake = tmp_path / "build_binary"  # a program that fails as build_binary does on a broken ARPA
    fake.write_text("#!/bin/sh\necho 'Format error: not an ARPA file' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(FileNotFoundError, match="language model not found"):
        compile_binary(tmp_path / "none.arpa", tmp_path / "lm.bin", tool=str(fake))
    (tmp_path / "bad.arpa").write_text("not an arpa\n")
    with pytest.raises(RuntimeError, match="(?s)exit 1.*not an ARPA file"):
        compile_binary(tmp_path / "bad.arpa", tmp_path / "lm.bin", tool=str(fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arpa", "build_binary"]  # nothing half-written


def test_missing_lm_or_lexicon(vocab, tmp_path):
    pytest.importorskip("flashlight.lib.text.decoder")
    with pytest.raises(FileNotFoundError, match="language model not found"):
        BeamDecoder(vocab, DecodeConfig(method="beam", lm=str(tmp_path / "none.arpa")))
    (tmp_path / "x.arpa").write_text("")
    with pytest.raises(FileNotFoundError, match="lexicon not found"):
        BeamDecoder(vocab, DecodeConfig(method="beam", lm=str(tmp_path / "x.arpa")))
    assert math.isfinite(build(CORPUS, 2).logprob("unseen", ("the",)))


def test_hotword_changes_an_ambiguous_decode(vocab, tmp_path):
    pytest.importorskip("flashlight.lib.text.decoder")
    model = build(CORPUS + [["the", "hat"], ["the", "cat"]], order=2)
    arpa = write_arpa(model, tmp_path / "lm.arpa")
    write_lexicon(model, tmp_path / "lm.lexicon")
    # Acoustics lean to "cat" a little, and the LM prefers it too.
    lp = peaked(vocab, "the cat sat", confusion={4: {"c": 0.5, "h": 0.4}})
    lengths = torch.tensor([lp.shape[1]])
    plain = DecodeConfig(method="beam", lm=str(arpa), lm_weight=1.0, beam_size=20)
    assert BeamDecoder(vocab, plain)(lp, lengths, ["u"])[0].text == "the cat sat"
    boosted = dataclasses.replace(plain, hotwords="hat:4")
    assert BeamDecoder(vocab, boosted)(lp, lengths, ["u"])[0].text == "the hat sat"
    with pytest.raises(ValueError, match="need an LM"):
        BeamDecoder(vocab, DecodeConfig(method="beam", hotwords="hat"))


@pytest.mark.slow
def test_tune_grid(trained_checkpoint, tone_manifest, tmp_path, monkeypatch):
    pytest.importorskip("flashlight.lib.text.decoder")
    from asr.lm import build_files
    from asr.lm.tune import cache_log_probs, tune
    from asr.load import load_model
    from conftest import TINY_TEXTS

    text = tmp_path / "text.txt"
    text.write_text("\n".join(TINY_TEXTS) + "\n")
    arpa, _ = build_files(text, tmp_path / "lm.arpa", order=2)
    rec = load_model(trained_checkpoint)
    refs, cached = cache_log_probs(rec, tone_manifest, device="cpu")
    assert len(cached) == len(TINY_TEXTS) and all(lp.shape[1] == len(rec.vocab) for _, lp in cached)
    import asr.decode

    loads = []
    real_load = asr.decode.BeamResources.load.__func__

    def counted(cls, *args):
        loads.append(args)
        return real_load(cls, *args)

    monkeypatch.setattr(asr.decode.BeamResources, "load", classmethod(counted))
    rows = tune(rec, refs, cached, DecodeConfig(lm=str(arpa)), [0.0, 1.0], [0.0, 1.0])
    assert len(rows) == 4 and rows[0].wer == min(r.wer for r in rows)
    assert rows[0].wer <= 0.2
    assert len(loads) == 1  # the LM, lexicon and trie once for the whole grid (it was once a point)
    # a decoder on shared resources decodes as one that loads its own
    cfg = DecodeConfig(method="beam", lm=str(arpa), lm_weight=1.0, beam_size=8)
    shared = BeamDecoder(rec.vocab, cfg, asr.decode.BeamResources.load(rec.vocab, cfg))
    for utt_id, lp in cached:
        lengths = torch.tensor([lp.shape[0]])
        assert shared(lp[None], lengths, [utt_id])[0].text == BeamDecoder(rec.vocab, cfg)(lp[None], lengths,
                                                                                          [utt_id])[0].text
    with pytest.raises(ValueError, match="loaded for"):
        BeamDecoder(rec.vocab, DecodeConfig(method="beam"), shared.resources)


@pytest.mark.gpu
def test_cuda_beam_matches_cpu_beam(vocab):
    from asr.decode import make_decoder

    lp = peaked(vocab, "the cat sat on a mat")
    lengths = torch.tensor([lp.shape[1]])
    cfg = DecodeConfig(method="beam", beam_size=10)
    gpu = make_decoder(vocab, cfg, torch.device("cuda"))
    assert type(gpu).__name__ == "CudaBeamDecoder"
    assert (
        gpu(lp.cuda(), lengths.cuda(), ["u"])[0].text == BeamDecoder(vocab, cfg)(lp, lengths, ["u"])[0].text
    )


def test_native_output_is_held_back_unless_something_fails(capfd, caplog):
    import os

    from asr.runtime import native_output_captured

    with native_output_captured("loading"):
        os.write(2, b"****** stars from C++\n")
        os.write(1, b"Loading the LM will be faster if you build a binary file.\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError), native_output_captured("loading x.arpa"):
        os.write(2, b"x.arpa:12: bad line\n")
        raise RuntimeError("KenLM failed")
    assert "x.arpa:12: bad line" in caplog.text and "loading x.arpa printed" in caplog.text
    os.write(2, b"after\n")
    assert capfd.readouterr().err.endswith("after\n")  # the terminal is back

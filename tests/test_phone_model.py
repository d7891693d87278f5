"""A phone-unit model (model.units: phones): trained on transcripts spelled in ARPAbet, greedy
writes phones and says so, beam search spells the LM's words in phones and writes words.

Its tone corpus uses words whose letters are their phones one for one (cab = K AE B, bad =
B AE D, dab = D AE B), so the tone for "c" is the sound of K."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from asr.config import ConfigError, DecodeConfig, load_config
from asr.phones import PHONE_CHARS, arpabet, phone_text
from asr.text import Normalizer, Vocabulary
from data_prep.tones import write_tone_corpus
from tests.conftest import tiny_config

WORD_TEXTS = ["cab", "bad", "dab", "bad cab", "dab bad", "cab dab", "cab cab", "bad dab"]


@pytest.fixture(scope="module")
def phone_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from asr.train import train

    folder = tmp_path_factory.mktemp("phone_words")
    manifest = write_tone_corpus(folder, WORD_TEXTS)
    summary = train(tiny_config(manifest, folder / "exp", "model.units='phones'"), show_progress=False)
    assert summary.best_checkpoint is not None
    return summary.best_checkpoint


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from asr.lm import build_files

    folder = tmp_path_factory.mktemp("phone_lm")
    (folder / "text.txt").write_text("\n".join(WORD_TEXTS) + "\n")
    arpa, _ = build_files(folder / "text.txt", folder / "lm" / "words.arpa", order=2)
    return arpa


def test_phone_text_is_one_lowercase_letter_per_phone_that_the_normalizer_keeps():
    chars = list(PHONE_CHARS.values())
    assert len(set(chars)) == len(chars) == 39
    assert all(len(c) == 1 and unicodedata.category(c) == "Ll" for c in chars)
    text = " ".join(chars)
    assert Normalizer(load_config(None, []).text)(text) == text
    assert phone_text([["DH", "AH"], ["K", "AE", "T"]]) == "ðʌ kæt"
    assert arpabet("ðʌ kæt") == "DH-AH K-AE-T"


def test_the_phone_vocabulary_knows_it_writes_phones():
    vocab = Vocabulary.phones()
    assert vocab.units == "phones" and len(vocab) == 41 and vocab.space_id == 1
    assert vocab.decode(vocab.encode("kæb bæd")) == "K-AE-B B-AE-D"
    assert Vocabulary.build(["cab bad"]).units == "chars"


def test_phones_as_a_second_target_of_a_phone_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="aux_phones"):
        tiny_config(tmp_path / "m.jsonl", tmp_path, "model.units='phones'",
                    "model.aux_phones={'layer': 1, 'weight': 0.3}")  # fmt: skip


def test_greedy_decoding_of_a_phone_model_writes_arpabet(phone_model, tmp_path):
    import soundfile

    from asr import load_model, transcribe
    from data_prep.tones import RATE, tone_speech

    recognizer = load_model(phone_model)
    assert recognizer.vocab.units == "phones" and recognizer.config.model.units == "phones"
    soundfile.write(tmp_path / "cab.wav", tone_speech("bad cab", seed=3), RATE)  # a training utterance
    (t,) = transcribe(recognizer, tmp_path / "cab.wav", device="cpu", decode=DecodeConfig(method="greedy"))
    assert t.text == "B-AE-D K-AE-B"
    assert [w.word for w in t.words] == ["B-AE-D", "K-AE-B"]
    command = ["transcribe", str(tmp_path / "cab.wav"), "--model", str(phone_model), "--decoder", "greedy"]
    done = subprocess.run([sys.executable, "-m", "asr", *command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "B-AE-D K-AE-B"
    assert "writes phones" in done.stderr


def test_beam_search_spells_the_lms_words_in_phones_and_writes_words(phone_model, word_lm, tmp_path):
    from asr import evaluate, load_model

    recognizer = load_model(phone_model)
    manifest = write_tone_corpus(tmp_path / "test", ["dab cab", "bad", "cab bad dab"])
    decode = DecodeConfig(method="beam", lm=str(word_lm), lm_weight=0.3, beam_size=8)
    report = evaluate(recognizer, manifest, decode=decode, device="cpu", show_progress=False)
    assert report.wer == 0.0


def test_evaluating_a_phone_models_greedy_phones_against_words_is_refused(phone_model, tone_manifest):
    from asr import evaluate, load_model

    with pytest.raises(ValueError, match="writes phones"):
        evaluate(load_model(phone_model), tone_manifest, decode=DecodeConfig(method="greedy"), device="cpu")


def test_a_checkpoint_whose_units_disagree_with_its_vocabulary_is_refused(phone_model, tmp_path):
    import torch

    from asr.checkpoint import CheckpointError
    from asr.load import load_model

    payload = torch.load(phone_model, weights_only=False)
    payload["config"]["model"]["units"] = "chars"
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="vocabulary of phones"):
        load_model(tmp_path / "bad.pt")

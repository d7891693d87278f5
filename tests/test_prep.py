"""Corpus preparers on fake corpora built in tmp_path: layout, splits, validation."""

import json
import shutil

import numpy as np
import pytest
import soundfile

from asr.cli import main
from asr.manifest import read_manifest
from data_prep import common_voice, folder, fsdd, librispeech, ljspeech, sphinx
from data_prep.common import merge_manifests, split_groups


def tone(path, seconds=1.0, rate=16000, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, **kw)
    return path


def rejected(out_dir, split):
    path = out_dir / f"{split}.rejected.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_fsdd_holds_out_a_speaker(tmp_path):
    for speaker in ("ann", "bob", "cid"):
        for index in range(12):
            tone(tmp_path / "rec" / f"{index % 10}_{speaker}_{index}.wav", 0.5, 8000)
    paths = fsdd.prepare(tmp_path / "rec", tmp_path / "out", test_speakers=["cid"])
    splits = {name: read_manifest(p) for name, p in paths.items()}
    assert {u.speaker for u in splits["test"]} == {"cid"}
    assert "cid" not in {u.speaker for u in splits["train"] + splits["valid"]}
    assert len(splits["valid"]) == 10 and len(splits["train"]) == 14  # indices 0-4 of ann and bob
    assert {u.text for u in splits["test"]} <= set(fsdd.WORDS)
    assert splits["test"][0].duration == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not found"):
        fsdd.prepare(tmp_path / "rec", tmp_path / "out2", test_speakers=["zed"])


def test_a_corrupt_file_is_listed_and_the_rest_prepared(tmp_path):
    for index in range(12):
        tone(tmp_path / "rec" / f"{index % 10}_ann_{index}.wav", 0.5, 8000)
    (tmp_path / "rec" / "3_ann_11.wav").write_bytes(b"RIFF....WAVEfmt truncated")  # a third train clip
    paths = fsdd.prepare(tmp_path / "rec", tmp_path / "out")
    assert [u.id for u in read_manifest(paths["train"])] == ["0_ann_10", "1_ann_11"]
    (bad,) = rejected(tmp_path / "out", "train")
    assert bad["id"] == "3_ann_11" and bad["reason"].startswith("unreadable audio: not a readable audio file")


def test_ljspeech_uses_normalised_text_and_lists_missing_audio(tmp_path):
    corpus = tmp_path / "LJSpeech-1.1"
    rows = [("LJ001-0001", "Dr. Smith paid $5.", "Doctor Smith paid five dollars."),
            ("LJ001-0002", "in 1850", "in eighteen fifty"),
            ("LJ002-0001", "Hello", "Hello"),
            ("LJ002-0002", "Gone", "Gone")]  # fmt: skip
    for utt_id, *_ in rows[:3]:
        tone(corpus / "wavs" / f"{utt_id}.wav", 1.0, 22050)
    (corpus / "metadata.csv").write_text("".join("|".join(r) + "\n" for r in rows))
    paths = ljspeech.prepare(tmp_path, tmp_path / "out", test_chapters=["LJ002"], valid_fraction=0.0001)
    train_valid = read_manifest(paths["train"]) + read_manifest(paths["valid"])
    assert {u.text for u in train_valid} == {"Doctor Smith paid five dollars.", "in eighteen fifty"}
    assert [u.id for u in read_manifest(paths["test"])] == ["LJ002-0001"]
    (bad,) = rejected(tmp_path / "out", "test")
    assert bad["id"] == "LJ002-0002" and bad["reason"].startswith("unreadable audio: file not found")


def test_librispeech_subsets(tmp_path):
    root = tmp_path / "LibriSpeech"
    for subset, speaker in (("dev-clean", "84"), ("train-clean-5", "19")):
        chapter = root / subset / speaker / "121123"
        tone(chapter / f"{speaker}-121123-0000.flac", 1.2)
        tone(chapter / f"{speaker}-121123-0001.flac", 0.3)
        (chapter / f"{speaker}-121123.trans.txt").write_text(
            f"{speaker}-121123-0000 GO DO YOU HEAR\n{speaker}-121123-0001 BUT IN LESS THAN FIVE MINUTES\n"
        )
    paths = librispeech.prepare(tmp_path, tmp_path / "out")
    assert set(paths) == {"dev-clean", "train-clean-5"}
    dev = read_manifest(paths["dev-clean"])
    assert [u.id for u in dev] == ["84-121123-0000"]
    assert (
        dev[0].speaker == "84" and dev[0].text == "GO DO YOU HEAR" and dev[0].duration == pytest.approx(1.2)
    )
    # 0.3 s cannot hold 28 characters at the default time stride: listed, not silently kept.
    (bad,) = rejected(tmp_path / "out", "dev-clean")
    assert bad["id"] == "84-121123-0001" and bad["reason"].startswith("label too long")


def test_common_voice_tsv_and_alphabet(tmp_path):
    tone(tmp_path / "clips" / "a.mp3", 2.0, format="MP3")
    tone(tmp_path / "clips" / "b.mp3", 2.0, format="MP3")
    header = "client_id\tpath\tsentence\tup_votes\n"
    (tmp_path / "train.tsv").write_text(header + "c1\ta.mp3\tHello there.\t2\nc2\tb.mp3\tIn 1999!\t1\n")
    paths = common_voice.prepare(tmp_path, tmp_path / "out")
    (kept,) = read_manifest(paths["train"])
    assert kept.id == "a" and kept.speaker == "c1" and 1.9 < kept.duration < 2.2
    assert "'1'" in rejected(tmp_path / "out", "train")[0]["reason"]
    assert len(read_manifest(common_voice.prepare(tmp_path, tmp_path / "o2", alphabet="any")["train"])) == 2


def test_folder_and_sphinx(tmp_path):
    tone(tmp_path / "talks" / "s1" / "a.wav")
    (tmp_path / "talks" / "s1" / "a.txt").write_text("first talk\n")
    tone(tmp_path / "talks" / "s2" / "b.flac")
    (tmp_path / "talks" / "s2" / "b.lab").write_text("second  talk")
    tone(tmp_path / "talks" / "s2" / "untranscribed.wav")
    rows = read_manifest(folder.prepare(tmp_path / "talks", tmp_path / "out")["all"])
    assert [(u.id, u.text, u.speaker) for u in rows] == [
        ("s1-a", "first talk", "s1"),
        ("s2-b", "second talk", "s2"),
    ]

    lv = tmp_path / "lv"
    tone(lv / "clip-1.wav")
    (lv / "transcription").write_text("<s> he was not ill </s> (clip-1)\n")
    (utt,) = read_manifest(sphinx.prepare(lv, tmp_path / "sp")["test"])
    assert (utt.id, utt.text) == ("clip-1", "he was not ill")


def test_split_groups_never_shares_a_speaker(tmp_path):
    from asr.manifest import Utterance

    utts = [Utterance(f"u{i}", tmp_path / f"{i}.wav", 1.0, "x", speaker=f"s{i % 7}") for i in range(70)]
    splits = split_groups(utts, "speaker", valid_fraction=0.15, test_fraction=0.15, seed=1)
    sides = [{u.speaker for u in splits[name]} for name in ("train", "valid", "test")]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(len(v) for v in splits.values()) == 70
    with pytest.raises(ValueError, match="no speaker"):
        split_groups([Utterance("a", tmp_path, 1.0, "x")], "speaker")


def test_merge_refuses_repeated_ids(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"id": "x", "audio_filepath": "x.wav", "duration": 1, "text": "a"}\n')
    b.write_text('{"id": "y", "audio_filepath": "y.wav", "duration": 1, "text": "b"}\n')
    assert [u.id for u in read_manifest(merge_manifests([a, b], tmp_path / "m.jsonl"))] == ["x", "y"]
    with pytest.raises(ValueError, match="'x' is in both"):
        merge_manifests([a, a], tmp_path / "m2.jsonl")


def test_cli_prep_validate_and_split(tmp_path, capsys):
    for index in range(12):
        for speaker in ("ann", "bob"):
            tone(tmp_path / "rec" / f"{index % 10}_{speaker}_{index}.wav", 0.5, 8000)
    assert main(["prep", "fsdd", str(tmp_path / "rec"), str(tmp_path / "out"), "-q"]) == 0
    assert "train\t" in capsys.readouterr().out
    manifest = tmp_path / "out" / "train.jsonl"
    assert main(["validate", str(manifest)]) == 0
    broken = tmp_path / "out" / "broken.jsonl"  # beside train.jsonl: its relative paths still resolve
    broken.write_text(manifest.read_text().replace('"text": "zero"', '"text": "0"'))
    assert main(["validate", str(broken)]) == 1
    assert "characters outside the alphabet: '0'" in capsys.readouterr().out
    assert main(["manifest", "split", str(manifest), str(tmp_path / "sp"), "--by", "speaker",
                 "--valid-fraction", "0", "--test-fraction", "0.5"]) == 0  # fmt: skip
    test_speakers = {u.speaker for u in read_manifest(tmp_path / "sp" / "test.jsonl")}
    assert len(test_speakers) == 1 and not test_speakers & {
        u.speaker for u in read_manifest(tmp_path / "sp" / "train.jsonl")
    }


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng")
def test_synthetic_voices(tmp_path):
    from data_prep import synthetic

    text = tmp_path / "s.txt"
    text.write_text("the cat sat on the mat\n\nhello world\n")
    voices = ["espeak-ng:en-us"] + [v for v in ("flite:slt", "festival:kal_diphone") if _has(v)]
    paths = synthetic.prepare(text, tmp_path / "out", voices=voices)
    rows = read_manifest(paths["synthetic"])
    assert len(rows) == 2 * len(voices)
    assert {u.text for u in rows} == {"the cat sat on the mat", "hello world"}
    for u in rows:
        info = soundfile.info(str(u.audio_filepath))
        assert info.samplerate == 16000 and info.channels == 1 and 0.5 < u.duration < 5
    mtimes = [u.audio_filepath.stat().st_mtime for u in rows]
    synthetic.prepare(text, tmp_path / "out", voices=voices)  # a re-run keeps what exists
    assert [u.audio_filepath.stat().st_mtime for u in rows] == mtimes
    with pytest.raises(synthetic.SynthesisError, match="ENGINE:VOICE"):
        synthetic.prepare(text, tmp_path / "x", voices=["nosuchengine"])


def _has(voice):
    from data_prep.synthetic import SynthesisError, check_voice

    try:
        check_voice(voice)
        return True
    except SynthesisError:
        return False


def test_merge_weights_repeat_and_subsample(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"id": "x", "audio_filepath": "x.wav", "duration": 1, "text": "a"}\n')
    b.write_text(
        "".join(
            f'{{"id": "y{i}", "audio_filepath": "y.wav", "duration": 1, "text": "b"}}\n' for i in range(10)
        )
    )
    ids = [u.id for u in read_manifest(merge_manifests([a, b], tmp_path / "m.jsonl", [2.0, 0.5], seed=1))]
    assert ids[:2] == ["x", "x~rep1"] and len(ids) == 7 and len(set(ids)) == 7
    again = [u.id for u in read_manifest(merge_manifests([a, b], tmp_path / "m.jsonl", [2.0, 0.5], seed=1))]
    assert again == ids
    with pytest.raises(ValueError, match="one positive number per manifest"):
        merge_manifests([a, b], tmp_path / "m.jsonl", [1.0])


def test_vctk_voxforge_and_speech_commands_layouts(tmp_path):
    from data_prep import speech_commands, vctk, voxforge

    v = tmp_path / "vctk"
    for stem, text in (("p239_001", "Please call Stella."), ("p239_002", "Ask her to bring these things.")):
        tone(v / "wav" / "p239" / f"{stem}.wav")
        (v / "txt" / "p239").mkdir(parents=True, exist_ok=True)
        (v / "txt" / "p239" / f"{stem}.txt").write_text(text + "\n")
    tone(v / "wav" / "p239" / "p239_003.wav")  # no transcript: left out
    rows = read_manifest(vctk.prepare(v, tmp_path / "out_vctk")["all"])
    assert [(u.id, u.speaker) for u in rows] == [("p239_001", "p239"), ("p239_002", "p239")]
    assert rows[0].text == "Please call Stella."

    x = tmp_path / "voxforge" / "anna-20070101-abc"
    (x / "etc").mkdir(parents=True)
    (x / "etc" / "PROMPTS").write_text("anna-20070101-abc/mfc/a0001 HELLO THERE\na0002 GOOD DAY\n")
    tone(x / "wav" / "a0001.wav")
    tone(x / "wav" / "a0002.wav")
    rows = read_manifest(voxforge.prepare(tmp_path / "voxforge", tmp_path / "out_vox")["all"])
    assert [(u.text, u.speaker) for u in rows] == [("HELLO THERE", "anna"), ("GOOD DAY", "anna")]

    s = tmp_path / "commands"
    tone(s / "zero" / "bed06fac_nohash_0.wav")
    tone(s / "right" / "aa11_nohash_1.wav")
    tone(s / "_background_noise_" / "white_noise.wav")
    rows = read_manifest(speech_commands.prepare(s, tmp_path / "out_sc")["all"])
    assert sorted((u.text, u.speaker) for u in rows) == [("right", "aa11"), ("zero", "bed06fac")]

"""Preparers for the real corpora in ../shared/data's shapes, on tiny copies written here:
Kaldi data dirs (with and without segments), LibriSpeech folders of MP3 and Opus, speaker splits."""

import json

import pytest
from test_prep import tone

from asr.cli import main
from asr.manifest import Utterance, read_manifest
from data_prep import kaldi, librispeech
from data_prep.common import split_groups


def rejected(out_dir, name):
    path = out_dir / f"{name}.rejected.jsonl"
    return (
        {r["id"]: r["reason"] for r in map(json.loads, path.read_text().splitlines())}
        if path.exists()
        else {}
    )


def test_kaldi_dir_without_segments_keeps_speakers_and_lists_bad_rows(tmp_path):
    corpus = tmp_path / "so"
    tone(corpus / "WAVE" / "S1" / "u1.ogg", 1.5, format="OGG", subtype="OPUS")
    tone(corpus / "WAVE" / "S1" / "u2.flac", 1.0)
    tone(corpus / "WAVE" / "S2" / "u3.wav", 1.2)
    tone(corpus / "WAVE" / "S2" / "u4.wav", 1.2)
    data = corpus / "train"
    data.mkdir()
    (data / "wav.scp").write_text("u1 WAVE/S1/u1.ogg\nu2 WAVE/S1/u2.flac\nu3\tWAVE/S2/u3.wav\n"
                                  "u4 WAVE/S2/u4.wav\nu5 WAVE/S2/gone.wav\n")  # fmt: skip
    (data / "text").write_text("u1 WE CALL IT BEAR\nu2\nu3 ZERO THREE\nu4 FIVE ONE\nu5 SIX\nu6 NO AUDIO\n")
    (data / "utt2spk").write_text("u1 S1\nu2 S1\nu3 S2\nu5 S2\nu6 S2\n")  # u4: unknown speaker
    (data / "spk2gender").write_text("S1 f\nS2 m\n")
    paths = kaldi.prepare(data, tmp_path / "out")
    rows = read_manifest(paths["train"])
    assert [(u.id, u.speaker, u.text) for u in rows] == [
        ("u1", "S1", "WE CALL IT BEAR"),
        ("u3", "S2", "ZERO THREE"),
    ]
    assert rows[0].duration == pytest.approx(1.5, abs=0.05)
    bad = rejected(tmp_path / "out", "train")
    assert bad["u2"] == "empty transcript" and bad["u4"] == "no speaker"
    assert bad["u5"].startswith("unreadable audio: file not found")
    assert bad["u6"].startswith("unreadable audio: file not found")


def test_kaldi_dir_with_segments_slices_recordings(tmp_path):
    data = tmp_path / "d"
    tone(tmp_path / "rec.wav", 6.0)
    data.mkdir()
    (data / "wav.scp").write_text(f"rec {tmp_path / 'rec.wav'}\n")
    (data / "segments").write_text("a rec 0.5 2.0\nb rec 2.5 5.75\nc rec 5.0 9.0\n")
    (data / "text").write_text("a HELLO\nb THERE WORLD\nc PAST THE END\n")
    (data / "utt2spk").write_text("a spk\nb spk\nc spk\n")
    paths = kaldi.prepare(data, tmp_path / "out", name="seg")
    rows = read_manifest(paths["seg"])
    assert [(u.id, u.offset, u.duration) for u in rows] == [("a", 0.5, 1.5), ("b", 2.5, 3.25)]
    assert rejected(tmp_path / "out", "seg")["c"].startswith("duration past the end of the file")


def test_kaldi_refuses_piped_commands_and_repeated_keys(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "text").write_text("a HI\n")
    (data / "wav.scp").write_text("a sox in.wav -t wav - |\n")
    with pytest.raises(ValueError, match="plain audio path"):
        kaldi.prepare(data, tmp_path / "out")
    (data / "wav.scp").write_text("a x.wav\na y.wav\n")
    with pytest.raises(ValueError, match="wav.scp:2: key 'a' repeats"):
        kaldi.prepare(data, tmp_path / "out")
    (data / "wav.scp").unlink()
    with pytest.raises(FileNotFoundError, match="wav.scp"):
        kaldi.prepare(data, tmp_path / "out")


@pytest.mark.parametrize(
    "suffix, kw", [(".mp3", {"format": "MP3"}), (".opus", {"format": "OGG", "subtype": "OPUS"})]
)
def test_librispeech_in_mp3_or_opus(tmp_path, suffix, kw):
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    tone(chapter / f"84-121123-0000{suffix}", 2.0, **kw)
    (chapter / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 MISSING\n")
    paths = librispeech.prepare(tmp_path, tmp_path / "out")
    (row,) = read_manifest(paths["dev-clean"])
    assert row.audio_filepath.suffix == suffix and row.speaker == "84" and 1.9 < row.duration < 2.2
    assert rejected(tmp_path / "out", "dev-clean")["84-121123-0001"].startswith(
        "unreadable audio: file not found"
    )


def test_split_by_speaker_counts_and_named_test_speakers(tmp_path, capsys):
    utts = [Utterance(f"u{i}", tmp_path / f"{i}.wav", 1.0, "x", speaker=f"s{i % 10}") for i in range(50)]
    splits = split_groups(utts, "speaker", seed=3, valid_count=2, test_count=3, test_groups=["s7"])
    speakers = {name: {u.speaker for u in rows} for name, rows in splits.items()}
    assert len(speakers["valid"]) == 2 and len(speakers["test"]) == 3 and "s7" in speakers["test"]
    assert len(speakers["train"]) == 5 and not speakers["train"] & (speakers["valid"] | speakers["test"])
    with pytest.raises(ValueError, match="not in the manifest"):
        split_groups(utts, "speaker", test_groups=["nobody"])
    with pytest.raises(ValueError, match="too few"):
        split_groups(utts, "speaker", valid_count=5, test_count=5)
    manifest = tmp_path / "m.jsonl"
    rows = [{"id": u.id, "audio_filepath": str(u.audio_filepath), "duration": 1.0, "text": "x",
             "speaker": u.speaker} for u in utts]  # fmt: skip
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["manifest", "split", str(manifest), str(tmp_path / "sp"), "--valid", "1", "--test", "2",
                 "--test-groups", "s1"]) == 0  # fmt: skip
    test = {u.speaker for u in read_manifest(tmp_path / "sp" / "test.jsonl")}
    assert len(test) == 2 and "s1" in test

import json

import pytest

from asr.manifest import ManifestError, Utterance, read_manifest, write_manifest


def write_lines(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_relative_paths_resolve_against_manifest_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    m = write_lines(
        tmp_path / "sub" / "m.jsonl",
        [
            {"audio_filepath": "a/x.wav", "duration": 1.5, "text": "hi"},
            {
                "audio_filepath": "/abs/y.flac",
                "duration": 2,
                "text": "there",
                "id": "u2",
                "speaker": 7,
            },
        ],
    )
    utts = read_manifest(m)
    assert utts[0].audio_filepath == (tmp_path / "sub" / "a" / "x.wav").resolve()
    assert utts[0].id == "x"
    assert utts[1].audio_filepath.as_posix() == "/abs/y.flac"
    assert utts[1].duration == 2.0 and utts[1].speaker == "7" and utts[1].id == "u2"


def test_blank_lines_are_skipped(tmp_path):
    m = write_lines(tmp_path / "m.jsonl", ["", {"audio_filepath": "x.wav", "duration": 1, "text": ""}, "  "])
    assert len(read_manifest(m)) == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ({"audio_filepath": "x.wav", "text": "a"}, "missing field"),
        ({"audio_filepath": "x.wav", "duration": -1, "text": "a"}, "must not be negative"),
        ({"audio_filepath": "x.wav", "duration": "long", "text": "a"}, "finite number"),
        ({"audio_filepath": "x.wav", "duration": 1, "text": 5}, "text must be a string"),
        ({"audio_filepath": "", "duration": 1, "text": "a"}, "non-empty"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line, message):
    good = {"audio_filepath": "ok.wav", "duration": 1, "text": "a"}
    m = write_lines(tmp_path / "m.jsonl", [good, line])
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(m)
    assert f"{m}:2" in str(info.value)


def test_duplicate_ids_are_an_error(tmp_path):
    row = {"audio_filepath": "dir1/a.wav", "duration": 1, "text": "a"}
    m = write_lines(tmp_path / "m.jsonl", [row, {**row, "audio_filepath": "dir2/a.wav"}])
    with pytest.raises(ManifestError, match=r"m.jsonl:2: id 'a' repeats line 1"):
        read_manifest(m)


def test_offsets_make_distinct_ids(tmp_path):
    m = write_lines(
        tmp_path / "m.jsonl",
        [
            {"audio_filepath": "long.wav", "duration": 1, "text": "a", "offset": 0},
            {"audio_filepath": "long.wav", "duration": 1, "text": "b", "offset": 1.5},
        ],
    )
    assert [u.id for u in read_manifest(m)] == ["long", "long-1.50"]


def test_round_trip(tmp_path):
    utts = [
        Utterance("a", tmp_path / "w" / "a.wav", 1.25, "hello world", speaker="s1"),
        Utterance("b", tmp_path / "w" / "b.wav", 0.5, "Ünïcode ok", offset=0.25),
    ]
    path = write_manifest(utts, tmp_path / "m.jsonl")
    assert '"audio_filepath": "w/a.wav"' in path.read_text(encoding="utf-8")
    assert [u.__dict__ for u in read_manifest(path)] == [u.__dict__ for u in utts]

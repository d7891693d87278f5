"""alphanumeric/: a clip is kept when the teacher's hearing, reduced to letters and digits, is its
prompt; its transcript then says each digit and spelled letter as a word."""

from __future__ import annotations

import json

import soundfile

from asr.manifest import read_manifest
from data_prep import alphanumeric
from data_prep.tones import tone_speech

HEADER = "Response_ID,file_name,Age,Name,Number,Address\n"


def _corpus(tmp_path):
    root = tmp_path / "alphanumeric"
    rows = [("R_a", "Names", "Saffron Robles"), ("R_a", "Numbers", "8885112931"),
            ("R_a", "Addresses", "48 Ridge Road"), ("R_b", "Numbers", "9196856019"),
            ("R_b", "Names", "Anannya")]  # fmt: skip
    lines = [HEADER]
    for i, (speaker, kind, prompt) in enumerate(rows):
        (root / kind).mkdir(parents=True, exist_ok=True)
        if (speaker, kind) != ("R_b", "Names"):  # one listed clip is missing, as in the real folder
            soundfile.write(root / kind / f"{speaker}.opus", tone_speech("abc", seed=i), 16000, format="OGG",
                            subtype="OPUS")  # fmt: skip
        columns = {"Names": (prompt, "", ""), "Numbers": ("", prompt, ""), "Addresses": ("", "", prompt)}
        name, number, address = columns[kind]
        lines.append(f"{speaker},audio_data/{kind}/{speaker}.wav,24,{name},{number},{address}\n")
    (root / "metadata.csv").write_text("".join(lines))
    return root


def test_clips_are_kept_when_the_teacher_hears_their_prompt(tmp_path, caplog):
    root = _corpus(tmp_path)
    heard = iter([("S-A-F-F-R-O-N R-O-B-L-E-S", "en"), ("8, 8, 8, 5, 1, 1, 2, 9, 3, 1.", "en"),
                  ("4-8 Ridge Roll", "en"), ("9, 1, 9, 6, 8, 5, 6, 0, 1, 9", "hi")])  # fmt: skip
    paths = alphanumeric.label_alphanumeric(root, tmp_path / "out", lambda waveform: next(heard))
    kept = read_manifest(paths["alphanumeric"])
    assert [u.id for u in kept] == ["R_a-names", "R_a-numbers"]
    assert kept[0].text == "s a f f r o n r o b l e s" and kept[0].speaker == "R_a"
    assert kept[1].text == "eight eight eight five one one two nine three one"
    every = [json.loads(line) for line in paths["all"].read_text().splitlines()]
    assert [r["kept"] for r in every] == [True, True, False, False]  # misheard road; not English
    assert every[2]["heard"] == "4-8 Ridge Roll" and every[2]["prompt"] == "48 Ridge Road"
    assert "1 clips listed in metadata.csv are missing" in caplog.text


def test_hearings_reduce_to_letters_and_digits_and_are_spoken_as_words():
    assert alphanumeric.reduced("S-E-F-F-R-O-N") == alphanumeric.reduced("seffron") == "seffron"
    assert alphanumeric.reduced("7204, McQueen Drive") == "7204mcqueendrive"
    spoken = alphanumeric.as_spoken("4-8 McQueen\u2019s Drive, 4-0-7.")
    assert spoken == "four eight mcqueen's drive four zero seven"

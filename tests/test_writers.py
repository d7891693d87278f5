"""Word times from forced alignment, and the txt/json/srt/vtt writers."""

import json
import re

import pytest
import soundfile
import torch
import torchaudio.functional as AF

from asr.cli import main
from asr.text import Vocabulary
from asr.timing import Word, _token_spans, word_times
from asr.transcribe import Transcript
from asr.writers import WRITERS, cues
from conftest import tone_speech


def test_word_times_from_a_known_path():
    vocab = Vocabulary.build(["ab ba"])  # <blank>, ' ', a, b
    frames = [2, 2, 0, 3, 0, 1, 1, 0, 3, 2, 0]  # a a _ b _ ' ' ' ' _ b a _
    lp = torch.full((len(frames), len(vocab)), -9.0)
    for t, token in enumerate(frames):
        lp[t, token] = -0.01
    words = word_times(lp.log_softmax(-1), vocab.encode("ab ba"), vocab, frame_seconds=0.04)
    assert [w.word for w in words] == ["ab", "ba"]
    assert words[0].start == pytest.approx(0.0) and words[0].end == pytest.approx(4 * 0.04)
    assert words[1].start == pytest.approx(8 * 0.04) and words[1].end == pytest.approx(10 * 0.04)
    assert all(0.9 < w.confidence <= 1.0 for w in words)
    assert word_times(lp, [], vocab, 0.04) == []


def test_token_spans_match_torchaudio_merge_tokens():
    """Our vectorised spans are torchaudio's merge_tokens, on paths with repeats, blanks at
    both ends, and none at all."""
    generator = torch.Generator().manual_seed(0)
    paths = [torch.randint(0, 4, (60,), generator=generator) for _ in range(20)]
    paths += [torch.tensor([0, 0, 0]), torch.tensor([2, 2, 2]), torch.tensor([1])]
    for path in paths:
        probs = torch.rand(path.shape, generator=generator)
        spans = AF.merge_tokens(path, probs)
        expected = [(s.token, s.start, s.end, s.score * (s.end - s.start)) for s in spans]
        got = _token_spans(path, probs)
        assert [s[:3] for s in got] == [s[:3] for s in expected]
        assert [s[3] for s in got] == pytest.approx([s[3] for s in expected], abs=1e-5)


def test_cues_split_on_pauses_and_length():
    words = [Word("one", 0.0, 0.3, 1.0), Word("two", 0.4, 0.7, 1.0), Word("three", 2.0, 2.4, 1.0)]
    assert cues(words) == [(0.0, 0.7, "one two"), (2.0, 2.4, "three")]
    many = [Word("w", i * 0.5, i * 0.5 + 0.4, 1.0) for i in range(30)]
    assert all(end - start <= 6.0 for start, end, _ in cues(many))


def test_writers_format():
    t = Transcript(
        "a.wav",
        "one two",
        3725.5,
        words=[Word("one", 3600.25, 3600.5, 0.9), Word("two", 3600.6, 3601.0, 0.8)],
    )
    assert WRITERS["txt"](t) == "one two\n"
    assert json.loads(WRITERS["json"](t))["words"][1]["word"] == "two"
    assert WRITERS["srt"](t) == "1\n01:00:00,250 --> 01:00:01,000\none two\n"
    assert WRITERS["vtt"](t) == "WEBVTT\n\n01:00:00.250 --> 01:00:01.000\none two\n"


CUE = re.compile(r"(\d\d):(\d\d):(\d\d)[.,](\d\d\d) --> (\d\d):(\d\d):(\d\d)[.,](\d\d\d)")


def seconds(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_from_the_cli_are_monotonic_and_inside_the_audio(trained_checkpoint, tmp_path, fmt):
    wave = tone_speech("dab cab", seed=3)  # = training utterance 3
    soundfile.write(tmp_path / "clip.wav", wave, 16000)
    out = tmp_path / "subs"
    assert main(["transcribe", str(tmp_path / "clip.wav"), "--model", str(trained_checkpoint),
                 "--format", fmt, "--output-dir", str(out), "-q"]) == 0  # fmt: skip
    text = (out / f"clip.{fmt}").read_text()
    times = [(seconds(*m.groups()[:4]), seconds(*m.groups()[4:])) for m in CUE.finditer(text)]
    assert times, text
    flat = [x for pair in times for x in pair]
    assert flat == sorted(flat) and flat[-1] <= len(wave) / 16000
    assert "dab" in text and "cab" in text

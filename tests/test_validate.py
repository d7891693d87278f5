import numpy as np
import pytest
import soundfile

from asr.config import ModelConfig, TextConfig
from asr.manifest import Utterance
from asr.text import Normalizer
from asr.validate import Limits, ctc_frames_needed, validate

NORM = Normalizer(TextConfig())


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "one_second.wav"
    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize(
    "duration, text, reason",
    [
        (1.0, "fine words", None),
        (0.05, "short", "too short"),
        (1.0, "?!", "empty transcript"),
        (1.0, "naïve", "characters outside the alphabet: 'ï'"),
        (1.0, "x" * 60, "label too long for its audio"),
        (1.5, "past the end", "duration past the end of the file"),
    ],
)
def test_each_reason(wav, duration, text, reason):
    report = validate([Utterance("u", wav, duration, text)], NORM, Limits())
    if reason is None:
        assert len(report.kept) == 1 and not report.rejected
    else:
        assert not report.kept and report.rejected[0][1].startswith(reason)


def test_too_long_and_unreadable(tmp_path, wav):
    garbage = tmp_path / "g.wav"
    garbage.write_bytes(b"garbage")
    rows = [Utterance("long", wav, 1.0, "ok"), Utterance("bad", garbage, 1.0, "ok")]
    report = validate(rows, NORM, Limits(max_duration=0.5))
    assert [r for _, r in report.rejected][0].startswith("too long")
    assert [r for _, r in report.rejected][1].startswith("unreadable audio: not a readable audio file")
    assert report.reasons() == {"too long": 1, "unreadable audio": 1}


def test_options_turn_checks_off(wav):
    row = Utterance("u", wav, 1.0, "naïve " + "xy" * 30)
    assert validate([row], NORM, Limits(alphabet=None, model=None)).kept == [row]
    stride1 = Limits(alphabet=None, model=ModelConfig(time_stride=1))
    assert validate([row], NORM, stride1).kept == [row]  # 101 frames hold 66 characters


def test_ctc_frames_needed_counts_repeats():
    assert ctc_frames_needed("aab") == 4 and ctc_frames_needed("") == 0

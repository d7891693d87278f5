"""asr teacher: clips packed into 30 s windows, frames cut back out on the student's frame grid,
stored in resumable shards; with the real whisper encoder where it is installed."""

import numpy as np
import pytest
import soundfile

from asr.config import FeatureConfig, ModelConfig
from asr.features import num_frames
from asr.frames import TeacherFrames
from asr.manifest import Utterance, write_manifest
from asr.model import output_length
from data_prep.teacher import ENCODER_HOP, WINDOW, pack, pool, teacher_frames

POOLED = 2 * ENCODER_HOP  # 40 ms: the default student's frame shift


class ProbeEncoder:
    """A stand-in encoder: frame t of a window holds [t, mean |sample| under it], 512 dims."""

    def __init__(self):
        self.windows = 0

    def __call__(self, windows):
        self.windows += len(windows)
        out = np.zeros((len(windows), WINDOW // ENCODER_HOP, 512), np.float32)
        out[:, :, 0] = np.arange(WINDOW // ENCODER_HOP)
        out[:, :, 1] = np.abs(windows).reshape(len(windows), -1, ENCODER_HOP).mean(axis=2)
        return out


def corpus(folder, seconds, broken=()):
    rows = []
    for i, s in enumerate(seconds):
        path = folder / f"c{i}.wav"
        if i in broken:
            path.write_bytes(b"not audio")
        else:
            soundfile.write(path, np.full(int(s * 16000), 0.5, np.float32), 16000)
        rows.append(Utterance(f"c{i}", path, s, "a"))
    write_manifest(rows, folder / "m.jsonl")
    return folder / "m.jsonl"


def test_clips_are_packed_on_the_pooled_grid_with_a_gap():
    waves = [np.ones(16000, np.float32), np.ones(8000, np.float32), np.ones(31 * 16000, np.float32)]
    windows = list(pack(waves, POOLED))
    first, placed = windows[0]
    assert placed == [(0, 0, 25), (1, 26, 13)]  # 1 s = 25 frames of 40 ms, then one frame of silence
    assert first[25 * POOLED : 26 * POOLED].sum() == 0 and first[26 * POOLED] == 1
    assert [p for _, p in windows[1:]] == [[(2, 0, 750)], [(2, 0, 25)]]  # 31 s: a window and a piece


def test_pool_averages_frame_pairs():
    assert pool(np.arange(10.0)[:, None], 2)[:, 0].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5]


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.37, 7.0, 29.9])
def test_teacher_frames_line_up_with_the_students(tmp_path, seconds):
    encoder = ProbeEncoder()
    out = teacher_frames(corpus(tmp_path, [3.3, seconds]), tmp_path / "t", encoder=encoder)
    frames = TeacherFrames(out)
    student = output_length(ModelConfig(time_stride=4), num_frames(int(seconds * 16000), FeatureConfig()))
    teacher = frames["c1"]
    assert teacher.dtype == np.float16 and teacher.shape[1] == 512
    assert abs(len(teacher) - student) <= 1, (len(teacher), student)
    assert np.all(teacher[:-1, 1] > 0.49)  # every frame but a part-filled last one lies on the clip's audio
    assert frames.info.frame_ms == 40.0 and frames.info.teacher == "whisper-base"


def test_a_killed_run_resumes_at_the_first_missing_shard(tmp_path):
    manifest = corpus(tmp_path, [1.0, 2.0, 1.5, 0.7, 3.0], broken={3})
    first = ProbeEncoder()
    out = teacher_frames(manifest, tmp_path / "t", shard_size=2, encoder=first)
    assert sorted(TeacherFrames(out).index) == ["c0", "c1", "c2", "c4"]  # c3 is not audio: left out
    (out / "shard-00001.jsonl").unlink()
    again = ProbeEncoder()
    teacher_frames(manifest, out, shard_size=2, encoder=again)
    assert again.windows == 1 and len(TeacherFrames(out)) == 4  # only shard 1 (c2, c3) again
    with pytest.raises(ValueError, match="multiple"):
        teacher_frames(manifest, tmp_path / "u", frame_ms=30, encoder=again)


@pytest.mark.slow
def test_the_whisper_encoder_gives_finite_frames_for_speechlike_audio(tmp_path):
    pytest.importorskip("faster_whisper")
    from data_prep.teacher import WhisperEncoder

    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", wave, 16000)
    write_manifest([Utterance("a", tmp_path / "a.wav", 2.0, "x")], tmp_path / "m.jsonl")
    out = TeacherFrames(teacher_frames(tmp_path / "m.jsonl", tmp_path / "t", encoder=WhisperEncoder()))
    frames = out["a"].astype(np.float32)
    assert frames.shape == (50, 512) and np.isfinite(frames).all() and frames.std() > 0.01

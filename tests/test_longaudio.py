"""Long inputs: chunked inference with overlap gives the words of whole-file inference, with
global times, and segments cut only in pauses."""

import dataclasses

import numpy as np
import soundfile
import torch

import asr
from asr.features import FeatureExtractor
from asr.longaudio import pause_segments, stitched_log_probs
from asr.model import ModelOutput
from conftest import RATE, TINY_TEXTS, tone_speech


def test_pause_segments_cover_everything_and_cut_in_blank_runs():
    frames = torch.full((100, 3), -10.0)
    frames[:, 0] = 0.0  # blank everywhere ...
    speech = [range(5, 30), range(33, 58), range(61, 95)]
    for r in speech:
        for t in r:  # ... except inside three "words"
            frames[t] = torch.tensor([-10.0, 0.0, -10.0])
    spans = pause_segments(frames, max_frames=40, search_frames=20)
    assert spans[0][0] == 0 and spans[-1][1] == 100
    assert all(a < b and b - a <= 40 for a, b in spans) and all(
        x[1] == y[0] for x, y in zip(spans, spans[1:])
    )
    for _, cut in spans[:-1]:
        assert not any(cut in r for r in speech), spans  # never inside a word


class FrameLocalModel(torch.nn.Module):
    """Each output frame sees only its own ``stride`` input frames, so chunked inference must
    reproduce whole-file inference exactly: any frame lost or doubled at a seam shows."""

    def __init__(self, n_mels: int, vocab: int, stride: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj, self.stride = torch.nn.Linear(n_mels, vocab), stride

    def forward(self, feats, lengths):
        b, t, f = feats.shape
        pad = (-t) % self.stride
        pooled = torch.nn.functional.pad(feats, (0, 0, 0, pad)).reshape(b, -1, self.stride, f).mean(2)
        return ModelOutput(
            torch.log_softmax(3 * self.proj(pooled), -1), (lengths + self.stride - 1) // self.stride
        )


def test_chunked_inference_is_exact_for_a_frame_local_model(trained_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    texts = [TINY_TEXTS[i] for i in rng.integers(0, len(TINY_TEXTS), 24)]
    wave = np.concatenate([tone_speech(t, seed=i) for i, t in enumerate(texts)])
    path = tmp_path / "long.wav"
    soundfile.write(path, wave, RATE)
    seconds = wave.size / RATE
    model = asr.load_model(trained_checkpoint)
    model.extractor = FeatureExtractor(dataclasses.replace(model.config.features, normalize="none"))
    model.model = FrameLocalModel(
        model.config.features.n_mels, len(model.vocab), model.config.model.time_stride
    )
    whole = dataclasses.replace(model.config.decode, chunk_seconds=0)
    chunked = dataclasses.replace(model.config.decode, chunk_seconds=2.5, chunk_overlap=0.5)
    assert seconds > 4 * chunked.chunk_seconds

    feats = model.extractor(torch.from_numpy(wave))[None]
    reference = model.model(feats, torch.tensor([feats.shape[1]])).log_probs[0]
    stitched = stitched_log_probs(model, path, seconds, 2.5, 0.5, torch.device("cpu"))
    n = min(len(stitched), len(reference)) - 1  # the very last frame sees a different edge
    assert abs(len(stitched) - len(reference)) <= 1
    # Equal up to float32 FFT rounding (the FFT runs over different signal lengths).
    assert (stitched[:n] - reference[:n]).abs().max() < 0.05
    assert torch.equal(stitched[:n].argmax(-1), reference[:n].argmax(-1))

    (whole_t,) = asr.transcribe(model, path, decode=whole)
    (chunked_t,) = asr.transcribe(model, path, decode=chunked)
    # This random model never emits a space, so compare letters: none lost or doubled at seams.
    assert chunked_t.text.replace(" ", "") == whole_t.text.replace(" ", "") and len(whole_t.text) > 20
    starts = [w.start for w in chunked_t.words]
    assert starts == sorted(starts) and chunked_t.words[-1].end > seconds - 2.5  # global times
    (from_tensor,) = asr.transcribe(model, torch.from_numpy(wave), decode=chunked)
    assert from_tensor.text == chunked_t.text


def test_one_long_file_shows_progress_over_its_chunks(trained_checkpoint, tmp_path, capsys):
    """``asr transcribe --progress``: a bar over a long file's chunks, also where stderr is a file."""
    from asr.cli import main

    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros(int(70 * RATE), np.float32), RATE)  # 3 chunks of 30 s
    assert main(["transcribe", str(path), "--model", str(trained_checkpoint), "--decoder", "greedy",
                 "--progress"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "long.wav: 100%" in err and "3/3" in err
    assert main(["transcribe", str(path), "--model", str(trained_checkpoint), "--decoder", "greedy"]) == 0
    assert "long.wav" not in capsys.readouterr().err  # not a terminal, no --progress: no bar

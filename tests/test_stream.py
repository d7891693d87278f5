"""Streaming: frames equal offline inference whatever the piece sizes, memory stays bounded,
and partial/final events give the offline transcript."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from asr.checkpoint import build_payload, recognizer_from_payload
from asr.config import load_config
from asr.features import FeatureExtractor
from asr.load import load_model
from asr.model import AcousticModel
from asr.recognizer import StreamingAcoustics, check_streamable
from asr.stream import Streamer
from asr.text import Vocabulary
from asr.transcribe import transcribe
from tests.conftest import tone_stream


def random_recognizer(*overrides, normalize="global"):
    cfg = load_config(None, ["model.hidden_size=16", "model.num_layers=2", "model.conv_channels=4",
                             "model.bidirectional=false", "features.n_mels=24",
                             f"features.normalize={normalize}", *overrides])  # fmt: skip
    torch.manual_seed(0)
    vocab = Vocabulary.build(["abc d"])
    extractor = FeatureExtractor(cfg.features, torch.randn(24), torch.rand(24) + 0.5)
    model = AcousticModel(cfg.model, 24, len(vocab)).eval()
    if model.lookahead is not None:
        with torch.no_grad():
            model.lookahead.conv.weight.normal_()  # not the identity it starts as
    return recognizer_from_payload(build_payload(cfg, model, extractor, vocab))


@pytest.mark.parametrize(
    "overrides",
    [
        ("model.time_stride=4", "model.lookahead=2"),
        ("model.time_stride=2", "model.rnn_type=gru"),
        ("model.time_stride=1", "model.lookahead=3"),
    ],  # fmt: skip
    ids=["lstm-s4-la2", "gru-s2", "lstm-s1-la3"],
)
@pytest.mark.parametrize("num_samples", [40037, 1600, 150])
def test_streamed_frames_equal_whole_stream_inference(overrides, num_samples):
    rec = random_recognizer(*overrides)
    wave = torch.randn(num_samples)
    with torch.no_grad():
        feats = rec.extractor(wave)[None]
        want = rec.model(feats, torch.tensor([feats.shape[1]])).log_probs[0]
    stream, got, i = StreamingAcoustics(rec), [], 0
    rng = random.Random(num_samples)
    while i < num_samples:  # pieces from one sample to a fifth of a second, in any order
        size = rng.choice([1, 37, 160, 161, 1600, 3200])
        got.append(stream.accept(wave[i : i + size]))
        i += size
    got = torch.cat([*got, stream.finish()])
    assert got.shape == want.shape
    assert (got - want).abs().max() < 1e-5


def test_a_long_stream_keeps_bounded_buffers():
    rec = random_recognizer("model.time_stride=4", "model.lookahead=2")
    stream = StreamingAcoustics(rec)
    piece = 1600  # 100 ms
    frames = 0
    for _ in range(600):  # one minute
        frames += stream.accept(torch.randn(piece) * 0.1).shape[0]
        assert stream.audio.numel() < 2 * piece
        assert stream.feats.shape[0] < 30
        assert stream.rnn_out.shape[0] <= 2 + 3
    frames += stream.finish().shape[0]
    assert frames == rec.model.output_lengths(torch.tensor([600 * piece // 160 + 1])).item()


def test_models_that_cannot_stream_are_refused():
    with pytest.raises(ValueError, match="bidirectional model needs the whole utterance"):
        check_streamable(random_recognizer("model.bidirectional=true"))
    with pytest.raises(ValueError, match="normalises features per utterance"):
        StreamingAcoustics(random_recognizer(normalize="utterance"))
    with pytest.raises(ValueError, match="features.onset_db"):
        StreamingAcoustics(random_recognizer("features.onset_db=40"))


@pytest.mark.slow
def test_partials_then_finals_give_the_offline_transcript(streaming_checkpoint):
    rec = load_model(streaming_checkpoint)
    texts = ["bead", "dab cab"]
    wave = torch.from_numpy(tone_stream(texts))
    # offline, nothing marks the pause between utterances as a word boundary (training never did)
    offline = transcribe(rec, wave)[0]
    assert offline.text.replace(" ", "") == "".join(texts).replace(" ", "")  # the model knows them
    streamer = Streamer(rec, pause_seconds=0.3)
    events = []
    for i in range(0, wave.numel(), 1600):
        events += streamer.accept(wave[i : i + 1600])
    events += streamer.finish()
    finals = [e for e in events if e.kind == "final"]
    assert [e.text for e in finals] == texts  # one final per utterance, at its pause
    kinds = [e.kind for e in events]
    assert kinds[0] == "partial" and kinds.index("final") > 0
    assert [w.word for e in finals for w in e.words] == "bead dab cab".split()
    starts = [w.start for e in finals for w in e.words]
    assert starts == sorted(starts) and starts[-1] > 1.2  # times on the stream's clock
    assert abs(starts[-1] - offline.words[-1].start) < 0.05
    latencies = [x for e in events for x in e.latencies]
    assert len(latencies) == len("bead" + "dab cab")  # each character (and the space) shown once
    # a character is shown after its frame's lookahead and at most one piece (0.1 s) later
    assert all(0 < x < 0.1 + 0.02 * 3 + 0.05 + 0.3 for x in latencies)  # piece, lookahead, conv, compute


@pytest.mark.slow
def test_cli_streams_raw_pcm_from_stdin(streaming_checkpoint, tmp_path):
    texts = ["bead", "dab cab"]
    pcm = (tone_stream(texts) * 32767).astype("<i2").tobytes()
    cli = [sys.executable, "-m", "asr", "stream", "--model", str(streaming_checkpoint), "--pause", "0.3"]
    plain = subprocess.run(cli, input=pcm, capture_output=True, check=True)
    assert plain.stdout.decode().splitlines() == texts
    assert "character latency median" in plain.stderr.decode()
    events = [json.loads(line) for line in subprocess.run(
        [*cli, "--json", "-q"], input=pcm, capture_output=True, check=True).stdout.splitlines()]  # fmt: skip
    assert [e["text"] for e in events if e["kind"] == "final"] == texts
    assert any(e["kind"] == "partial" for e in events)
    bundled = subprocess.run([sys.executable, "-m", "asr", "stream"], input=pcm, capture_output=True)
    assert bundled.returncode == 2 and b"bidirectional model" in bundled.stderr


def test_odd_byte_counts_and_empty_input():
    import io

    from asr.stream import pcm_pieces

    samples = (np.arange(7) * 1000).astype("<i2").tobytes() + b"\x01"  # 7 samples and a stray byte
    pieces = list(pcm_pieces(io.BytesIO(samples), 3))
    assert [p.numel() for p in pieces] == [3, 3, 1]
    assert torch.allclose(torch.cat(pieces) * 32768, torch.arange(7.0) * 1000)
    rec = random_recognizer("model.time_stride=4")
    assert Streamer(rec).finish() == []

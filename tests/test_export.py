"""ONNX and TorchScript export: exported graphs must give the eager model's outputs, carry
their decode settings, and fail clearly on files that are not theirs."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from asr.checkpoint import CheckpointError, build_payload, save_checkpoint
from asr.config import DecodeConfig, load_config
from asr.export import export_checkpoint, export_graph, model_kind
from asr.features import FeatureExtractor
from asr.load import load_model
from asr.model import AcousticModel
from asr.text import Vocabulary
from asr.transcribe import transcribe

SUFFIX = {"onnx": ".onnx", "torchscript": ".ts"}


def random_checkpoint(path, *overrides):
    cfg = load_config(None, ["model.hidden_size=16", "model.num_layers=2", "model.conv_channels=4",
                             "model.time_stride=4", "features.n_mels=24", "features.normalize=global",
                             *overrides])  # fmt: skip
    vocab = Vocabulary.build(["abc d"])
    extractor = FeatureExtractor(cfg.features, torch.randn(24), torch.rand(24) + 0.5)
    torch.manual_seed(0)
    model = AcousticModel(cfg.model, cfg.features.n_mels, len(vocab)).eval()
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(build_payload(cfg, model, extractor, vocab), path)


def padded_batch(n_mels, lengths):
    feats = torch.randn(len(lengths), max(lengths), n_mels)
    for row, n in enumerate(lengths):
        feats[row, n:] = 0.0  # as collate pads
    return feats, torch.tensor(lengths)


STREAMING = ("model.bidirectional=false", "model.lookahead=2", "model.rnn_type=gru")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("model_overrides", [(), STREAMING], ids=["bilstm", "gru-lookahead"])
def test_exported_graph_matches_eager_on_a_padded_batch(tmp_path, fmt, model_overrides):
    ckpt = random_checkpoint(tmp_path / "m.pt", *model_overrides)
    (out,) = export_graph(ckpt, tmp_path / f"m{SUFFIX[fmt]}", fmt)
    assert model_kind(out) == fmt and model_kind(ckpt) == "torch"
    eager, graph = load_model(ckpt), load_model(out)
    assert graph.model.backend == fmt and graph.vocab.tokens == eager.vocab.tokens
    assert torch.equal(graph.extractor.mean, eager.extractor.mean)
    feats, lengths = padded_batch(24, [97, 160, 33])  # lengths unlike the 200-frame tracing example
    with torch.no_grad():
        want, got = eager.model(feats, lengths), graph.model(feats, lengths)
    assert torch.equal(got.output_lengths, want.output_lengths)
    for row, n in enumerate(want.output_lengths.tolist()):
        diff = (got.log_probs[row, :n] - want.log_probs[row, :n]).abs().max().item()
        assert diff < 1e-4, f"{fmt} row {row}: max |diff| {diff:.2e}"


def test_onnx_export_with_lm_moves_as_a_folder_and_decodes_alike(tmp_path, trained_checkpoint, tone_manifest):
    from asr.lm import build_files
    from asr.manifest import read_manifest
    from tests.conftest import TINY_TEXTS

    (tmp_path / "text.txt").write_text("\n".join(TINY_TEXTS) + "\n")
    arpa, _ = build_files(tmp_path / "text.txt", tmp_path / "lm" / "words.arpa", order=2)
    decode = DecodeConfig(method="beam", lm=str(arpa), lm_weight=0.3, beam_size=8)
    files = export_graph(trained_checkpoint, tmp_path / "ship" / "model.onnx", "onnx", decode=decode)
    assert sorted(p.name for p in files) == ["model.lexicon", "model.lm.arpa.gz", "model.onnx"]
    (tmp_path / "ship").rename(tmp_path / "moved")
    graph = load_model(tmp_path / "moved" / "model.onnx")
    assert graph.config.decode.lm == str(tmp_path / "moved" / "model.lm.arpa.gz")
    audio = [u.audio_filepath for u in read_manifest(tone_manifest)[:4]]
    eager = load_model(trained_checkpoint)
    want = transcribe(eager, audio, decode=decode)
    got = transcribe(graph, audio)  # the exported decode settings: beam + LM
    assert [t.text for t in got] == [t.text for t in want] and any(t.text for t in got)
    assert [w.word for t in got for w in t.words] == [w.word for t in want for w in t.words]


def test_backend_choice(tmp_path):
    ckpt = random_checkpoint(tmp_path / "m.pt")
    graph = load_model(ckpt, backend="onnx")  # exported on the fly
    assert graph.model.backend == "onnx"
    (onnx_file,) = export_graph(ckpt, tmp_path / "m.onnx", "onnx")
    with pytest.raises(CheckpointError, match="cannot run with backend 'torch'"):
        load_model(onnx_file, backend="torch")
    with pytest.raises(ValueError, match="unknown backend"):
        load_model(ckpt, backend="tensorrt")


def test_unreadable_or_foreign_graphs_are_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        load_model(tmp_path / "junk.onnx")
    node = helper.make_node("Identity", ["x"], ["y"])
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "xy"]
    onnx.save(helper.make_model(helper.make_graph([node], "g", io[:1], io[1:])), tmp_path / "other.onnx")
    with pytest.raises(CheckpointError, match="without asr metadata"):
        load_model(tmp_path / "other.onnx")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_cli_export_then_transcribe_with_onnx(tmp_path, trained_checkpoint, tone_manifest):
    from asr.manifest import read_manifest

    wav = read_manifest(tone_manifest)[0].audio_filepath
    cli = [sys.executable, "-m", "asr"]
    run = lambda *a: subprocess.run([*cli, *a], capture_output=True, text=True, check=True)  # noqa: E731
    run("export", "--model", str(trained_checkpoint), "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
    eager = run("transcribe", "-q", "--model", str(trained_checkpoint), wav).stdout
    assert run("transcribe", "-q", "--model", str(tmp_path / "m.onnx"), wav).stdout == eager
    ts = run("transcribe", "-q", "--model", str(trained_checkpoint), "--backend", "torchscript", wav)
    assert ts.stdout == eager
    failed = subprocess.run([*cli, "export", "--model", str(trained_checkpoint), "--format", "onnx", "--half",
                             "-o", str(tmp_path / "h.onnx")], capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 2 and "--half applies to --format checkpoint only" in failed.stderr


def test_a_missing_optional_package_is_named_with_its_extra(tmp_path, monkeypatch):
    from asr.runtime import MissingDependency

    ckpt = random_checkpoint(tmp_path / "m.pt")
    (onnx_file,) = export_graph(ckpt, tmp_path / "m.onnx", "onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency, match=r"pip install 'asr\[onnx\]'"):
        export_graph(ckpt, tmp_path / "again.onnx", "onnx")
    with pytest.raises(MissingDependency, match=r"run with onnxruntime"):
        load_model(onnx_file)


def test_cli_export_stores_the_decode_flags(tmp_path, trained_checkpoint):
    from asr.cli import main

    out = tmp_path / "tuned.pt"
    flags = ["--beam-size", "7", "--beam-threshold", "4.5", "--batch-seconds", "30"]
    assert main(["export", "-q", "--model", str(trained_checkpoint), "-o", str(out), *flags]) == 0
    decode = load_model(out).config.decode
    assert (decode.beam_size, decode.beam_threshold, decode.batch_seconds) == (7, 4.5, 30.0)
    assert load_model(trained_checkpoint).config.decode.beam_threshold != 4.5


def test_cli_export_sets_where_clips_start_and_nothing_else(tmp_path, trained_checkpoint):
    from asr.cli import main

    out = tmp_path / "onset.pt"
    flags = ["--onset-db", "40", "--onset-margin-ms", "320", "--onset-align-ms", "40"]
    assert main(["export", "-q", "--model", str(trained_checkpoint), "-o", str(out), *flags]) == 0
    exported, trained = load_model(out), load_model(trained_checkpoint)
    assert exported.extractor.cfg == exported.config.features
    assert exported.config.features == dataclasses.replace(
        trained.config.features, onset_db=40.0, onset_margin_ms=320.0, onset_align_ms=40.0)  # fmt: skip
    assert trained.config.features.onset_db == 0
    with pytest.raises(ValueError, match="whole number of hop_ms"):
        odd = dataclasses.replace(trained.config.features, onset_align_ms=15.0)
        export_checkpoint(trained_checkpoint, tmp_path / "bad.pt", features=odd)
    with pytest.raises(ValueError, match="not the features the weights were trained on"):
        wider = dataclasses.replace(trained.config.features, n_mels=trained.config.features.n_mels + 1)
        export_checkpoint(trained_checkpoint, tmp_path / "bad.pt", features=wider)

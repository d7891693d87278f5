"""Inference precision: bf16 and int8 agree with fp32 within stated tolerances, on any CPU."""

from __future__ import annotations

import pytest
import torch

from asr import precision
from asr.audio import load_audio
from asr.checkpoint import read_checkpoint
from asr.cli import main
from asr.load import load_model
from asr.transcribe import transcribe
from conftest import TINY_TEXTS

# Tolerances on the tiny tone model (log-probs of real frames). bf16 keeps 8 bits of mantissa;
# int8 quantizes weights per tensor and activations per batch, so it moves log-probs more.
MAX_LOGP_DELTA = {"bf16": 0.25, "int8": 1.0}


def _log_probs(recognizer, features, lengths):
    with torch.no_grad():
        out = recognizer.model(features, lengths)
    mask = torch.arange(out.log_probs.shape[1])[None] < out.output_lengths[:, None]
    return out.log_probs, mask


@pytest.mark.parametrize("name", ["bf16", "int8"])
def test_precisions_agree_with_fp32(trained_checkpoint, tone_manifest, name):
    files = sorted((tone_manifest.parent / "wav").glob("*.wav"))[:4]
    fp32 = load_model(trained_checkpoint, precision="fp32")
    other = load_model(trained_checkpoint, precision=name)
    assert other.precision == name
    feats = [fp32.extractor(load_audio(f)) for f in files]
    lengths = torch.tensor([f.shape[0] for f in feats])
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)  # padded: per-direction / packed paths
    ref, mask = _log_probs(fp32, batch, lengths)
    got, _ = _log_probs(other, batch, lengths)
    assert got.dtype == torch.float32  # log-softmax (and decoding) stay fp32
    assert (got - ref).abs()[mask].max() < MAX_LOGP_DELTA[name]
    assert [t.text for t in transcribe(other, files)] == [t.text for t in transcribe(fp32, files)]


def test_auto_is_fp32_with_or_without_bf16_hardware(monkeypatch):
    for has_bf16 in (True, False):  # bf16 moved held-out WER by more than the 0.3-point bound
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda has_bf16=has_bf16: has_bf16)
        assert precision.resolve("auto", "cpu") == "fp32"
    assert precision.resolve("int8", "cpu") == "int8"
    with pytest.raises(ValueError, match="CPU only"):
        precision.resolve("int8", "cuda")
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve("fp16", "cpu")


def test_model_files_carry_their_precision(trained_checkpoint):
    assert load_model(trained_checkpoint).precision == "fp32"  # auto
    assert load_model(trained_checkpoint, precision="int8").precision == "int8"


@pytest.mark.slow
def test_export_carries_precision(trained_checkpoint, tone_manifest, tmp_path, capsys):
    wav = str(tone_manifest.parent / "wav" / "utt0.wav")
    want = TINY_TEXTS[0]
    bf16 = tmp_path / "bf16.pt"
    assert main(["export", "--model", str(trained_checkpoint), "-o", str(bf16), "--precision", "bf16"]) == 0
    payload = read_checkpoint(bf16)
    assert payload["config"]["decode"]["precision"] == "bf16"
    assert {v.dtype for v in payload["model"].values() if v.is_floating_point()} == {torch.bfloat16}
    assert load_model(bf16).precision == "bf16"
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    int8 = tmp_path / "int8.onnx"
    assert main(["export", "--model", str(trained_checkpoint), "-o", str(int8), "--format", "onnx",
                 "--precision", "int8"]) == 0  # fmt: skip
    fp32 = tmp_path / "fp32.onnx"
    assert main(["export", "--model", str(trained_checkpoint), "-o", str(fp32), "--format", "onnx"]) == 0
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size  # int8 weights
    assert load_model(int8).precision == "int8"
    capsys.readouterr()
    assert main(["transcribe", wav, "--model", str(int8)]) == 0
    assert capsys.readouterr().out.strip() == want.lower()
    assert main(["transcribe", wav, "--model", str(fp32), "--precision", "int8"]) == 0  # quantized at load
    assert capsys.readouterr().out.strip() == want.lower()
    assert main(["transcribe", wav, "--model", str(fp32), "--precision", "bf16"]) == 2  # no bf16 in ORT
    assert "cannot run at bf16" in capsys.readouterr().err
    bf16_onnx = ["-o", str(tmp_path / "x.onnx"), "--format", "onnx", "--precision", "bf16"]
    assert main(["export", "--model", str(trained_checkpoint), *bf16_onnx]) == 2

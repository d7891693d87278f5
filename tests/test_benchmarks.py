"""Every benchmark runs at ``--smoke`` size on data it makes itself, in this process, so a refactor
cannot break one unseen; and the benchmarks use only asr's public API."""

import ast
import importlib
from pathlib import Path

import pytest

import asr
import asr.lm

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# script -> what its smoke output must hold (a behaviour where the tiny data allows one)
EXPECTED = {
    "speed/throughput": ["default (lstm 3x256, stride 2)", "lstm 5x512, stride 4"],
    "speed/train_step": ["DS2-style lstm 3x256", "per-direction (CPU default)", "+ phone head",
                         "+ distillation head"],
    "speed/inference_batch": ["transcripts differ from the baseline's at caps: none"],
    "speed/decoding": ["greedy", "beam 10, no LM", "beam 10, model.lm.bin"],
    "speed/precision": ["bf16", "int8", "onnx fp32"],
    "speed/export_speed": ["ONNX Runtime", "TorchScript", "1/1"],
    "speed/startup": ["| 1 |"],
    "speed/long_audio": ["30 s", "off"],
    "speed/streaming": ["offline (baseline)", "4/4"],  # streamed text = offline text
    "speed/lm_build": ["| asr lm build | 5,000 | 3 | none |", "| asr.lm.build (dict) | 5,000 |"],
    "speed/prep_speed": ["asr prep folder (headers + validation)", "flite:slt"],
    "speed/soak": ["unexpected answers: 0", "verdict: PASS"],
    "speed/gpu_check": ["| resume halfway = never stopped | pass |", "| train amp=none | pass |",
                        "| GPU beam decoder | not run | no CUDA |", "throughput, default model"],
    "studies/architecture": ["lstm-2x256-s4", "gru-3x256-s4"],
    "studies/augment": ["tones/telephone", "\nall "],
    "studies/compare_systems": ["asr greedy", "asr beam+LM"],
    "studies/ensemble": ["ensemble of 2", "B - A +0.00 WER points"],  # a model with itself: no change
    "studies/pseudo_labels": ["| model.pt | 0.00 | 4/4 |"],
    # the bundled model's onset settings; no shift changes nothing
    "studies/shift": ["model.pt, greedy, features: onset_db=40, onset_margin_ms=320, onset_align_ms=40",
                      "| 0 |", "| 0/4 | 0.00 |", "| 20 |"],
    "studies/text_overlap": ["| 6 |"],
}
SCRIPTS = sorted(str(p.relative_to(BENCHMARKS).with_suffix("")) for p in BENCHMARKS.glob("*/*.py")
                 if p.name != "__init__.py")  # fmt: skip


def test_every_benchmark_has_a_smoke_check():
    assert sorted(EXPECTED) == SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_smoke(script, capsys):
    if script == "speed/soak":
        pytest.importorskip("fastapi")
    module = importlib.import_module("benchmarks." + script.replace("/", "."))
    assert module.main(["--smoke"]) in (None, 0)
    out = capsys.readouterr().out
    missing = [text for text in EXPECTED[script] if text not in out]
    assert not missing, out[-3000:]


def test_benchmarks_use_only_the_public_api():
    public = {"asr": set(asr.__all__), "asr.lm": set(asr.lm.__all__), "asr.cli.flags": {"add_decode_flags",
              "decode_config"}}  # fmt: skip
    bad = []
    for path in sorted(BENCHMARKS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(BENCHMARKS)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "asr":
                bad += [f"{where} {node.module}.{a.name}" for a in node.names
                        if a.name not in public.get(node.module or "", set())]  # fmt: skip
            elif isinstance(node, ast.Import):
                bad += [f"{where} import {a.name}" for a in node.names if a.name.startswith("asr.")]
            elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "asr":
                bad += [f"{where} asr.{node.attr}"] if node.attr not in public["asr"] else []
    assert bad == []

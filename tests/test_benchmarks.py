"""The benchmark scripts that guard behaviour run at smoke size, so a refactor cannot break them
unseen: the soak of asr serve (real and hostile clients) and the GPU check (its CPU fallback)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_soak_smoke_passes_with_hostile_clients():
    pytest.importorskip("fastapi")
    out = run("soak.py", "--smoke")
    assert "unexpected answers: 0" in out and "verdict: PASS" in out


def test_gpu_check_smoke_on_the_cpu():
    out = run("gpu_check.py", "--smoke", "--device", "cpu")
    assert "| resume halfway = never stopped | pass |" in out and "| train amp=none | pass |" in out
    assert "| GPU beam decoder | not run | no CUDA |" in out and "throughput, default model" in out

"""A real 2-process DDP run (torchrun, gloo on CPU): data split, weights in step, resume."""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from asr.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
COMMON = ["model.dropout=0.2", "model.num_layers=2", "data.max_batch_seconds=1.0", "train.epochs=3"]


def torchrun(manifest: Path, exp: Path, out: Path, *args: str) -> tuple[dict, dict]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(HERE / "ddp_driver.py"), str(manifest), str(exp), str(out), *COMMON, *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "(SIGABRT)" in done.stderr:
        # A rank sometimes aborts in C++ ("terminate called without an active exception", no Python
        # traceback; about 1 run in 10 in this suite, never in 8 runs by hand): run once more from a
        # clean folder, and say so. PYTHONFAULTHANDLER above is there to catch where, next time.
        warnings.warn(f"a rank aborted (SIGABRT); running again:\n{done.stderr[-1500:]}", stacklevel=2)
        if "--resume" not in args:
            shutil.rmtree(exp, ignore_errors=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = {r: json.loads((out / f"seen{r}.json").read_text()) for r in (0, 1)}
    params = {r: torch.load(out / f"params{r}.pt", weights_only=True) for r in (0, 1)}
    return seen, params


def test_two_process_gloo_run_splits_data_keeps_weights_equal_and_resumes(tone_manifest, tmp_path):
    seen, params = torchrun(tone_manifest, tmp_path / "straight", tmp_path / "o1", "train.max_steps=8")
    ids0, ids1 = seen[0]["utt_ids"], seen[1]["utt_ids"]
    assert ids0 and ids1 and seen[0]["steps"] == seen[1]["steps"] == 8
    assert ids0 != ids1
    assert not set(ids0[:4]) & set(ids1[:4])  # the first epoch's batches go to one rank each
    for name, value in params[0].items():
        assert torch.equal(value, params[1][name]), name  # DDP kept the replicas identical
    log = (tmp_path / "straight" / "train.log").read_text()
    assert "2 processes (DDP)" in log

    # Stop after 3 steps (mid-epoch), resume to 8: same weights as the straight run.
    torchrun(tone_manifest, tmp_path / "split", tmp_path / "o2", "train.max_steps=3")
    assert read_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["train_state"]["step"] == 3
    seen, resumed = torchrun(
        tone_manifest, tmp_path / "split", tmp_path / "o3", "train.max_steps=8", "--resume"
    )
    assert seen[0]["steps"] == 8
    for name, value in params[0].items():
        assert torch.allclose(value, resumed[0][name], atol=1e-6), name
        assert torch.equal(resumed[0][name], resumed[1][name]), name


def test_loader_workers_share_the_node_between_ranks(monkeypatch):
    from asr.distributed import Dist

    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert Dist().loader_workers(3) == 3  # an explicit number is kept
    assert Dist().loader_workers(-1) == 8  # one process on 16 CPUs: capped at 8
    assert Dist(0, 8, 0, 4).loader_workers(-1) == 3  # 4 ranks on this node: 4 CPUs each, one for training
    assert Dist(0, 16, 0, 16).loader_workers(-1) == 0

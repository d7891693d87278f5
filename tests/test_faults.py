"""Fault injection: kill -9 in the middle of training (also while a checkpoint is being
written), then resume; an experiment folder that cannot be written fails before any work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asr.checkpoint import read_checkpoint
from asr.runlog import OutputDirError
from asr.train import train
from conftest import TINY_OVERRIDES, tiny_config

pytestmark = pytest.mark.slow
# Dropout and augmentation make the curve depend on every RNG a resume must restore;
# saving every step makes some kills land while last.pt is being written.
COMMON = ["model.dropout=0.2", "model.num_layers=2", "augment.speed_perturb=True", "augment.time_masks=1",
          "augment.time_mask_width=5", "train.save_every=1", "train.max_steps=200"]  # fmt: skip


def _start(manifest: Path, exp: Path, resume: bool) -> subprocess.Popen:
    sets = [
        *TINY_OVERRIDES,
        *COMMON,
        f"data.train_manifest='{manifest}'",
        f"data.valid_manifest='{manifest}'",
    ]
    (exp.parent / "cfg.yaml").write_text(f"exp_dir: {exp}\n")
    cmd = [
        sys.executable,
        "-m",
        "asr",
        "train",
        "-q",
        str(exp.parent / "cfg.yaml"),
        *(f"--set={s}" for s in sets),
    ]
    return subprocess.Popen(cmd + (["--resume"] if resume else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip


def test_kill_9_at_random_moments_then_resume_matches_an_unkilled_run(tone_manifest, tmp_path):
    (tmp_path / "straight").mkdir()
    reference_run = _start(tone_manifest, tmp_path / "straight" / "exp", resume=False)
    assert reference_run.wait(timeout=300) == 0, reference_run.stderr.read().decode()[-2000:]
    exp = tmp_path / "killed" / "exp"
    exp.parent.mkdir()
    last = exp / "checkpoints" / "last.pt"
    kills, steps_at_kill = 0, []
    for delay in (0.0, 0.37, 0.71):  # seconds after the first checkpoint of each attempt
        proc = _start(tone_manifest, exp, resume=last.exists())
        before = read_checkpoint(last)["train_state"]["step"] if last.exists() else -1
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if last.exists() and read_checkpoint(last)["train_state"]["step"] > before:
                break
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        state = read_checkpoint(last)["train_state"]  # never a torn file
        steps_at_kill.append(state["step"])
    assert kills >= 2, f"the runs finished before they could be killed: {steps_at_kill}"
    assert steps_at_kill[-1] < 200
    finished = _start(tone_manifest, exp, resume=True)
    assert finished.wait(timeout=300) == 0, finished.stderr.read().decode()[-2000:]
    killed = read_checkpoint(last)
    assert killed["train_state"]["step"] == 200
    reference = read_checkpoint(tmp_path / "straight" / "exp" / "checkpoints" / "last.pt")["model"]
    worst = max(float((killed["model"][k].float() - v.float()).abs().max()) for k, v in reference.items())
    assert worst < 1e-5, f"parameters differ from the run that was never killed by up to {worst}"


def test_experiment_folder_that_is_not_writable_fails_before_training(tone_manifest, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputDirError, match="cannot write to exp_dir"):
        train(tiny_config(tone_manifest, blocker / "exp"), show_progress=False)


def test_a_full_disk_is_refused_before_training(tone_manifest, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OutputDirError, match="MB free, but"):
        train(tiny_config(tone_manifest, tmp_path / "exp"), show_progress=False)
    assert not (tmp_path / "exp" / "checkpoints").exists()

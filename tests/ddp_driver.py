"""Run by tests/test_distributed.py under torchrun: train, then write what this rank saw.

torchrun --nproc-per-node 2 tests/ddp_driver.py MANIFEST EXP_DIR OUT_DIR [--resume] [k=v ...]
"""

import importlib
import json
import os
import sys

import torch

from conftest import tiny_config

manifest, exp_dir, out_dir, *rest = sys.argv[1:]
resume = "--resume" in rest
overrides = [a for a in rest if a != "--resume"]
train_module = importlib.import_module("asr.train")
Run = importlib.import_module("asr.trainstep").Run
seen: list[str] = []
runs = []
real_step = Run.step


def recording_step(self, batch):  # type: ignore[no-untyped-def]
    runs.append(self)
    seen.extend(batch.utt_ids)
    return real_step(self, batch)


Run.step = recording_step
summary = train_module.train(tiny_config(manifest, exp_dir, *overrides), resume=resume, show_progress=False)
rank = int(os.environ["RANK"])
# Parameters only: BatchNorm running statistics are per rank between steps (DDP broadcasts
# rank 0's before every forward, and rank 0 alone saves them).
torch.save(dict(runs[-1].model.named_parameters()), f"{out_dir}/params{rank}.pt")
with open(f"{out_dir}/seen{rank}.json", "w") as f:
    json.dump({"utt_ids": seen, "steps": summary.steps}, f)

"""Data-parallel training under ``torchrun``: which process am I, and the few collectives
the training loop needs. Without torchrun's environment everything is a no-op (one process).

    torchrun --nproc-per-node 4 -m asr train recipe.yaml             # one node, 4 GPUs
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 \\
        --rdzv-backend c10d --rdzv-endpoint host0:29400 -m asr train recipe.yaml

NCCL on CUDA, gloo on CPU. Each process trains on its own share of every epoch's batches
(:class:`asr.data.DurationBucketSampler` with ``rank``/``world_size``); gradients are averaged
by :class:`torch.nn.parallel.DistributedDataParallel`, so the effective batch is
``world_size x data.max_batch_seconds`` of padded audio per step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from asr.runtime import pick_device


@dataclass(frozen=True)
class Dist:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # processes on this node

    def loader_workers(self, requested: int) -> int:
        """``data.num_workers``, or for -1 this process's share of the node's CPUs (one kept
        for the training process itself, at most 8: beyond that loading is rarely the limit)."""
        if requested >= 0:
            return requested
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0, min(8, cpus // self.local_world_size - 1))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes metrics and saves checkpoints."""
        return self.rank == 0

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any (so all ranks stop together)."""
        if not self.enabled:
            return flag
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def init(device_name: str = "auto") -> tuple[Dist, torch.device]:
    """Join the process group torchrun describes in the environment, and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if world_size == 1:
        return Dist(), pick_device(device_name)
    info = Dist(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")),
                int(os.environ.get("LOCAL_WORLD_SIZE", "1")))  # fmt: skip
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
        device = torch.device("cuda", info.local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return info, device


def shutdown(info: Dist) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

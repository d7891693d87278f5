"""What a training run writes beside its checkpoints: ``metrics.jsonl``, TensorBoard
scalars and, at each validation, ``plots/*.png`` (:func:`asr.plots.training_plots`); and
the checks that the exp dir can hold them before a run starts."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from asr.plots import training_plots
from asr.runtime import MissingDependency, UserError

logger = logging.getLogger(__name__)
PLOT_SECONDS = 60.0


class MetricsLog:
    """``metrics.jsonl`` (one JSON line per event), optional TensorBoard scalars and
    ``plots/*.png``; a no-op on ranks other than 0."""

    def __init__(self, exp_dir: Path, tensorboard: bool, plots: bool = True, enabled: bool = True) -> None:
        self.exp_dir = exp_dir
        self.plots = plots and enabled
        self.plotted = -math.inf
        self.file = (exp_dir / "metrics.jsonl").open("a", encoding="utf-8") if enabled else None
        self.writer = None
        if tensorboard and enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(exp_dir / "tb"))
            except ImportError:
                logger.warning("tensorboard is not installed (pip install 'asr[tensorboard]'); no TB logs")

    def record(self, event: str, step: int, **values: Any) -> None:
        if self.file is None:
            return
        self.file.write(json.dumps({"event": event, "step": step, **values}) + "\n")
        self.file.flush()
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"{event}/{key}", value, step)

    def plot(self, force: bool = False) -> None:
        """Redraw ``exp_dir/plots/*.png`` (at most once per ``PLOT_SECONDS`` unless ``force``: a
        redraw costs about a second); without matplotlib, say so once and stop trying."""
        if not self.plots or (not force and time.monotonic() - self.plotted < PLOT_SECONDS):
            return
        self.plotted = time.monotonic()
        try:
            training_plots(self.exp_dir)
        except MissingDependency as err:
            logger.warning("%s; no training plots", err)
            self.plots = False

    def close(self) -> None:
        if self.plotted > -math.inf:
            self.plot(force=True)  # the last validation may have fallen in the quiet period
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()


class OutputDirError(UserError, RuntimeError):
    """The experiment folder cannot hold the run's files (read-only, not a folder, disk full)."""


def check_writable(exp_dir: Path) -> None:
    """Fail before any work if ``exp_dir`` cannot be created and written to."""
    probe = exp_dir / f".write-test-{os.getpid()}"
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"0" * 4096)
    except OSError as err:
        raise OutputDirError(f"cannot write to exp_dir {exp_dir}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_free_space(exp_dir: Path, model: torch.nn.Module, checkpoints: int) -> None:
    """Each checkpoint holds the weights and AdamW's two moments (fp32); atomic saves need
    room for one more copy while writing. Refuse to start if the disk cannot hold them."""
    one = 3 * 4 * sum(p.numel() for p in model.parameters()) + (1 << 20)
    needed = one * (checkpoints + 1)
    free = shutil.disk_usage(exp_dir).free
    if free < needed:
        raise OutputDirError(
            f"{exp_dir}: {free / 1e6:.0f} MB free, but {checkpoints} checkpoints of {one / 1e6:.0f} MB "
            f"(+1 while saving) need {needed / 1e6:.0f} MB; free space or choose another exp_dir"
        )

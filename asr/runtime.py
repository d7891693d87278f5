"""Process-level helpers: logging set-up, devices, seeding and RNG snapshots.

Only the CLI (or a user's script) calls :func:`setup_logging`; library modules
just log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

T = TypeVar("T")


class UserError(Exception):
    """An error whose message says all a user needs (which file, what to do): the command line
    prints it without a traceback and exits 2. Every such error of asr derives from it."""


class MissingDependency(UserError, RuntimeError):
    """An optional package is not installed; the message names the pip extra that brings it."""


_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbosity: int = 0, log_file: Path | None = None) -> None:
    """Console at INFO (``-v``: DEBUG, ``-q``: WARNING), optionally mirrored to a file."""
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        if getattr(handler, "_asr", False):
            root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console._asr = True  # type: ignore[attr-defined]
    root.addHandler(console)
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        file_handler._asr = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)


@contextlib.contextmanager
def log_to_file(log_file: Path) -> Iterator[None]:
    """Append asr's INFO-and-above records to ``log_file`` for the duration of the block,
    whatever the caller's own logging set-up (training runs write train.log)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT))
    package_logger = logging.getLogger("asr")
    previous_level = package_logger.level
    if package_logger.getEffectiveLevel() > logging.INFO:
        package_logger.setLevel(logging.INFO)
    package_logger.addHandler(handler)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)
        handler.close()


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return device


CPU_BATCH_SECONDS = 60.0
CUDA_BATCH_SECONDS = 600.0


def inference_batch_seconds(requested: float, device: torch.device) -> float:
    """``decode.batch_seconds``, where 0 means by device: 60 s on a CPU, whose caches larger
    batches' activations outgrow (600 s ran 1.6-3x slower per audio second than 40-120 s,
    benchmarks/speed/inference_batch.py), 600 s on CUDA, where wide batches keep the GPU busy."""
    if requested < 0:
        raise ValueError(f"batch_seconds must be 0 (by device) or positive, not {requested:g}")
    if requested > 0:
        return requested
    return CUDA_BATCH_SECONDS if device.type == "cuda" else CPU_BATCH_SECONDS


def bound_kernel_cache(entries: int = 16) -> None:
    """Cap oneDNN's cache of compiled kernels (one per input shape; 1,024 by default) for a
    long-running process. Unbounded, a service's memory grew by every new audio length: 719 ->
    870 MB over 400 requests of random lengths, then 678 -> 695 MB with 16 entries, no slower
    (41 vs 39 s). Must run before the first forward pass; an explicit setting is kept."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(entries))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def progress(items: Iterable[T], enabled: bool | str = True, **kwargs: Any) -> Iterable[T]:
    """tqdm bar on an interactive stderr only, so logs and CI output stay clean; ``enabled="always"``
    (``--progress``) shows it on any stderr."""
    shown = enabled == "always" or (enabled and sys.stderr.isatty())
    return tqdm(items, disable=not shown, dynamic_ncols=True, **kwargs)


@contextlib.contextmanager
def native_output_captured(where: str) -> Iterator[None]:
    """Hold back what C/C++ code writes to the terminal (KenLM's progress stars and hints) while
    the block runs; if the block raises, the held-back text is logged, so no error is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        except BaseException:
            sink.seek(0)
            held = sink.read().decode("utf-8", "replace").strip()
            if held:
                logging.getLogger(__name__).error("%s printed:\n%s", where, held[-2000:])
            raise
        finally:
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def progress_counter(
    enabled: bool, total: int | None = None, unit: str = "it", desc: str = ""
) -> Iterator[Callable[[int], None]]:
    """A progress bar advanced by the callable it yields (a no-op when disabled or not a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    with tqdm(total=total, unit=unit, desc=desc, unit_scale=True, smoothing=0.1) as bar:
        yield bar.update

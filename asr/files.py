"""Files written whole or not at all: every output asr writes goes through :func:`atomic_output`,
so a killed run, a full disk or an exception never leaves a half-written checkpoint, manifest,
LM, audio clip or transcript under the real name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary name in ``path``'s folder (hidden, per process); it replaces ``path`` only if
    the block succeeds, and is removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

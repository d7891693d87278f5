"""Corpus preparation: a corpus folder -> JSONL manifests, one per split.

Each corpus is a module with ``prepare(corpus_dir, out_dir) -> dict[split, Path]``,
imported only when asked for, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from asr._types import PathLike

PREPARERS = {
    "fsdd": "data_prep.fsdd",
}


def prepare(corpus: str, corpus_dir: PathLike, out_dir: PathLike) -> dict[str, Path]:
    """Run the named corpus's ``prepare``; unknown names list the known ones."""
    if corpus not in PREPARERS:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(sorted(PREPARERS))}")
    module = importlib.import_module(PREPARERS[corpus])
    return module.prepare(Path(corpus_dir), Path(out_dir))

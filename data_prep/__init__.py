"""Corpus preparation: a corpus folder -> validated JSONL manifests, one per split.

Each corpus is a module with ``prepare(corpus_dir, out_dir, ...) -> dict[split, Path]``
(and ``download`` where the corpus is public), plus ``add_arguments``/``run`` for
``asr prep NAME``. Modules are imported only when named.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PREPARERS = {
    "librispeech": "data_prep.librispeech",
    "common_voice": "data_prep.common_voice",
    "ljspeech": "data_prep.ljspeech",
    "fsdd": "data_prep.fsdd",
    "folder": "data_prep.folder",
    "synthetic": "data_prep.synthetic",
    "sphinx": "data_prep.sphinx",
    "kaldi": "data_prep.kaldi",
    "pseudo-label": "data_prep.pseudo_label",
    "alphanumeric": "data_prep.alphanumeric",
    "vctk": "data_prep.vctk",
    "voxforge": "data_prep.voxforge",
    "speech_commands": "data_prep.speech_commands",
    "noise": "data_prep.noise",
}


def preparer(corpus: str) -> ModuleType:
    """The module for ``corpus``; unknown names list the known ones."""
    if corpus not in PREPARERS:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(sorted(PREPARERS))}")
    return importlib.import_module(PREPARERS[corpus])

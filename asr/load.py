"""``load_model``: any model file asr writes -> a :class:`~asr.recognizer.Recognizer` ready to run.

A training or exported checkpoint runs eagerly (at the precision asked for, see
:mod:`asr.precision`); an ONNX or TorchScript file from ``asr export`` runs as a graph
(:mod:`asr.export`). Relative LM and lexicon paths in the decode settings are resolved
against the file's folder, so an exported model directory can move as a whole.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from asr import export
from asr._types import PathLike
from asr.checkpoint import CheckpointError, read_checkpoint, recognizer_from_payload, resolve_beside
from asr.integrity import check_beside
from asr.precision import convert, resolve
from asr.recognizer import Recognizer


def load_model(
    path: PathLike, device: torch.device | str = "cpu", backend: str = "auto", precision: str | None = None
) -> Recognizer:
    """Rebuild model, features, vocabulary and normaliser from one model file.

    ``backend``: "torch" (a checkpoint), "onnx" (onnxruntime) or "torchscript"; "auto" goes
    by the file (``.onnx``, a TorchScript archive from ``asr export``, else a checkpoint).
    Asking for onnx/torchscript with a checkpoint exports it to a temporary file first.
    ``precision``: auto, fp32, bf16 or int8 (default: the file's ``decode.precision``)."""
    path = Path(path)
    kind = export.model_kind(path)
    if backend not in ("auto", "torch", *export.FORMATS):
        raise ValueError(f"unknown backend {backend!r}; choose auto, torch, {', '.join(export.FORMATS)}")
    if backend in ("auto", kind):
        if kind != "torch":
            recognizer = export.load_graph(path, precision)
        else:
            recognizer = recognizer_from_payload(read_checkpoint(path), str(path))
    elif kind == "torch" and backend in export.FORMATS:
        recognizer = export.graph_from_checkpoint(path, backend, precision)
    else:
        raise CheckpointError(f"{path} is a {kind} model; it cannot run with backend {backend!r}")
    decode = resolve_beside(recognizer.config.decode, path.parent)
    if decode.lm:  # the LM and lexicon it was exported with, unchanged
        lexicon = decode.lexicon or str(Path(decode.lm).with_suffix(".lexicon"))
        check_beside(recognizer.assets_sha256, {"language model": decode.lm, "lexicon": lexicon})
    if not isinstance(recognizer.model, export.GraphModel):  # an eager model: cast or quantize it
        recognizer.precision = resolve(precision or decode.precision, device)
        recognizer.model = convert(recognizer.model, recognizer.precision)
    recognizer.config = dataclasses.replace(recognizer.config, decode=decode)
    recognizer.source = str(path.resolve())
    return recognizer.to(device)

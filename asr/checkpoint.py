"""Checkpoints: one self-describing file -> a ready :class:`Recognizer`.

A checkpoint is plain data (``torch.load(weights_only=True)``-safe): format
version, the experiment config as dicts, the vocabulary list, feature statistics,
the model's state dict and, for training checkpoints, the optimiser, scheduler,
scaler, RNG and progress state. Files are written atomically, so a crash while
saving never leaves a truncated ``last.pt``.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
from pathlib import Path
from typing import Any

import torch

from asr._types import PathLike
from asr.config import (
    ConfigError,
    DecodeConfig,
    ExperimentConfig,
    ModelConfig,
    from_dict,
    to_dict,
    with_dropout_of,
)
from asr.features import FeatureExtractor
from asr.files import atomic_output
from asr.integrity import check, sealed
from asr.model import AcousticModel
from asr.recognizer import Recognizer
from asr.runtime import UserError
from asr.text import Normalizer, Vocabulary
from asr.version import __version__

FORMAT_VERSION = 1  # bump when the layout changes; keep reading every older version


class CheckpointError(UserError, RuntimeError):
    """A file is not an asr checkpoint, or one this version cannot read."""


def build_payload(
    config: ExperimentConfig,
    model: AcousticModel,
    extractor: FeatureExtractor,
    vocab: Vocabulary,
    **training_state: Any,
) -> dict[str, Any]:
    """The checkpoint dict; ``training_state`` adds optimiser/scheduler/RNG/progress entries."""
    stats = None
    if extractor.mean is not None and extractor.std is not None:
        stats = {"mean": extractor.mean.cpu(), "std": extractor.std.cpu()}
    return {
        "format_version": FORMAT_VERSION,
        "asr_version": __version__,
        "config": to_dict(config),
        "vocabulary": list(vocab.tokens),
        "feature_stats": stats,
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        **training_state,
    }


def save_checkpoint(payload: dict[str, Any], path: PathLike) -> Path:
    """Write atomically (a temporary file in the same folder, fsync, then rename), sealed with
    its SHA-256 (:mod:`asr.integrity`).

    Raises:
        CheckpointError: the file could not be written (a full disk); the previous one is kept.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        with atomic_output(path) as tmp, tmp.open("wb") as handle:
            handle.write(sealed(buffer.getvalue(), "zip"))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        full = " (the disk is full)" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        raise CheckpointError(f"{path}: could not be written{full}: {err.strerror or err}; "
                              "the previous file, if any, is unchanged") from None  # fmt: skip
    return path


def read_checkpoint(path: PathLike) -> dict[str, Any]:
    """Load the raw dict, checking it is an asr checkpoint of a readable version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    check(data, path)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types, and its advice (weights_only=False) is not ours
        lines = str(err).strip().splitlines() or [type(err).__name__]
        reason = "unpickling failed" if "weights_only" in str(err) else lines[-1]
        raise CheckpointError(f"{path}: not a readable checkpoint: damaged, or not written by "
                              f"asr ({reason[:200]})") from None  # fmt: skip
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not an asr checkpoint (no format_version)")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version} is newer than this asr "
            f"({__version__}, reads up to {FORMAT_VERSION}); upgrade asr"
        )
    return payload


def recognizer_from_payload(
    payload: dict[str, Any], where: str = "checkpoint", build_model: bool = True
) -> Recognizer:
    """Config, features, vocabulary and (unless ``build_model`` is False: an exported graph
    brings its own) the eager model with its weights."""
    try:
        config = from_dict(ExperimentConfig, payload["config"])
    except ConfigError as err:
        raise CheckpointError(f"{where}: config does not fit this asr version ({err})") from None
    vocab = Vocabulary(payload["vocabulary"])
    if vocab.units != config.model.units:
        raise CheckpointError(f"{where}: a model of {config.model.units} with a vocabulary of {vocab.units}")
    stats = payload.get("feature_stats") or {}
    extractor = FeatureExtractor(config.features, stats.get("mean"), stats.get("std"))
    model = AcousticModel(config.model, config.features.n_mels, len(vocab)) if build_model else None
    if model is not None:
        model.load_state_dict(payload["model"])
        model.eval()
    recognizer = Recognizer(config, model, extractor, vocab, Normalizer(config.text))  # type: ignore[arg-type]
    recognizer.assets_sha256 = dict(payload.get("assets_sha256") or {})
    return recognizer


def resolve_beside(decode: DecodeConfig, folder: Path) -> DecodeConfig:
    """Relative LM/lexicon paths in a model's decode settings name files in the model's
    ``folder``, never in the current directory (a missing file is then reported there)."""
    beside: dict[str, Any] = {
        key: str(folder / value)
        for key, value in (("lm", decode.lm), ("lexicon", decode.lexicon))
        if value and not Path(value).is_absolute()
    }
    return dataclasses.replace(decode, **beside) if beside else decode


def average_checkpoints(models: list[PathLike], output: PathLike, best: int = 0) -> tuple[Path, list[Path]]:
    """Average the weights of several checkpoints of one run (e.g. the last K epochs), which
    usually decodes better than any one of them, or of runs fine-tuned from one model (a "soup";
    they may differ in dropout; the first one's config is kept). ``best > 0`` keeps the ``best``
    with the lowest validation WER of their epoch. Writes an inference-only checkpoint; returns it
    and the inputs used."""
    loaded = [(Path(m), read_checkpoint(m)) for m in models]
    if not loaded:
        raise ValueError("no checkpoints to average")
    if best:

        def epoch_wer(item: tuple[Path, dict[str, Any]]) -> float:
            wer = item[1].get("train_state", {}).get("epoch_wer")
            if wer is None:
                raise CheckpointError(f"{item[0]}: no validation WER recorded (not an epoch checkpoint?)")
            return float(wer)

        loaded = sorted(loaded, key=epoch_wer)[:best]
    first_path, first = loaded[0]
    first_model = from_dict(ModelConfig, first["config"]["model"])
    for path, payload in loaded[1:]:
        if payload["vocabulary"] != first["vocabulary"] or payload["model"].keys() != first["model"].keys():
            raise CheckpointError(
                f"{path} and {first_path} are not the same model (vocabulary or layers differ)"
            )
        if with_dropout_of(from_dict(ModelConfig, payload["config"]["model"]), first_model) != first_model:
            raise CheckpointError(f"{path} and {first_path} have different model configs")
    averaged = {}
    for name, value in first["model"].items():
        if value.is_floating_point():
            averaged[name] = sum(p["model"][name].double() for _, p in loaded) / len(loaded)
            averaged[name] = averaged[name].to(value.dtype)
        else:  # counters such as BatchNorm's num_batches_tracked
            averaged[name] = value
    out = {key: first[key] for key in ("format_version", "asr_version", "config", "vocabulary")}
    out.update(
        feature_stats=first.get("feature_stats"), model=averaged, averaged_from=[str(p) for p, _ in loaded]
    )
    return save_checkpoint(out, output), [p for p, _ in loaded]

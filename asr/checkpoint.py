"""Checkpoints: one self-describing file -> a ready :class:`Recognizer`.

A checkpoint is plain data (``torch.load(weights_only=True)``-safe): format
version, the experiment config as dicts, the vocabulary list, feature statistics,
the model's state dict and, for training checkpoints, the optimiser, scheduler,
scaler, RNG and progress state. Files are written atomically, so a crash while
saving never leaves a truncated ``last.pt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from asr import __version__
from asr._types import PathLike
from asr.config import ConfigError, ExperimentConfig, from_dict, to_dict
from asr.features import FeatureExtractor
from asr.model import AcousticModel
from asr.text import Normalizer, Vocabulary

FORMAT_VERSION = 1  # bump when the layout changes; keep reading every older version


class CheckpointError(RuntimeError):
    """A file is not an asr checkpoint, or one this version cannot read."""


@dataclass
class Recognizer:
    """Everything inference needs, rebuilt from one checkpoint."""

    config: ExperimentConfig
    model: AcousticModel
    extractor: FeatureExtractor
    vocab: Vocabulary
    normalizer: Normalizer

    @property
    def frame_seconds(self) -> float:
        """Seconds between the model's output frames (feature hop x time stride)."""
        return self.config.features.hop_ms / 1000 * self.config.model.time_stride

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> Recognizer:
        self.model.to(device)
        return self


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
    """Write atomically: a temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: PathLike) -> dict[str, Any]:
    """Load the raw dict, checking it is an asr checkpoint of a readable version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not an asr checkpoint (no format_version)")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version} is newer than this asr "
            f"({__version__}, reads up to {FORMAT_VERSION}); upgrade asr"
        )
    return payload


def recognizer_from_payload(payload: dict[str, Any], where: str = "checkpoint") -> Recognizer:
    try:
        config = from_dict(ExperimentConfig, payload["config"])
    except ConfigError as err:
        raise CheckpointError(f"{where}: config does not fit this asr version ({err})") from None
    vocab = Vocabulary(payload["vocabulary"])
    stats = payload.get("feature_stats") or {}
    extractor = FeatureExtractor(config.features, stats.get("mean"), stats.get("std"))
    model = AcousticModel(config.model, config.features.n_mels, len(vocab))
    model.load_state_dict(payload["model"])
    model.eval()
    return Recognizer(config, model, extractor, vocab, Normalizer(config.text))


def load_model(path: PathLike, device: torch.device | str = "cpu") -> Recognizer:
    """Rebuild model, features, vocabulary and normaliser from one checkpoint file."""
    return recognizer_from_payload(read_checkpoint(path), str(path)).to(device)

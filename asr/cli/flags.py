"""The flags every decoding command shares (``transcribe``, ``evaluate``, ``stream``,
``serve``, ``export``, ``lm tune``) and how they override a model's decode settings."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

import asr
from asr.config import ConfigError, DecodeConfig, decode_problems
from asr.export import FORMATS

BUNDLED_MODEL = Path(__file__).parent.parent / "assets" / "model.pt"
DEVICE_HELP = "cpu, cuda, cuda:N or auto (default: cuda where there is one)"


def model_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if BUNDLED_MODEL.is_file():
        return BUNDLED_MODEL
    raise FileNotFoundError("no --model given and this install has no bundled model")


def _decode_flags() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(DecodeConfig) if f.metadata.get("help")]


def decode_config(recognizer: asr.Recognizer, args: argparse.Namespace) -> DecodeConfig:
    """The checkpoint's decode settings with the flags given on the command line, range-checked
    as a YAML config is (:func:`asr.config.decode_problems`)."""
    given = {f.name: getattr(args, f.name) for f in _decode_flags() if getattr(args, f.name) is not None}
    if "hotwords" in given:
        given["hotwords"] = " ".join(given["hotwords"])
    if "lm" in given and "method" not in given:
        given["method"] = "beam"
    decode = dataclasses.replace(recognizer.config.decode, **given)
    if problems := decode_problems(decode):
        raise ConfigError("; ".join(problems))
    return decode


def add_decode_flags(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """``--backend`` and one flag per documented :class:`DecodeConfig` field (its help, its type,
    a Literal's values as choices); a flag not given leaves the model's setting."""
    if backend:
        p.add_argument("--backend", choices=["auto", "torch", *FORMATS], default="auto",
                       help="torch, onnxruntime or TorchScript (default: by model file)")  # fmt: skip
    hints = typing.get_type_hints(DecodeConfig)
    for f in _decode_flags():
        options = {k: v for k, v in f.metadata.items() if k not in ("help", "flag")}
        if typing.get_origin(hints[f.name]) is typing.Literal:
            options["choices"] = list(typing.get_args(hints[f.name]))
        elif "nargs" not in options and not isinstance(f.default, str):
            options["type"] = type(f.default)
        p.add_argument(f.metadata["flag"] or f"--{f.name.replace('_', '-')}", dest=f.name,
                       help=f.metadata["help"], **options)  # fmt: skip

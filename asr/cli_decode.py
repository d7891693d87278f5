"""The flags every decoding command shares (``transcribe``, ``evaluate``, ``stream``,
``serve``, ``export``, ``lm tune``) and how they override a model's decode settings."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import asr
from asr.config import DecodeConfig
from asr.export import FORMATS
from asr.precision import PRECISIONS

BUNDLED_MODEL = Path(__file__).parent / "assets" / "model.pt"
DEVICE_HELP = "cpu, cuda, cuda:N or auto (default: cuda where there is one)"


def model_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if BUNDLED_MODEL.is_file():
        return BUNDLED_MODEL
    raise FileNotFoundError("no --model given and this install has no bundled model")


def decode_config(recognizer: asr.Recognizer, args: argparse.Namespace) -> DecodeConfig:
    """The checkpoint's decode settings with the flags given on the command line."""
    flags = {
        "method": args.decoder, "beam_size": args.beam_size, "beam_threshold": args.beam_threshold,
        "beam_size_token": args.beam_size_token,
        "lm": args.lm, "lexicon": args.lexicon,
        "lm_weight": args.lm_weight, "word_score": args.word_score,
        "hotwords": " ".join(args.hotwords) if args.hotwords else None, "precision": args.precision,
        "batch_seconds": args.batch_seconds,
    }  # fmt: skip
    if args.lm and args.decoder is None:
        flags["method"] = "beam"
    return dataclasses.replace(recognizer.config.decode, **{k: v for k, v in flags.items() if v is not None})


def add_decode_flags(p: argparse.ArgumentParser, backend: bool = True) -> None:
    if backend:
        p.add_argument("--backend", choices=["auto", "torch", *FORMATS], default="auto",
                       help="torch, onnxruntime or TorchScript (default: by model file)")  # fmt: skip
    p.add_argument("--precision", choices=PRECISIONS,
                   help="the network's arithmetic: fp32, bf16 (fast on AMX/AVX-512-BF16 CPUs) or int8; "
                   "auto = fp32 (default: the model's)")  # fmt: skip
    p.add_argument("--decoder", choices=["greedy", "beam"],
                   help="greedy (best token per frame) or beam search (default: the model's decode "
                   "setting; the bundled model's is beam with its LM)")  # fmt: skip
    p.add_argument("--lm", help="word n-gram LM (ARPA or KenLM binary) for beam search")
    p.add_argument("--lexicon", help="word spellings (default: beside the LM, same name .lexicon)")
    p.add_argument("--beam-size", type=int, help="hypotheses kept per frame (more: slower, a little better)")
    p.add_argument("--beam-threshold", type=float, help="prune hypotheses this far (log) below the best")
    p.add_argument("--beam-size-token", type=int, help="tokens tried per frame, likeliest first (0: all)")
    p.add_argument("--lm-weight", type=float, help="weight of the LM's log-probability against the model's")
    p.add_argument("--word-score", type=float, help="added per word (positive: fewer deletions)")
    p.add_argument("--hotwords", nargs="+", metavar="WORD[:BOOST]", help="words to favour (needs --lm)")
    p.add_argument("--batch-seconds", type=float,
                   help="padded audio seconds per batch; 0 = by device (CPU 60, CUDA 600)")  # fmt: skip

"""The ``asr`` command: parse arguments, call one API function, print its result.

asr prep fsdd CORPUS_DIR OUT_DIR
asr train CONFIG.yaml [--set section.key=value ...] [--resume [CKPT]]
asr evaluate --model CKPT --manifest M.jsonl [--out DIR] [--json]
asr transcribe FILE... [--model CKPT] [--format txt|json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import asr
from asr.audio import AudioError
from asr.checkpoint import CheckpointError
from asr.config import ConfigError
from asr.manifest import ManifestError
from asr.runtime import setup_logging

logger = logging.getLogger("asr")
BUNDLED_MODEL = Path(__file__).parent / "assets" / "model.pt"
# Errors whose message says all a user needs; anything else keeps its traceback.
USER_ERRORS = (
    AudioError,
    CheckpointError,
    ConfigError,
    ManifestError,
    FileNotFoundError,
    FileExistsError,
    ValueError,
)


def _model_path(given: str | None) -> Path:
    if given:
        return Path(given)
    if BUNDLED_MODEL.is_file():
        return BUNDLED_MODEL
    raise FileNotFoundError("no --model given and this install has no bundled model")


def _default_decode_dir(model: Path, manifest: Path) -> Path:
    """``exp/decode/<manifest>`` for ``exp/checkpoints/x.pt``, else ``./decode/<manifest>``."""
    if model.parent.name == "checkpoints":
        return model.parent.parent / "decode" / manifest.stem
    return Path("decode") / manifest.stem


def cmd_train(args: argparse.Namespace) -> int:
    cfg = asr.load_config(args.config, args.set)
    summary = asr.train(cfg, resume=args.resume or False, show_progress=not args.quiet)
    print(f"last checkpoint: {summary.last_checkpoint}")
    if summary.best_checkpoint is not None:
        print(f"best checkpoint: {summary.best_checkpoint} (validation WER {100 * summary.best_wer:.2f}%)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model_path = _model_path(args.model)
    recognizer = asr.load_model(model_path)
    out_dir = Path(args.out) if args.out else _default_decode_dir(model_path, Path(args.manifest))
    report = asr.evaluate(
        recognizer,
        args.manifest,
        out_dir=out_dir,
        device=args.device,
        num_workers=args.num_workers,
        show_progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(report.summary()))
    else:
        print(report)
        print(f"per-utterance results: {out_dir / 'hyps.jsonl'}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(_model_path(args.model))
    transcripts = asr.transcribe(
        recognizer, args.files, device=args.device, skip_errors=True, show_progress=not args.quiet
    )
    failed = [t for t in transcripts if t.error]
    for t in failed:
        logger.error("%s", t.error)
    ok = [t for t in transcripts if not t.error]
    if args.format == "json":
        for t in ok:
            print(json.dumps(asdict(t), ensure_ascii=False))
    else:
        for t in ok:
            print(f"{t.source}\t{t.text}" if len(args.files) > 1 else t.text)
    if failed:
        logger.error("%d of %d files could not be transcribed", len(failed), len(transcripts))
    return 1 if failed else 0


def cmd_prep(args: argparse.Namespace) -> int:
    import data_prep

    manifests = data_prep.prepare(args.corpus, args.corpus_dir, args.out_dir)
    for split, path in manifests.items():
        print(f"{split}\t{path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Recurrent CTC speech recognition.")
    parser.add_argument("--version", action="version", version=f"asr {asr.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prep", parents=[common], help="write manifests for a corpus")
    p.add_argument("corpus", help="corpus name, e.g. fsdd")
    p.add_argument("corpus_dir", help="folder holding the corpus")
    p.add_argument("out_dir", help="folder for the manifests")
    p.set_defaults(func=cmd_prep)

    p = sub.add_parser("train", parents=[common], help="train a model from a recipe config")
    p.add_argument("config", help="experiment YAML")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=3e-4 (repeatable)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CKPT",
        help="continue from exp_dir/checkpoints/last.pt, or from CKPT",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="WER/CER of a model on a manifest")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--manifest", required=True, help="JSONL manifest with reference text")
    p.add_argument("--out", help="folder for hyps.jsonl, errors.txt, wer.json")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transcribe", parents=[common], help="print the transcript of audio files")
    p.add_argument("files", nargs="+", help="audio files (wav, flac, ogg, mp3, ...)")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--format", choices=["txt", "json"], default="txt")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_transcribe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(1 if args.verbose else -1 if args.quiet else 0)
    try:
        return int(args.func(args))
    except USER_ERRORS as err:
        if args.verbose:
            raise
        logger.error("%s", err)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

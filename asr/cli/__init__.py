"""The ``asr`` command: parse arguments, call one API function, print its result.

asr prep CORPUS [CORPUS_DIR] OUT_DIR [...]     corpus -> validated manifests
asr validate M.jsonl                           rows that cannot train, with reasons
asr manifest merge|split ...                   combine, or split without speaker leaks
asr lexicon WORD...|FILE                       ARPAbet pronunciations (CMUdict, else espeak-ng)
asr teacher M.jsonl -o DIR                     whisper encoder frames for distillation
asr train CONFIG.yaml [--set k=v] [--resume]   -> exp_dir/checkpoints/{last,best}.pt
asr evaluate --model CKPT --manifest M.jsonl   WER/CER, hyps.jsonl, errors.txt, report.html
asr report DECODE_DIR [DECODE_DIR_B]           report.html, or compare.html + bootstrap of two decodes
asr plot EXP_DIR... [-o plots.png]             training curves of several runs in one figure
asr transcribe FILE|DIR... [--format txt|json|srt|vtt] [--output-dir D [--resume]]
asr lm build TEXT -o LM.arpa | asr lm binary LM.arpa | asr lm tune --lm LM.arpa --manifest DEV.jsonl
asr average CKPT... -o AVG.pt [--best K]      mean weights of several epochs
asr export --model CKPT -o OUT [--format checkpoint|onnx|torchscript] [--half] [--precision P] [--lm LM.arpa]
asr stream [FILE|-] --model CKPT              live partial/final text (unidirectional models)
asr serve [--model CKPT] [--port 8000]        HTTP API + web page

(one module per group: data, lm, model, decode, live; the decoding flags they share: flags)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import asr
from asr.cli import data, decode, live, lm, model
from asr.runtime import UserError, setup_logging

logger = logging.getLogger("asr")
# Errors whose message says all a user needs; anything else keeps its traceback.
USER_ERRORS = (UserError, FileNotFoundError, FileExistsError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Recurrent CTC speech recognition.")
    parser.add_argument("--version", action="version", version=f"asr {asr.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (data, lm, model, decode, live):
        group.add_commands(sub, common)
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
    except BrokenPipeError:
        # the reader went away (`asr transcribe dir | head`): stop quietly, as Unix tools do; stdout
        # points at /dev/null so that Python's flush at exit raises nothing either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for such a pipeline


if __name__ == "__main__":
    sys.exit(main())

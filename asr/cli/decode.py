"""``asr transcribe``: files, folders and stdin -> transcripts, printed or written."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import asr
from asr.cli.flags import DEVICE_HELP, add_decode_flags, decode_config, model_path
from asr.decode import PHONES_WITHOUT_LM, writes_words
from asr.folders import output_names, transcribe_files
from asr.writers import WRITERS

logger = logging.getLogger("asr")


def cmd_transcribe(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(model_path(args.model), backend=args.backend, precision=args.precision)
    decode = decode_config(recognizer, args)
    if not writes_words(recognizer.vocab, decode):
        logger.warning("%s", PHONES_WITHOUT_LM)
    out_dir = Path(args.output_dir) if args.output_dir else None
    count = len(output_names(args.files))
    if out_dir is None and args.format in ("srt", "vtt") and count > 1:
        raise ValueError(f"--format {args.format} with several files needs --output-dir")
    write = WRITERS[args.format]
    shown = "always" if args.progress else not args.quiet
    failures = successes = 0
    for result in transcribe_files(recognizer, args.files, out_dir, args.format, args.resume, decode,
                                   args.device, shown):  # fmt: skip
        t = result.transcript
        if t.error:
            failures += 1
            logger.error("%s", t.error)
            continue
        successes += 1
        if result.output is not None:
            print(result.output)
        elif args.format == "txt":
            print(f"{t.source}\t{t.text}" if count > 1 else t.text)
        else:
            sys.stdout.write(write(t))
    if failures:
        logger.error("%d of %d files could not be transcribed", failures, failures + successes)
    return 1 if failures and not successes else 0  # non-zero only when nothing could be transcribed


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("transcribe", parents=[common], help="print the transcript of audio files")
    p.add_argument("files", nargs="+",
                   help="audio files (wav, flac, ogg, ...), folders of them, or - for stdin")  # fmt: skip
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--progress", action="store_true",
                   help="progress bars also where stderr is no terminal (a long file: its chunks)")
    p.add_argument("--format", choices=sorted(WRITERS), default="txt",
                   help="txt, json (with word times), srt or vtt subtitles")  # fmt: skip
    p.add_argument("--output-dir", help="write <file stem>.<format> here instead of printing")
    p.add_argument("--resume", action="store_true", help="skip files whose output is already in --output-dir")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_decode_flags(p)
    p.set_defaults(func=cmd_transcribe)

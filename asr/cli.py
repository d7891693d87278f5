"""The ``asr`` command: parse arguments, call one API function, print its result.

asr prep CORPUS [CORPUS_DIR] OUT_DIR [...]     corpus -> validated manifests
asr validate M.jsonl                           rows that cannot train, with reasons
asr manifest merge|split ...                   combine, or split without speaker leaks
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

(stream and serve are in asr.cli_live; the decoding flags they share, in asr.cli_decode)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import asr
from asr import cli_data, cli_live
from asr.checkpoint import average_checkpoints
from asr.cli_decode import DEVICE_HELP, add_decode_flags, decode_config, model_path
from asr.export import FORMATS, export_checkpoint, export_graph
from asr.folders import output_names, transcribe_files
from asr.runtime import UserError, setup_logging
from asr.writers import WRITERS

logger = logging.getLogger("asr")
# Errors whose message says all a user needs; anything else keeps its traceback.
USER_ERRORS = (UserError, FileNotFoundError, FileExistsError, ValueError)


def _default_decode_dir(model: Path, manifest: Path) -> Path:
    """``exp/decode/<manifest>`` for ``exp/checkpoints/x.pt``, else ``./exp/decode/<manifest>``
    (``exp/`` is where runs live, and what .gitignore leaves out; a bare ``./decode/`` was not)."""
    if model.parent.name == "checkpoints":
        return model.parent.parent / "decode" / manifest.stem
    return Path("exp") / "decode" / manifest.stem


def cmd_train(args: argparse.Namespace) -> int:
    cfg = asr.load_config(args.config, args.set)
    summary = asr.train(cfg, resume=args.resume or False, show_progress=not args.quiet)
    print(f"last checkpoint: {summary.last_checkpoint}")
    if summary.best_checkpoint is not None:
        print(f"best checkpoint: {summary.best_checkpoint} (validation WER {100 * summary.best_wer:.2f}%)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    checkpoint = model_path(args.model)
    recognizer = asr.load_model(checkpoint, backend=args.backend, precision=args.precision)
    out_dir = Path(args.out) if args.out else _default_decode_dir(checkpoint, Path(args.manifest))
    report = asr.evaluate(
        recognizer,
        args.manifest,
        out_dir=out_dir,
        decode=decode_config(recognizer, args),
        device=args.device,
        num_workers=args.num_workers,
        show_progress=not args.quiet,
        figures=args.figures,
    )
    if args.json:
        print(json.dumps(report.summary()))
    else:
        print(report)
        print(f"per-utterance results: {out_dir / 'hyps.jsonl'}; report: {out_dir / 'report.html'}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(model_path(args.model), backend=args.backend, precision=args.precision)
    decode = decode_config(recognizer, args)
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


def cmd_export(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(args.model, backend="torch", precision="fp32")
    decode = decode_config(recognizer, args)
    if args.format == "checkpoint":
        written = export_checkpoint(args.model, args.output, half=args.half, decode=decode)
    elif args.half:
        raise ValueError("--half applies to --format checkpoint only (graphs are exported in float32)")
    else:
        written = export_graph(args.model, args.output, args.format, decode=decode)
    for path in written:
        print(f"{path}\t{path.stat().st_size / 1e6:.1f} MB")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from asr import report

    if len(args.dirs) == 1:
        print(report.write_html(args.dirs[0], worst=args.worst))
        return 0
    if len(args.dirs) != 2:
        raise ValueError("asr report takes one decode dir (its report.html) or two to compare")
    comparison = report.compare(*args.dirs)
    out = args.output or args.dirs[1] / "compare.html"
    wer_a, wer_b = comparison.a.summary["wer"], comparison.b.summary["wer"]
    print(f"WER A {100 * wer_a:.2f}% -> B {100 * wer_b:.2f}%: {len(comparison.better)} utterances better, "
          f"{len(comparison.worse)} worse")  # fmt: skip
    print(f"paired bootstrap by utterance: {comparison.bootstrap}")
    if comparison.bootstrap_by_speaker:
        print(f"by speaker ({len(comparison.speakers)} speakers): {comparison.bootstrap_by_speaker}")
    print(report.write_comparison(comparison, out, limit=args.worst))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from asr.plots import plot_runs

    print(plot_runs(args.exp_dirs, args.output))
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    path, used = average_checkpoints(args.models, args.output, best=args.best)
    print(f"{path}: mean of {', '.join(str(p) for p in used)}")
    return 0


def cmd_lm_tune(args: argparse.Namespace) -> int:
    from asr.lm.tune import cache_log_probs, tune

    if not args.lm:
        raise ValueError("asr lm tune needs --lm")
    recognizer = asr.load_model(model_path(args.model), precision=args.precision)
    decode = dataclasses.replace(decode_config(recognizer, args), method="beam")
    refs, cached = cache_log_probs(recognizer, args.manifest, args.device)
    rows = tune(recognizer, refs, cached, decode, args.lm_weights, args.word_scores, not args.quiet)
    print(f"{'lm_weight':>9} {'word_score':>10} {'WER %':>7} {'CER %':>7}")
    for r in sorted(rows, key=lambda r: (r.lm_weight, r.word_score)):
        print(f"{r.lm_weight:9.2f} {r.word_score:10.2f} {100 * r.wer:7.2f} {100 * r.cer:7.2f}")
    best = rows[0]
    print(f"best: --lm-weight {best.lm_weight:g} --word-score {best.word_score:g} "
          f"(WER {100 * best.wer:.2f}%, CER {100 * best.cer:.2f}%)")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Recurrent CTC speech recognition.")
    parser.add_argument("--version", action="version", version=f"asr {asr.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    lm_actions = cli_data.add_commands(sub, common)
    cli_live.add_commands(sub, common)
    t = lm_actions.add_parser(
        "tune", parents=[common], help="grid-search LM weight and word score on a dev set"
    )
    t.add_argument("--model", help="checkpoint (default: the bundled model)")
    t.add_argument("--manifest", required=True, help="dev manifest (not the test set)")
    t.add_argument("--lm-weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                   help="LM weights of the grid")  # fmt: skip
    t.add_argument("--word-scores", type=float, nargs="+", default=[-1.0, 0.0, 1.0, 2.0],
                   help="word scores of the grid")  # fmt: skip
    t.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_decode_flags(t)
    t.set_defaults(func=cmd_lm_tune, decoder="beam")

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
    p.add_argument("--out", help="folder for hyps.jsonl, errors.txt, wer.json, report.html")
    p.add_argument(
        "--figures",
        type=int,
        default=10,
        metavar="N",
        help="draw the posteriors of the N worst utterances in report.html (0: none)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--num-workers", type=int, default=0, help="audio-loading processes (0: in this one)")
    add_decode_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "report", parents=[common], help="report.html of a decode dir, or compare two (+ paired bootstrap)"
    )
    p.add_argument("dirs", nargs="+", type=Path, help="`asr evaluate --out` folders: A, or A B")
    p.add_argument("-o", "--output", type=Path, help="comparison page (default: B/compare.html)")
    p.add_argument("--worst", type=int, default=50, help="utterances listed per section")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", parents=[common], help="training curves of one or more runs in one PNG")
    p.add_argument("exp_dirs", nargs="+", type=Path, help="exp dirs (each with metrics.jsonl)")
    p.add_argument("-o", "--output", type=Path, default=Path("plots.png"), help="image to write")
    p.set_defaults(func=cmd_plot)

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

    p = sub.add_parser("average", parents=[common], help="average the weights of several checkpoints")
    p.add_argument(
        "models",
        nargs="+",
        help="checkpoints of one run (train.keep_epochs keeps epochNNN.pt) or of runs fine-tuned from one"
        " model",
    )
    p.add_argument("-o", "--output", required=True, help="averaged checkpoint to write")
    p.add_argument("--best", type=int, default=0, metavar="K", help="only the K with the lowest epoch WER")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("export", parents=[common], help="an inference-only model file for shipping")
    p.add_argument("--model", required=True, help="training checkpoint")
    p.add_argument("-o", "--output", required=True, help="model file to write (its LM goes beside it)")
    p.add_argument("--format", choices=["checkpoint", *FORMATS], default="checkpoint",
                   help="checkpoint (torch), onnx (runs with onnxruntime) or torchscript")  # fmt: skip
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    add_decode_flags(p, backend=False)
    p.set_defaults(func=cmd_export)
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

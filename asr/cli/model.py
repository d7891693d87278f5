"""``asr train``, ``evaluate``, ``report``, ``plot``, ``average`` and ``export``: the commands
that make, measure and ship a model."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import asr
from asr.checkpoint import average_checkpoints
from asr.cli.flags import DEVICE_HELP, add_decode_flags, decode_config, model_path
from asr.config import ONSET_FIELDS
from asr.export import FORMATS, export_checkpoint, export_graph


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


def cmd_export(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(args.model, backend="torch", precision="fp32")
    decode = decode_config(recognizer, args)
    onset = {k: getattr(args, k) for k in ONSET_FIELDS if getattr(args, k) is not None}
    features = dataclasses.replace(recognizer.config.features, **onset)
    if args.format == "checkpoint":
        written = export_checkpoint(args.model, args.output, half=args.half, decode=decode, features=features)
    elif args.half:
        raise ValueError("--half applies to --format checkpoint only (graphs are exported in float32)")
    else:
        written = export_graph(args.model, args.output, args.format, decode=decode, features=features)
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


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
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
    p.add_argument("--onset-db", type=float, help="cut each clip's lead quieter than this many dB below "
                   "its peak, so added silence changes nothing (features.onset_db; 0: off)")  # fmt: skip
    p.add_argument("--onset-margin-ms", type=float,
                   help="lead kept before the onset (features.onset_margin_ms)")  # fmt: skip
    p.add_argument("--onset-align-ms", type=float, help="keep whole frames of this many ms of a shorter lead "
                   "instead of padding zeros (features.onset_align_ms)")  # fmt: skip
    add_decode_flags(p, backend=False)
    p.set_defaults(func=cmd_export)

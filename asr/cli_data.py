"""``asr prep``, ``validate``, ``manifest`` and ``lm build``: the commands that make data and
LMs (``asr.cli`` holds the ones that run a model, and adds ``lm tune`` to the ``lm`` group)."""

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


def cmd_lm_build(args: argparse.Namespace) -> int:
    from asr.lm import build_files, read_words
    from asr.sentences import excluded_texts

    model = asr.load_model(args.model) if args.model else None
    text_cfg = model.config.text if model else None
    alphabet = model.vocab.tokens[1:] if model else None
    arpa, lexicon = build_files(
        args.text,
        args.output,
        args.order,
        tuple(args.exclude),
        text_cfg,
        excluded_texts(args.exclude_texts),
        args.max_words,
        args.prune,
        alphabet,
        parse_bytes(args.memory),
        args.vocab_size,
        not args.quiet,
        read_words(args.vocab) if args.vocab else None,
    )
    print(f"{arpa}\n{lexicon}")
    return 0


def cmd_lm_binary(args: argparse.Namespace) -> int:
    from asr.lm import compile_binary
    from asr.sentences import compressed

    arpa = Path(args.arpa)  # lm.arpa[.gz] -> lm.bin: the decoder finds lm.lexicon beside either
    name = arpa.stem if compressed(arpa) else arpa.name
    out = args.output or arpa.with_name(name.removesuffix(".arpa") + ".bin")
    print(compile_binary(arpa, out, args.quantize, args.build_binary, args.memory))
    return 0


def parse_bytes(text: str) -> int:
    """'4G', '512M', '100k' or a number of bytes.

    >>> parse_bytes("4G"), parse_bytes("512M"), parse_bytes("1000")
    (4294967296, 536870912, 1000)
    """
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower().removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


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


def add_commands(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> argparse._SubParsersAction:
    """Register the data commands; returns the ``lm`` group's actions."""
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

    p = sub.add_parser("lm", help="build word n-gram language models")
    lm_actions = p.add_subparsers(dest="action", required=True)
    b = lm_actions.add_parser("build", parents=[common], help="text -> Kneser-Ney ARPA + lexicon")
    b.add_argument(
        "text", type=Path, nargs="+", help="sentence files/folders (id|raw|text, 'ID TEXT', plain; .gz/.xz)"
    )
    b.add_argument("-o", "--output", type=Path, required=True, help="ARPA file; the lexicon goes beside it")
    b.add_argument("--order", type=int, default=3, help="n-gram order (default 3)")
    b.add_argument("--exclude", nargs="+", default=[], help="skip ids starting with these (held-out data)")
    b.add_argument(
        "--exclude-texts",
        nargs="+",
        type=Path,
        default=[],
        help="sentence files or manifests (test sets) whose sentences are left out",
    )
    b.add_argument("--max-words", type=int, help="read at most this many words")
    b.add_argument("--memory", default="2G", help="memory for counting, e.g. 4G (disk holds the rest)")
    b.add_argument("--vocab-size", type=int, help="keep the N most frequent words; the rest become <unk>")
    b.add_argument(
        "--vocab",
        type=Path,
        help="keep only these words (first field of each line: a word list or lexicon); with --vocab-size, "
        "the N most frequent of them",
    )
    b.add_argument(
        "--prune",
        type=int,
        nargs="+",
        default=[],
        help="per order, drop n-grams seen at most this often (as lmplz: 0 1 1)",
    )
    b.add_argument("--model", help="this checkpoint's normaliser and alphabet (lexicon: words it can spell)")
    b.set_defaults(func=cmd_lm_build)
    b = lm_actions.add_parser(
        "binary", parents=[common], help="ARPA -> KenLM binary trie (starts fast; needs KenLM's build_binary)"
    )
    b.add_argument("arpa", type=Path, help="ARPA file (.gz/.xz/.bz2 too)")
    b.add_argument("-o", "--output", type=Path, help="default: the ARPA's stem + .bin")
    b.add_argument("--quantize", type=int, default=8, help="bits per probability and backoff; 0: none")
    b.add_argument("--build-binary", help="default: $KENLM_BUILD_BINARY, PATH, .venv/bin")
    b.add_argument("--memory", default="1G", help="sort memory, as build_binary's -S")
    b.set_defaults(func=cmd_lm_binary)
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

    return lm_actions

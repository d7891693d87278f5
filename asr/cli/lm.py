"""``asr lm build``, ``binary`` and ``tune``: word n-gram LMs for beam search."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import asr
from asr.cli.flags import DEVICE_HELP, add_decode_flags, decode_config, model_path


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


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
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
    t.set_defaults(func=cmd_lm_tune)

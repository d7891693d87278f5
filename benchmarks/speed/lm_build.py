"""LM building at book scale: words/s, peak memory, output size and held-out perplexity.

Builds word n-gram LMs from the first N words of the Gutenberg shards in ../shared/data/text/gutenberg
with ``asr lm build`` (asr/lm/books.py), and, in the same run on the same text, with the other
builders that install here: IRSTLM (Debian ``irstlm``: build-lm.sh, improved Kneser-Ney, then
compile-lm to ARPA) and asr's in-memory reference estimator (asr.lm.build; small sizes only).
Perplexity is measured on the last sentences of the last shard (never in any training text), with
KenLM (flashlight-text) reading each ARPA file. Each build runs in its own process; peak RSS is
that process tree's.

Usage: python -m benchmarks.speed.lm_build [--words 1e6 1e7 5e7] [--orders 3 4] [--prune none 0,1,1]
       [--irstlm-max-words 1e7] [--shards DIR] [--smoke] | --score LM.arpa[.gz] ...
"""

from __future__ import annotations

import argparse
import lzma
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asr import Normalizer, TextConfig
from asr.lm import read_corpus
from benchmarks.harness import ROOT, run_or_smoke

SHARDS = ROOT.parent / "shared" / "data" / "text" / "gutenberg"
IRSTLM = Path("/usr/lib/irstlm/bin")


def write_texts(folder: Path, sizes: list[int], shard_dir: Path, held_out_sentences: int
                ) -> tuple[dict[int, Path], Path]:  # fmt: skip
    """One normalised training file per size (the first N words of the shards) and the held-out
    file (the last ``held_out_sentences`` lines of the last shard)."""
    shards = sorted(shard_dir.glob("books-*.txt.xz"))
    with lzma.open(shards[-1], "rt") as handle:
        lines = handle.read().splitlines()
    held_out = folder / "heldout.txt"
    held_out.write_text("\n".join(lines[-held_out_sentences:]) + "\n")
    budget = sum(len(line.split()) for line in lines[:-held_out_sentences])
    budget += sum(_words(s) for s in shards[:-1])
    if max(sizes) > budget:
        raise SystemExit(f"only {budget} words outside the held-out sentences")
    normalizer = Normalizer(TextConfig())
    texts = {}
    for size in sizes:
        path = folder / f"train{size}.txt"
        with path.open("w") as out:
            for words in read_corpus(shards, normalizer, max_words=size):
                out.write(" ".join(words) + "\n")
        texts[size] = path
    return texts, held_out


def _words(shard: Path) -> int:
    with lzma.open(shard, "rt") as handle:
        return sum(len(line.split()) for line in handle)


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``command`` in a child that reports its own children's peak RSS; (seconds, peak GB)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(r.returncode)")  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-1500:]}")
    return seconds, int(done.stderr.strip().splitlines()[-1]) / 2**20  # KiB -> GiB


def build_ours(text: Path, out: Path, order: int, prune: list[int], memory: str) -> tuple[float, float]:
    command = [
        sys.executable,
        "-m",
        "asr",
        "lm",
        "build",
        str(text),
        "-o",
        str(out),
        "--order",
        str(order),
        "--memory",
        memory,
        "-q",
    ]
    return measured(command + (["--prune", *map(str, prune)] if prune else []))


def build_reference(text: Path, out: Path, order: int, prune: list[int]) -> tuple[float, float]:
    code = ("import sys; from asr.lm import build, write_arpa; "
            "s = [l.split() for l in open(sys.argv[1])]; "
            "write_arpa(build(s, int(sys.argv[3]), [int(x) for x in sys.argv[4:]]),"
            " sys.argv[2])")  # fmt: skip
    return measured([sys.executable, "-c", code, str(text), str(out), str(order), *map(str, prune)])


def build_irstlm(text: Path, out: Path, order: int, prune: list[int], tmp: Path) -> tuple[float, float]:
    env = {**os.environ, "IRSTLM": str(IRSTLM.parent), "PATH": f"{IRSTLM}:{os.environ['PATH']}"}
    marked = tmp / "irst_in.txt"
    with text.open() as src, marked.open("w") as dst:
        dst.writelines(f"<s> {line.strip()} </s>\n" for line in src)
    ilm = tmp / "irst.ilm.gz"
    work = tmp / "irst_work"
    shutil.rmtree(work, ignore_errors=True)
    command = ["build-lm.sh", "-i", str(marked), "-n", str(order), "-o", str(ilm), "-k", "4",
               "-s", "improved-kneser-ney", "-t", str(work)]  # fmt: skip
    if prune and any(prune):
        command += ["-p"]  # IRSTLM prunes singletons of orders >= 3 only; no per-order counts
    seconds, peak = measured(command, env)
    more, peak2 = measured([str(IRSTLM / "compile-lm"), "--text=yes", str(ilm), str(out)], env)
    return seconds + more, max(peak, peak2)


def perplexity(arpa: Path, held_out: Path) -> float:
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    words = Dictionary()
    sentences = [line.split() for line in held_out.read_text().splitlines() if line.strip()]
    for w in sorted({w for s in sentences for w in s} | {"<unk>"}):
        words.add_entry(w)
    lm = KenLM(str(arpa), words)
    log10_total, count = 0.0, 0
    for sentence in sentences:
        state = lm.start(False)
        for w in sentence:
            state, score = lm.score(state, words.get_index(w))
            log10_total += score
        state, score = lm.finish(state)
        log10_total += score
        count += len(sentence) + 1
    return 10 ** (-log10_total / count)


def smoke_shards(folder: Path) -> Path:
    """Two small .xz shards of made-up sentences over a 300-word vocabulary."""
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(300)]
    folder.mkdir(parents=True, exist_ok=True)
    for shard in ("books-01.txt.xz", "books-02.txt.xz"):
        lines = (" ".join(rng.choices(vocabulary, k=rng.randint(4, 12))) for _ in range(400))
        with lzma.open(folder / shard, "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=float, nargs="+", default=[1e6, 1e7, 5e7])
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--prune", nargs="+", default=["none", "0,1,1,1"], help="per-order counts, or none")
    parser.add_argument("--memory", default="4G")
    parser.add_argument("--reference-max-words", type=float, default=2e6, help="dict reference up to this")
    parser.add_argument("--irstlm-max-words", type=float, default=5e7, help="IRSTLM up to this")
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--score", type=Path, nargs="+", help="only score these ARPA files")
    parser.add_argument("--shards", type=Path, default=SHARDS, help="folder of books-*.txt.xz")
    parser.add_argument("--held-out-sentences", type=int, default=20_000)
    return run_or_smoke(parser, argv, run, smoke, "5,000 made-up words, order 3, unpruned")


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.shards, args.held_out_sentences = smoke_shards(tmp / "shards"), 50
    args.words, args.orders, args.prune, args.reference_max_words = [5000], [3], ["none"], 5000


def run(args: argparse.Namespace) -> None:
    if args.score:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
            _, held_out = write_texts(Path(tmp_name), [0], args.shards, args.held_out_sentences)
            for arpa in args.score:
                print(f"{arpa}: perplexity {perplexity(arpa, held_out):.1f}")
        return
    sizes = [int(w) for w in args.words]
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        texts, held_out = write_texts(tmp, sizes, args.shards, args.held_out_sentences)
        print(f"held-out: the last {args.held_out_sentences} sentences of the last shard (never trained on)",
              end="\n\n")
        print("| builder | words | order | prune | seconds | words/s | peak RSS | ARPA | n-grams | ppl |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for size in sizes:
            for order in args.orders:
                for prune_text in args.prune:
                    prune = [] if prune_text == "none" else [int(x) for x in prune_text.split(",")][:order]
                    text, out = texts[size], tmp / "lm.arpa"
                    runs = [("asr lm build", build_ours, (text, out, order, prune, args.memory))]
                    if size <= args.reference_max_words:
                        runs.append(("asr.lm.build (dict)", build_reference, (text, out, order, prune)))
                    if (IRSTLM / "build-lm.sh").exists() and size <= args.irstlm_max_words:
                        runs.append(("IRSTLM 6 (improved KN)", build_irstlm, (text, out, order, prune, tmp)))
                    for name, function, call in runs:
                        row = f"| {name} | {size:,} | {order} | {prune_text} |"
                        print(row, one_row(function, call, size, out, held_out), flush=True)


def one_row(function, call, size: int, out: Path, held_out: Path) -> str:  # type: ignore[no-untyped-def]
    try:
        seconds, peak = function(*call)
    except RuntimeError as err:
        return f" failed: {str(err)[-300:]} |"
    ngrams = sum(int(line.split("=")[1]) for line in _header(out))
    megabytes = out.stat().st_size / 2**20
    cells = [f"{seconds:.0f}", f"{size / seconds:,.0f}", f"{peak:.2f} GB", f"{megabytes:.0f} MB",
             f"{ngrams:,}", f"{perplexity(out, held_out):.1f}"]  # fmt: skip
    out.unlink()
    return " " + " | ".join(cells) + " |"


def _header(arpa: Path) -> list[str]:
    lines = []
    with arpa.open() as handle:
        for line in handle:
            if line.startswith("ngram "):
                lines.append(line)
            elif line.startswith("\\1-grams"):
                return lines
    return lines


if __name__ == "__main__":
    main()

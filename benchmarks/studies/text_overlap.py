"""Do test transcripts occur inside an LM corpus? A contamination check beyond exact sentences.

`asr lm build --exclude-texts` drops corpus sentences equal to a test transcript, but a LibriSpeech
utterance is a piece of a book sentence, so a book that a test speaker read would slip through.
This counts, per manifest, the utterances that share a run of N consecutive normalised words with
the corpus (runs may cross the corpus's line breaks); a handful of shared idioms is normal at small
N, whole passages are not.

Usage: python -m benchmarks.studies.text_overlap --manifests data/*/test.jsonl --text books-0*.txt.xz [-n 10]
       [--smoke]
"""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path

from asr import Normalizer, TextConfig, read_manifest
from asr.lm import read_corpus
from benchmarks.harness import run_or_smoke, smoke_corpus


def runs_of(manifests: list[Path], n: int, normalize: Normalizer) -> tuple[dict, dict[Path, int]]:
    """{n-word run: {(manifest, utterance index)}} and each manifest's utterance count."""
    runs: dict[tuple[str, ...], set[tuple[Path, int]]] = {}
    sizes = {}
    for manifest in manifests:
        utterances = read_manifest(manifest)
        sizes[manifest] = len(utterances)
        for i, utterance in enumerate(utterances):
            words = normalize(utterance.text).split()
            for j in range(len(words) - n + 1):
                runs.setdefault(tuple(words[j : j + n]), set()).add((manifest, i))
    return runs, sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, nargs="+", default=[])
    parser.add_argument("--text", type=Path, nargs="+", default=[], help="corpus files (.gz/.xz too)")
    parser.add_argument("-n", type=int, default=10, help="run length in words")
    return run_or_smoke(parser, argv, run, smoke, "6 tone clips; a text with 2",
                        required=("manifests", "text"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    manifest = smoke_corpus(tmp)
    corpus = tmp / "corpus.txt"
    corpus.write_text("".join(f"{u.text}\n" for u in read_manifest(manifest)[:2]))
    args.manifests, args.text, args.n = [manifest], [corpus], 1


def run(args: argparse.Namespace) -> None:
    normalize = Normalizer(TextConfig())
    runs, sizes = runs_of(args.manifests, args.n, normalize)
    hits: set[tuple[Path, int]] = set()
    window: deque[str] = deque(maxlen=args.n)
    words = 0
    for sentence in read_corpus(args.text, normalize):
        for word in sentence:
            window.append(word)
            words += 1
            if len(window) == args.n:
                hits |= runs.get(tuple(window), set())
    print(f"{words:,} corpus words; utterances sharing a {args.n}-word run with them:")
    print("| manifest | utterances | sharing a run |\n|---|---|---|")
    for manifest, size in sizes.items():
        print(f"| {manifest} | {size} | {sum(1 for m, _ in hits if m == manifest)} |")


if __name__ == "__main__":
    main()

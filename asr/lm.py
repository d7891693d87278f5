"""Word n-gram language models: sentences -> interpolated modified Kneser-Ney -> ARPA file.

KenLM's ``lmplz`` does this best, but it builds from C++ source with Boost and
cannot be pip-installed; no maintained Python package writes Kneser-Ney ARPA files.
:func:`build` here is the textbook estimator (Chen & Goodman 1998, as lmplz does:
continuation counts for lower orders, three discounts per order, interpolation down
to a uniform distribution) on Python dicts: short, readable, and the reference that
:mod:`asr.lmbuild` (the same estimate on numpy arrays and disk, for book-scale text,
used by ``asr lm build``) is tested against. The ARPA output loads in KenLM and
flashlight-text (see :mod:`asr.decode`); :func:`compile_binary` turns it into KenLM's binary
trie, which the decoder maps instead of parsing.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.config import TextConfig
from asr.runtime import MissingDependency
from asr.text import Normalizer
from asr.textfiles import SentenceFilter, compressed, iter_sentences, open_text, text_files

logger = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Ngram = tuple[str, ...]


@dataclass
class NgramModel:
    """``prob[n][ngram]`` and ``backoff[n][context]`` as log10 values, as an ARPA file stores them."""

    order: int
    prob: list[dict[Ngram, float]]  # index n-1 holds the n-grams
    backoff: list[dict[Ngram, float]]

    def logprob(self, word: str, context: Ngram) -> float:
        """log10 p(word | context), backing off as an ARPA reader does."""
        context = context[-(self.order - 1) :] if self.order > 1 else ()
        penalty = 0.0
        while True:
            ngram = (*context, word)
            found = self.prob[len(ngram) - 1].get(ngram)
            if found is not None:
                return penalty + found
            if not context:
                return penalty + self.prob[0][(UNK,)]
            penalty += self.backoff[len(context) - 1].get(context, 0.0)
            context = context[1:]


def _discounts(counts: Counter[Ngram], order: int) -> tuple[float, float, float]:
    return discounts(Counter(c for c in counts.values() if c <= 4), order)


def discounts(counts_of_counts: Counter[int], order: int) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from how many n-grams were seen 1..4 times;
    fixed fallbacks where the corpus is too small for the estimate to be valid."""
    n1, n2, n3, n4 = (counts_of_counts.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) > 0:
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < di < k + 1 for k, di in enumerate(d)):
            return d
    logger.warning("order %d: too little data for Kneser-Ney discount estimates; using 0.5/1.0/1.5", order)
    return (0.5, 1.0, 1.5)


def build(sentences: Iterable[list[str]], order: int = 3, prune: Sequence[int] = ()) -> NgramModel:
    """Estimate an interpolated modified Kneser-Ney model from tokenised sentences.

    ``prune[n-1]`` > 0 drops n-grams (n >= 2) whose adjusted count is at most that, as KenLM's
    ``lmplz --prune`` does; backoff weights are then recomputed so every context still sums to one.
    """
    if order < 1:
        raise ValueError("order must be at least 1")
    thresholds = prune_thresholds(prune, order)
    raw: list[Counter[Ngram]] = [Counter() for _ in range(order)]
    vocab: set[str] = set()
    for words in sentences:
        if not words:
            continue
        vocab.update(words)
        tokens = (BOS, *words, EOS)
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                raw[n - 1][tokens[i : i + n]] += 1
    if not vocab:
        raise ValueError("no words to build a language model from")

    # Adjusted counts: raw for the highest order and for n-grams starting with <s>;
    # otherwise the number of distinct words seen to the left (continuation counts).
    adjusted: list[Counter[Ngram]] = [Counter() for _ in range(order)]
    adjusted[order - 1] = raw[order - 1]
    for n in range(order - 1, 0, -1):
        left = Counter(g[1:] for g in raw[n])
        adjusted[n - 1] = Counter({g: (c if g[0] == BOS else left[g]) for g, c in raw[n - 1].items()})

    predicted = sorted(vocab | {EOS, UNK})  # <s> is never predicted
    prob: list[dict[Ngram, float]] = [{} for _ in range(order)]
    backoff: list[dict[Ngram, float]] = [{} for _ in range(order)]
    lower: dict[Ngram, float] = {}  # linear probabilities of the order below, by n-gram
    for n in range(1, order + 1):
        counts = adjusted[n - 1]
        d1, d2, d3 = _discounts(Counter({g: c for g, c in counts.items() if g != (BOS,)}), n)
        by_context: dict[Ngram, list[tuple[str, int]]] = defaultdict(list)
        for g, c in counts.items():
            if g[-1] != BOS:
                by_context[g[:-1]].append((g[-1], c))
        gamma: dict[Ngram, float] = {}
        current: dict[Ngram, float] = {}
        for context, followers in by_context.items():
            total = sum(c for _, c in followers)
            kinds = Counter(min(c, 3) for _, c in followers)
            gamma[context] = (d1 * kinds[1] + d2 * kinds[2] + d3 * kinds[3]) / total
            for w, c in followers:
                discounted = max(c - (d1, d2, d3)[min(c, 3) - 1], 0.0) / total
                current[(*context, w)] = discounted + gamma[context] * _lower_prob(
                    lower, context, w, predicted
                )
        if n == 1:
            for w in predicted:  # words never seen (only <unk>) get the interpolated mass alone
                current.setdefault((w,), gamma[()] / len(predicted))
        for g, p in current.items():
            prob[n - 1][g] = math.log10(p)
        if n > 1:
            for context, g in gamma.items():
                backoff[n - 2][context] = math.log10(g) if g > 0 else -99.0
        lower = current
    prob[0][(BOS,)] = -99.0  # present so that <s> can be a context, never predicted
    model = NgramModel(order, prob, backoff)
    if any(thresholds):
        _prune(model, adjusted, thresholds)
    return model


def prune_thresholds(prune: Sequence[int], order: int) -> list[int]:
    """``--prune`` counts checked (as lmplz: up to one per order, unigrams never) and padded to ``order``."""
    if len(prune) > order or any(p < 0 for p in prune) or (prune and prune[0] != 0):
        raise ValueError(f"prune takes up to {order} counts >= 0, the first (unigrams) 0: got {list(prune)}")
    return list(prune) + [0] * (order - len(prune))


def _prune(model: NgramModel, counts: list[Counter[Ngram]], thresholds: list[int]) -> None:
    """Drop n-grams with adjusted count <= threshold, keeping any that a kept longer n-gram needs
    as its context or its suffix (ARPA readers look both up), then renormalise the backoffs."""
    for n in range(model.order, 1, -1):
        kept_above = model.prob[n] if n < model.order else {}
        needed = {g[:-1] for g in kept_above} | {g[1:] for g in kept_above}
        limit = thresholds[n - 1]
        model.prob[n - 1] = {
            g: p for g, p in model.prob[n - 1].items() if counts[n - 1][g] > limit or g in needed
        }
    for n in range(2, model.order + 1):  # contexts of length n-1, shortest first
        followers: dict[Ngram, list[str]] = defaultdict(list)
        for g in model.prob[n - 1]:
            followers[g[:-1]].append(g[-1])
        fresh: dict[Ngram, float] = {}
        for context in model.prob[n - 2]:
            words = followers.get(context, [])
            kept = sum(10 ** model.prob[n - 1][(*context, w)] for w in words)
            lower = sum(10 ** model.logprob(w, context[1:]) for w in words)
            if context[-1] == EOS or lower >= 1.0:
                continue
            fresh[context] = math.log10(max(1.0 - kept, 1e-12) / (1.0 - lower))
        model.backoff[n - 2] = fresh


def _lower_prob(lower: dict[Ngram, float], context: Ngram, word: str, predicted: list[str]) -> float:
    """p_lower(word | context[1:]); the order-0 model is uniform over the predicted words."""
    if not context:
        return 1.0 / len(predicted)
    return lower[(*context[1:], word)]


def write_arpa(model: NgramModel, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write("\n\\data\\\n")
        for n in range(1, model.order + 1):
            out.write(f"ngram {n}={len(model.prob[n - 1])}\n")
        for n in range(1, model.order + 1):
            out.write(f"\n\\{n}-grams:\n")
            backoffs = model.backoff[n - 1] if n < model.order else {}
            for g in sorted(model.prob[n - 1]):
                line = f"{model.prob[n - 1][g]:.6f}\t{' '.join(g)}"
                if n < model.order:
                    line += f"\t{backoffs.get(g, 0.0):.6f}"
                out.write(line + "\n")
        out.write("\n\\end\\\n")
    return path


def write_lexicon(
    model: NgramModel | Iterable[str], path: Path, alphabet: Iterable[str] | None = None
) -> Path:
    """One line per LM word: the word, its characters, then the word boundary ``|`` (the
    space token; :class:`asr.decode.BeamDecoder` adds one after the last word). With an
    ``alphabet`` (the acoustic model's characters), words it cannot spell are left out."""
    vocabulary = (g[0] for g in model.prob[0]) if isinstance(model, NgramModel) else model
    words = sorted(w for w in vocabulary if w not in (BOS, EOS, UNK))
    if alphabet is not None:
        letters = set(alphabet)
        unspellable = [w for w in words if not set(w) <= letters]
        if unspellable:
            logger.info("lexicon: %d words the model cannot spell left out, e.g. %s", len(unspellable),
                        ", ".join(unspellable[:5]))  # fmt: skip
        words = [w for w in words if set(w) <= letters]
    path = Path(path)
    path.write_text("".join(f"{w} {' '.join(w)} |\n" for w in words), encoding="utf-8")
    return path


def read_words(path: Path) -> list[str]:
    """The first field of each line: a word list, or a lexicon's words (``asr lm build --vocab``)."""
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def read_corpus(
    paths: Path | Sequence[Path],
    normalizer: Normalizer,
    exclude: tuple[str, ...] = (),
    exclude_texts: Iterable[str] = (),
    max_words: int | None = None,
) -> Iterator[list[str]]:
    """Normalised, tokenised sentences streamed from sentence files or folders (see
    :mod:`asr.textfiles`; ``.gz``/``.xz`` too), leaving out ids starting with an ``exclude`` prefix
    (held-out chapters) and sentences equal to an ``exclude_texts`` one (test transcripts); at most
    ``max_words`` words."""
    keep = SentenceFilter(exclude_texts, exclude)
    total = 0
    for path in text_files([paths] if isinstance(paths, (str, Path)) else list(paths)):
        for sentence_id, text in iter_sentences(path):
            if not keep(sentence_id, text):
                continue
            words = normalizer(text).split()
            if words:
                yield words
                total += len(words)
            if max_words is not None and total >= max_words:
                return


def build_files(
    text: Path | Sequence[Path],
    out: Path,
    order: int = 3,
    exclude: tuple[str, ...] = (),
    text_cfg: TextConfig | None = None,
    exclude_texts: Iterable[str] = (),
    max_words: int | None = None,
    prune: Sequence[int] = (),
    alphabet: Iterable[str] | None = None,
    memory: int = 2 << 30,
    vocab_size: int | None = None,
    show_progress: bool = False,
    allowed_words: Collection[str] | None = None,
) -> tuple[Path, Path]:
    """``text`` -> ``out`` (ARPA, by :func:`asr.lmbuild.build_arpa` in ``memory`` bytes) and ``out``
    with suffix ``.lexicon``; the normaliser must match the acoustic model's (default TextConfig)."""
    from asr.lmbuild import build_arpa
    from asr.runtime import progress_counter

    normalizer = Normalizer(text_cfg or TextConfig())
    excluded = list(exclude_texts)
    allowed = None if allowed_words is None else {normalizer(w) for w in allowed_words} - {""}

    def sentences() -> Iterator[list[str]]:
        return read_corpus(text, normalizer, exclude, excluded, max_words)

    with progress_counter(show_progress, total=max_words, unit="word", desc="counting") as advance:
        arpa, stats, words = build_arpa(sentences, Path(out), order, prune, memory, vocab_size,
                                        progress=advance, allowed=allowed)  # fmt: skip
    lexicon = write_lexicon(words, Path(out).with_suffix(".lexicon"), alphabet)
    logger.info("%s: %d sentences, %d words, %s n-grams, %.0f s (%.0f words/s)", arpa, stats.sentences,
                stats.words, "/".join(map(str, stats.ngrams)), stats.seconds,
                stats.words / max(stats.seconds, 1e-9))  # fmt: skip
    return arpa, lexicon


def find_build_binary(tool: str | None = None) -> str:
    """KenLM's ``build_binary``: ``tool``, else $KENLM_BUILD_BINARY, the PATH, or beside Python."""
    found = tool or os.environ.get("KENLM_BUILD_BINARY") or shutil.which("build_binary")
    beside = Path(sys.executable).parent / "build_binary"  # tools/build_kenlm.sh puts it in .venv/bin
    found = found or (str(beside) if beside.is_file() else None)
    if not found or not shutil.which(found):
        raise MissingDependency(
            f"KenLM's build_binary program was not found ({tool or 'PATH, $KENLM_BUILD_BINARY'}); "
            "`bash tools/build_kenlm.sh` builds it into .venv/bin (cmake from PyPI, a C++ compiler, 30 s)"
        )
    return found


def compile_binary(
    arpa: Path, out: Path, quantize: int = 8, tool: str | None = None, memory: str = "1G"
) -> Path:
    """ARPA (plain, .gz, .xz or .bz2) -> KenLM's binary trie at ``out``, by KenLM's ``build_binary``.

    The decoder maps the binary instead of parsing text: the bundled 91 MB ARPA took 1.1 s to
    load, the binary 1 ms; with ``quantize`` bits per probability and backoff (0: none) it is
    16 MB against the gzipped ARPA's 27 MB, for one word of 4,439 on validation (README)."""
    program = find_build_binary(tool)
    arpa, out = Path(arpa), Path(out)
    if not arpa.is_file():
        raise FileNotFoundError(f"language model not found: {arpa}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        source = arpa
        if compressed(arpa):  # a build_binary compiled without zlib or lzma cannot read it
            source = Path(tmp) / arpa.stem
            with open_text(arpa) as src, open(source, "w", encoding="utf-8") as dst:
                shutil.copyfileobj(src, dst)
        bits = ["-q", str(quantize), "-b", str(quantize)] if quantize else []
        partial = Path(tmp) / out.name
        cmd = [program, "-S", memory, "-T", f"{tmp}/sort", *bits, "trie", str(source), str(partial)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not partial.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"build_binary failed on {arpa} (exit {done.returncode}):\n{tail}")
        os.replace(partial, out)  # whole or not at all
    logger.info("%s: KenLM binary trie%s, %.1f MB", out, f", {quantize}-bit" if quantize else "",
                out.stat().st_size / 1e6)  # fmt: skip
    return out

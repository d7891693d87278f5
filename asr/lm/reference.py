"""The textbook interpolated modified Kneser-Ney estimator (Chen & Goodman 1998, as KenLM's
lmplz: continuation counts for lower orders, three discounts per order, interpolation down to a
uniform distribution) on Python dicts: short, readable, and the reference that
:mod:`asr.lm.books` (the same estimate on numpy arrays and disk, used by ``asr lm build``) is
tested against; and the ARPA writer."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.lm.symbols import BOS, EOS, UNK, Ngram, discounts, prune_thresholds


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
            for context, mass in gamma.items():
                backoff[n - 2][context] = math.log10(mass) if mass > 0 else -99.0
        lower = current
    prob[0][(BOS,)] = -99.0  # present so that <s> can be a context, never predicted
    model = NgramModel(order, prob, backoff)
    if any(thresholds):
        _prune(model, adjusted, thresholds)
    return model


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

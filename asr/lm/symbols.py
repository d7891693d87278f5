"""The leaf of the LM wing: sentence markers, n-gram keys, Kneser-Ney discounts and pruning
thresholds, shared by the reference estimator and the book-scale one."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

logger = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Ngram = tuple[str, ...]


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


def prune_thresholds(prune: Sequence[int], order: int) -> list[int]:
    """``--prune`` counts checked (as lmplz: up to one per order, unigrams never) and padded to ``order``."""
    if len(prune) > order or any(p < 0 for p in prune) or (prune and prune[0] != 0):
        raise ValueError(f"prune takes up to {order} counts >= 0, the first (unigrams) 0: got {list(prune)}")
    return list(prune) + [0] * (order - len(prune))

"""Kneser-Ney estimation at book scale: streamed text -> n-gram counts on disk -> ARPA, in bounded memory.

The same interpolated modified Kneser-Ney model as :func:`asr.lm.build` (which stays as the small,
readable reference; the tests hold the two equal), computed on numpy arrays instead of dicts:

1. Words get integer ids as the text streams by; every ``chunk`` of tokens is cut into n-grams of
   each order, counted, and appended to a run file per (order, partition) on disk
   (:mod:`asr.lm.counts`).
2. An n-gram's partition is a hash of its second-to-last word. With that one key, everything the
   estimate joins stays inside a partition: an n-gram, the (n+1)-grams whose suffix it is
   (continuation counts), its context's other followers (discounting mass), and the lower-order
   n-gram it interpolates with. So each partition is merged and estimated alone, and peak memory is
   one partition's arrays, not the corpus. Unigrams are global arrays (one slot per word).
3. Backoff weights are computed where a context's followers live and shipped to the partition of
   the context's own ARPA line; so are the contexts that pruning must keep.

Ids and the two-key packing of an n-gram: :mod:`asr.lm.counts`.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.files import atomic_output
from asr.lm.counts import (
    BACKOFF,
    BOS_ID,
    EOS_ID,
    MAX_ORDER,
    RECORD,
    UNK_ID,
    BuildStats,
    NgramCounter,
    RunStore,
    find_keys,
    pack,
    sorted_unique,
    unpack,
)
from asr.lm.symbols import discounts, prune_thresholds

# ---------------------------------------------------------------- the estimate


def _context_groups(k0: np.ndarray, k1: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted n-grams -> (start index of each context's run, run id of each n-gram)."""
    columns = unpack(k0, k1, n)
    c0, c1 = pack(columns[:-1])
    new = np.r_[True, (c0[1:] != c0[:-1]) | (c1[1:] != c1[:-1])]
    return np.flatnonzero(new), np.cumsum(new) - 1


def _interpolate(
    counts: np.ndarray,
    groups: np.ndarray,
    starts: np.ndarray,
    lower: np.ndarray,
    d: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated probabilities of sorted n-grams and the gamma of each context run."""
    kind = np.minimum(counts, 3)
    discount = np.array([0.0, *d])[kind]
    totals = np.add.reduceat(counts.astype(np.float64), starts)
    mass = np.add.reduceat(discount, starts)
    gamma = mass / totals
    prob = np.maximum(counts - discount, 0.0) / totals[groups] + gamma[groups] * lower
    return prob, gamma


@dataclass
class _Model:
    """What the writer needs besides the store: unigram arrays and the words."""

    words: list[str]
    unigram_logprob: np.ndarray
    unigram_backoff: np.ndarray
    predicted: np.ndarray  # bool per id: words that can be predicted (all but <s>, unseen words)


def build_arpa(
    sentences: Callable[[], Iterable[list[str]]],
    out: Path,
    order: int = 3,
    prune: Sequence[int] = (),
    memory: int = 2 << 30,
    vocab_size: int | None = None,
    tmp_dir: Path | None = None,
    partitions: int | None = None,
    progress: Callable[[int], None] | None = None,
    allowed: Collection[str] | None = None,
) -> tuple[Path, BuildStats, list[str]]:
    """Estimate a KN model of ``order`` from ``sentences()`` (called once, or twice when
    ``vocab_size`` or ``allowed`` limits the words) into the ARPA file ``out``; returns it, figures,
    and the words. ``allowed``: the only words kept (the rest become ``<unk>``), e.g. a clean word
    list, so that dialect or OCR spellings frequent in one book do not enter a large corpus's top N."""
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be 1..{MAX_ORDER}")
    thresholds = prune_thresholds(prune, order)
    started = time.perf_counter()
    limit = vocab_size or None  # 0 or None: no limit
    vocabulary = None
    if limit or allowed is not None:
        vocabulary = _top_words(sentences(), limit, allowed)
        if allowed is not None and not vocabulary:
            raise ValueError("none of the allowed words (--vocab) occurs in the text")
    # ~48 bytes per token per order while a chunk is cut and sorted, kept well under the budget
    chunk_tokens = max(10_000, memory // (48 * max(order, 2) * 4))
    parts = partitions or max(1, min(256, int(memory // (256 << 20))))
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="lmbuild-") as tmp:
        store = RunStore(Path(tmp), parts)
        counter = NgramCounter(order, store, chunk_tokens, vocabulary)
        for words in sentences():
            if words:
                counter.add(words)
                if progress is not None:
                    progress(len(words))
        counter.flush()
        if counter.stats.words == 0:
            raise ValueError("no words to build a language model from")
        model = _estimate(counter, store, order, thresholds)
        ngrams = _write(model, store, order, Path(out), "kept" if any(thresholds) else "adj")
    stats = counter.stats
    stats.vocabulary, stats.ngrams, stats.partitions = len(counter.words) - 3, ngrams, parts
    stats.seconds = time.perf_counter() - started
    return Path(out), stats, model.words


def _top_words(
    sentences: Iterable[list[str]], size: int | None, allowed: Collection[str] | None = None
) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for words in sentences:
        counts.update(words if allowed is None else [w for w in words if w in allowed])
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
    return {w: i + 3 for i, w in enumerate(sorted(w for w, _ in top))}


def _estimate(counter: NgramCounter, store: RunStore, order: int, thresholds: list[int]) -> _Model:
    vocab_n = len(counter.words)
    seen = np.pad(counter.unigrams, (0, vocab_n - len(counter.unigrams))) > 0
    # Merge each partition; adjusted counts: raw for the top order and for n-grams starting with
    # <s>, else the number of distinct words seen to the left (continuation counts).
    coc: list[Counter[int]] = [Counter() for _ in range(order + 1)]
    unigram_adjusted = np.zeros(vocab_n, np.int64)
    for p in range(store.partitions):
        merged = {n: sorted_unique(store.read("raw", n, p, RECORD)) for n in range(2, order + 1)}
        for n in range(2, order + 1):
            store.path("raw", n, p).unlink(missing_ok=True)
        for n in range(order, 1, -1):
            records = merged[n]
            if n < order:
                records = _continuation(records, merged[n + 1], n)
            store.write("adj", n, p, records)
            coc[n].update(_counts_of_counts(records["count"]))
        if order >= 2:  # each distinct bigram (v, w) adds one left word to w
            second = unpack(merged[2]["k0"], merged[2]["k1"], 2)[1]
            unigram_adjusted += np.bincount(second, minlength=vocab_n)
    raw_unigrams = np.pad(counter.unigrams, (0, vocab_n - len(counter.unigrams)))
    unigram_counts = unigram_adjusted if order >= 2 else raw_unigrams.copy()
    unigram_counts[BOS_ID] = 0  # <s> is never predicted
    coc[1].update(_counts_of_counts(unigram_counts[unigram_counts > 0]))
    per_order = [(0.0, 0.0, 0.0)] + [discounts(coc[n], n) for n in range(1, order + 1)]

    # Unigrams: interpolated with the uniform distribution over every predictable word.
    predicted = seen.copy()
    predicted[BOS_ID] = False
    predicted[UNK_ID] = True
    d = per_order[1]
    counted = unigram_counts * predicted
    kind = np.minimum(counted, 3)
    total = float(counted.sum())
    unigram_gamma = float(np.array([0.0, *d])[kind].sum()) / total
    uniform = 1.0 / int(predicted.sum())
    discounted = np.maximum(counted - np.array([0.0, *d])[kind], 0.0) / total
    unigram_prob = np.where(predicted, discounted + unigram_gamma * uniform, 0.0)
    unigram_logprob = np.where(predicted, np.log10(np.maximum(unigram_prob, 1e-300)), -99.0)
    unigram_backoff = np.zeros(vocab_n)
    model = _Model(counter.words, unigram_logprob, unigram_backoff, predicted)

    # Higher orders, partition by partition: probabilities and (unpruned) backoffs.
    for p in range(store.partitions):
        lower_keys: tuple[np.ndarray, np.ndarray] | None = None
        lower_prob = np.zeros(0)
        lower: np.ndarray
        for n in range(2, order + 1):
            records = store.read("adj", n, p, RECORD)
            if len(records) == 0:
                lower_keys, lower_prob = (records["k0"], records["k1"]), np.zeros(0)
                continue
            columns = unpack(records["k0"], records["k1"], n)
            if n == 2:
                lower = unigram_prob[columns[1]]
            else:
                index, found = find_keys(*lower_keys, *pack(columns[1:]))  # type: ignore[misc, call-arg]
                if not found.all():
                    raise AssertionError("a lower-order n-gram is missing from its partition")
                lower = lower_prob[index]
            starts, groups = _context_groups(records["k0"], records["k1"], n)
            prob, gamma = _interpolate(records["count"].astype(np.int64), groups, starts, lower, per_order[n])
            probs = np.zeros(len(records), BACKOFF)
            probs["k0"], probs["k1"], probs["value"] = records["k0"], records["k1"], prob
            store.write("prob", n, p, probs)
            context_columns = [c[starts] for c in columns[:-1]]
            bow = np.log10(np.maximum(gamma, 1e-300))
            _ship_backoffs(store, model, n - 1, context_columns, bow, np.ones(len(bow), bool))
            lower_keys, lower_prob = (records["k0"], records["k1"]), prob
    if any(thresholds):
        _prune(store, model, order, thresholds)
    return model


def _continuation(records: np.ndarray, higher: np.ndarray, n: int) -> np.ndarray:
    """Adjusted counts of ``records`` (n-grams): distinct left words, from the (n+1)-grams."""
    columns = unpack(higher["k0"], higher["k1"], n + 1)
    s0, s1 = pack(columns[1:])
    suffixes = np.zeros(len(higher), RECORD)
    suffixes["k0"], suffixes["k1"], suffixes["count"] = s0, s1, 1
    left = sorted_unique(suffixes)
    index, found = find_keys(left["k0"], left["k1"], records["k0"], records["k1"])
    out = records.copy()
    starts_with_bos = unpack(records["k0"], records["k1"], 1)[0] == BOS_ID
    out["count"] = np.where(starts_with_bos, records["count"], np.where(found, left["count"][index], 0))
    if not (out["count"] > 0).all():
        raise AssertionError("an n-gram without a left context")
    return out


def _counts_of_counts(counts: np.ndarray) -> Counter[int]:
    small = np.bincount(np.minimum(counts, 5).astype(np.int64), minlength=6)
    return Counter({k: int(small[k]) for k in range(1, 5)})


def _ship_backoffs(
    store: RunStore, model: _Model, k: int, context: list[np.ndarray], backoff: np.ndarray, keep: np.ndarray
) -> None:
    """Backoffs of k-word contexts go where the context's own ARPA line is written."""
    context = [c[keep] for c in context]
    backoff = backoff[keep]
    if k == 1:
        model.unigram_backoff[context[0]] = backoff
        return
    c0, c1 = pack(context)
    records = np.zeros(len(c0), BACKOFF)
    records["k0"], records["k1"], records["value"] = c0, c1, backoff
    store.route("bow", k, context[k - 2], records)


def _prune(store: RunStore, model: _Model, order: int, thresholds: list[int]) -> None:
    """Keep n-grams above their order's count, and any a kept longer n-gram needs as context or
    suffix; then renormalise the backoffs of every kept context from the kept probabilities."""
    for n in range(order, 1, -1):  # order-major: the needs of order n+1 are all known first
        for p in range(store.partitions):
            records = store.read("adj", n, p, RECORD)
            keep = records["count"] > thresholds[n - 1]
            needs = [sorted_unique(store.read("need", n, p, RECORD))]
            if n < order:
                above = store.read("kept", n + 1, p, RECORD)  # suffixes: same partition
                columns = unpack(above["k0"], above["k1"], n + 1)
                s0, s1 = pack(columns[1:])
                suffix = np.zeros(len(s0), RECORD)
                suffix["k0"], suffix["k1"] = s0, s1
                needs.append(suffix)
            for need in needs:
                index, found = find_keys(records["k0"], records["k1"], need["k0"], need["k1"])
                keep[index[found]] = True
            kept = records[keep]
            store.write("kept", n, p, kept)
            if n > 2:  # prefixes live in the partition of their own second-to-last word
                columns = unpack(kept["k0"], kept["k1"], n)
                c0, c1 = pack(columns[:-1])
                prefix = np.zeros(len(c0), RECORD)
                prefix["k0"], prefix["k1"] = c0, c1
                store.route("need", n - 1, columns[n - 3], prefix)
    for n in range(2, order + 1):  # drop the unpruned backoffs of contexts of n-1 words
        for p in range(store.partitions):
            store.path("bow", n - 1, p).unlink(missing_ok=True)
    model.unigram_backoff[:] = 0.0
    # Renormalise, partition by partition, shortest contexts first (a lower order's backoffs are
    # final before a higher order's p_lower uses them). p_lower walks down as an ARPA reader does.
    for p in range(store.partitions):
        local_bow: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        kept_prob: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for n in range(2, order + 1):
            kept = store.read("kept", n, p, RECORD)
            probs = store.read("prob", n, p, BACKOFF)
            index, found = find_keys(probs["k0"], probs["k1"], kept["k0"], kept["k1"])
            logp = np.log10(np.maximum(probs["value"][index], 1e-300))
            kept_prob[n] = (kept["k0"], kept["k1"], logp)
            if len(kept) == 0:
                local_bow[n - 1] = (np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0))
                continue
            columns = unpack(kept["k0"], kept["k1"], n)
            lower = _backed_off_logprob(columns[1:], kept_prob, local_bow, model)
            starts, groups = _context_groups(kept["k0"], kept["k1"], n)
            kept_mass = np.add.reduceat(10.0**logp, starts)
            lower_mass = np.add.reduceat(10.0**lower, starts)
            context = [c[starts] for c in columns[:-1]]
            valid = (context[-1] != EOS_ID) & (lower_mass < 1.0)
            bow = np.log10(np.maximum(1.0 - kept_mass, 1e-12) / np.where(valid, 1.0 - lower_mass, 1.0))
            c0, c1 = pack(context)
            local_bow[n - 1] = (c0[valid], c1[valid], bow[valid])
            _ship_backoffs(store, model, n - 1, context, bow, valid)


def _backed_off_logprob(
    columns: list[np.ndarray],
    kept_prob: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    local_bow: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    model: _Model,
) -> np.ndarray:
    """log10 p(last | the rest) in the pruned model, for rows of ``columns`` (same partition)."""
    m = len(columns)
    if m == 1:
        return model.unigram_logprob[columns[0]]
    k0, k1, logp = kept_prob[m]
    index, found = find_keys(k0, k1, *pack(columns))
    result = np.where(found, logp[index] if len(logp) else 0.0, 0.0)
    missing = ~found
    if missing.any():
        sub = [c[missing] for c in columns]
        if m - 1 == 1:
            bow = model.unigram_backoff[sub[0]]
        else:
            b0, b1, values = local_bow[m - 1]
            bi, bf = find_keys(b0, b1, *pack(sub[:-1]))
            bow = np.where(bf, values[bi] if len(values) else 0.0, 0.0)
        result[missing] = bow + _backed_off_logprob(sub[1:], kept_prob, local_bow, model)
    return result


# ---------------------------------------------------------------- writing ARPA


def _write(model: _Model, store: RunStore, order: int, out: Path, kind: str) -> list[int]:
    """ARPA text; ``kind`` names the n-grams written ("adj": all, "kept": those pruning kept)."""
    sizes = [int(model.predicted.sum()) + 1]  # + <s>
    for n in range(2, order + 1):
        sizes.append(sum(len(store.read(kind, n, p, RECORD)) for p in range(store.partitions)))
    out.parent.mkdir(parents=True, exist_ok=True)
    words = np.array(model.words, dtype=object)
    with atomic_output(out) as partial, partial.open("w", encoding="utf-8") as handle:
        handle.write("\n\\data\\\n" + "".join(f"ngram {n}={s}\n" for n, s in enumerate(sizes, start=1)))
        handle.write("\n\\1-grams:\n")
        for i in sorted(range(len(words)), key=lambda i: words[i]):
            if not (model.predicted[i] or i == BOS_ID):
                continue
            line = f"{model.unigram_logprob[i]:.6f}\t{words[i]}"
            if order > 1:
                line += f"\t{model.unigram_backoff[i]:.6f}"
            handle.write(line + "\n")
        for n in range(2, order + 1):
            handle.write(f"\n\\{n}-grams:\n")
            for p in range(store.partitions):
                records = store.read(kind, n, p, RECORD)
                if len(records) == 0:
                    continue
                probs = store.read("prob", n, p, BACKOFF)
                index, _ = find_keys(probs["k0"], probs["k1"], records["k0"], records["k1"])
                logp = np.log10(np.maximum(probs["value"][index], 1e-300))
                text = [
                    " ".join(row) for row in zip(*(words[c] for c in unpack(records["k0"], records["k1"], n)))
                ]
                if n < order:
                    bows = store.read("bow", n, p, BACKOFF)  # appended by several partitions
                    bows = bows[np.lexsort((bows["k1"], bows["k0"]))]
                    bi, bf = find_keys(bows["k0"], bows["k1"], records["k0"], records["k1"])
                    bow = np.where(bf, bows["value"][bi] if len(bows) else 0.0, 0.0)
                    handle.writelines(f"{a:.6f}\t{t}\t{b:.6f}\n" for a, t, b in zip(logp, text, bow))
                else:
                    handle.writelines(f"{a:.6f}\t{t}\n" for a, t in zip(logp, text))
        handle.write("\n\\end\\\n")
    return sizes

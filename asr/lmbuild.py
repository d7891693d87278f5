"""Kneser-Ney estimation at book scale: streamed text -> n-gram counts on disk -> ARPA, in bounded memory.

The same interpolated modified Kneser-Ney model as :func:`asr.lm.build` (which stays as the small,
readable reference; the tests hold the two equal), computed on numpy arrays instead of dicts:

1. Words get integer ids as the text streams by; every ``chunk`` of tokens is cut into n-grams of
   each order, counted, and appended to a run file per (order, partition) on disk.
2. An n-gram's partition is a hash of its second-to-last word. With that one key, everything the
   estimate joins stays inside a partition: an n-gram, the (n+1)-grams whose suffix it is
   (continuation counts), its context's other followers (discounting mass), and the lower-order
   n-gram it interpolates with. So each partition is merged and estimated alone, and peak memory is
   one partition's arrays, not the corpus. Unigrams are global arrays (one slot per word).
3. Backoff weights are computed where a context's followers live and shipped to the partition of
   the context's own ARPA line; so are the contexts that pruning must keep.

Ids: 0 ``<unk>``, 1 ``<s>``, 2 ``</s>``, words from 3. An n-gram of up to 6 ids packs into two
uint64 keys, 21 bits an id, so sorting the keys sorts the n-grams.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.lm import BOS, EOS, UNK, discounts, prune_thresholds

logger = logging.getLogger(__name__)

BITS = 21  # per id: 2 M words
MAX_WORDS = (1 << BITS) - 1
MAX_ORDER = 6
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
RECORD = np.dtype([("k0", "<u8"), ("k1", "<u8"), ("count", "<u8")])
BACKOFF = np.dtype([("k0", "<u8"), ("k1", "<u8"), ("value", "<f8")])


@dataclass
class BuildStats:
    sentences: int = 0
    words: int = 0
    vocabulary: int = 0
    ngrams: list[int] = field(default_factory=list)  # written, per order
    seconds: float = 0.0
    partitions: int = 0


# ---------------------------------------------------------------- packing n-grams into keys


def pack(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ids (one array per position) -> (k0, k1): positions 0-2 in k0, 3-5 in k1, first id highest."""
    keys = []
    for part in (columns[:3], columns[3:6]):
        key = np.zeros(len(columns[0]), np.uint64)
        for position in range(3):
            key <<= np.uint64(BITS)
            if position < len(part):
                key |= part[position].astype(np.uint64)
        keys.append(key)
    return keys[0], keys[1]


def unpack(k0: np.ndarray, k1: np.ndarray, n: int) -> list[np.ndarray]:
    mask = np.uint64(MAX_WORDS)
    columns = []
    for position in range(n):
        key = k0 if position < 3 else k1
        shift = np.uint64(BITS * (2 - position % 3))
        columns.append(((key >> shift) & mask).astype(np.int64))
    return columns


def _sorted_unique(records: np.ndarray) -> np.ndarray:
    """Records sorted by key with equal keys' counts summed."""
    if len(records) == 0:
        return records
    records = records[np.lexsort((records["k1"], records["k0"]))]
    starts = np.flatnonzero(
        np.r_[True, (records["k0"][1:] != records["k0"][:-1]) | (records["k1"][1:] != records["k1"][:-1])]
    )
    out = records[starts].copy()
    out["count"] = np.add.reduceat(records["count"], starts)
    return out


def _find(k0: np.ndarray, k1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each (q0, q1) in the sorted keys (k0, k1), and whether it is there."""
    if len(k0) == 0:
        return np.zeros(len(q0), np.int64), np.zeros(len(q0), bool)
    # Two-key search: one structured view compares lexicographically.
    keys = np.rec.fromarrays([k0, k1], names="a,b")
    queries = np.rec.fromarrays([q0, q1], names="a,b")
    index = np.searchsorted(keys, queries)
    inside = index < len(k0)
    clipped = np.minimum(index, len(k0) - 1)
    found = inside & (k0[clipped] == q0) & (k1[clipped] == q1)
    return clipped, found


# ---------------------------------------------------------------- the on-disk store


class _Store:
    """Run files per (kind, order, partition), appended as raw records and read back whole."""

    def __init__(self, folder: Path, partitions: int) -> None:
        self.folder, self.partitions = folder, partitions

    def path(self, kind: str, n: int, p: int) -> Path:
        return self.folder / f"{kind}.{n}.{p}.bin"

    def append(self, kind: str, n: int, p: int, records: np.ndarray) -> None:
        if len(records):
            with self.path(kind, n, p).open("ab") as handle:
                records.tofile(handle)

    def read(self, kind: str, n: int, p: int, dtype: np.dtype) -> np.ndarray:
        path = self.path(kind, n, p)
        return np.fromfile(path, dtype) if path.exists() else np.zeros(0, dtype)

    def write(self, kind: str, n: int, p: int, records: np.ndarray) -> None:
        self.path(kind, n, p).unlink(missing_ok=True)
        self.append(kind, n, p, records)

    def route(self, kind: str, n: int, key_word: np.ndarray, records: np.ndarray) -> None:
        """Append each record to the partition of its ``key_word``."""
        part = partition_of(key_word, self.partitions)
        for p in np.unique(part):
            self.append(kind, n, int(p), records[part == p])


def partition_of(word_ids: np.ndarray, partitions: int) -> np.ndarray:
    return ((word_ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) % np.uint64(
        partitions
    )


# ---------------------------------------------------------------- pass 1: counting


class _Counter:
    def __init__(
        self, order: int, store: _Store, chunk_tokens: int, vocabulary: dict[str, int] | None
    ) -> None:
        self.order, self.store, self.chunk_tokens = order, store, chunk_tokens
        self.fixed = vocabulary is not None  # top-N words given: the rest is <unk>
        self.ids: dict[str, int] = vocabulary if vocabulary is not None else {}
        self.words: list[str] = [UNK, BOS, EOS]
        if vocabulary is not None:
            self.words += [w for w, _ in sorted(vocabulary.items(), key=lambda item: item[1])]
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.unigrams = np.zeros(0, np.int64)
        self.stats = BuildStats()

    def add(self, words: list[str]) -> None:
        ids = self.ids
        if self.fixed:
            row = [ids.get(w, UNK_ID) for w in words]
        else:
            row = []
            for w in words:
                i = ids.get(w)
                if i is None:
                    i = ids[w] = len(self.words)
                    self.words.append(w)
                row.append(i)
        if len(self.words) > MAX_WORDS:
            raise ValueError(f"more than {MAX_WORDS} distinct words: limit the vocabulary (--vocab-size)")
        self.buffer.append(np.array([BOS_ID, *row, EOS_ID], np.int64))
        self.buffered += len(row) + 2
        self.stats.sentences += 1
        self.stats.words += len(row)
        if self.buffered >= self.chunk_tokens:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        tokens = np.concatenate(self.buffer)
        lengths = np.array([len(s) for s in self.buffer], np.int64)
        ends = np.cumsum(lengths)  # one past each sentence's last token
        sentence_end = np.repeat(ends, lengths)
        self.buffer, self.buffered = [], 0
        counts = np.bincount(tokens, minlength=len(self.words))
        self.unigrams = np.pad(self.unigrams, (0, len(counts) - len(self.unigrams))) + counts
        positions = np.arange(len(tokens))
        for n in range(2, self.order + 1):
            starts = positions[positions + n <= sentence_end]
            columns = [tokens[starts + j] for j in range(n)]
            k0, k1 = pack(columns)
            records = np.zeros(len(starts), RECORD)
            records["k0"], records["k1"], records["count"] = k0, k1, 1
            part = partition_of(columns[n - 2], self.store.partitions)
            order = np.argsort(part, kind="stable")
            part, records = part[order], records[order]
            bounds = np.flatnonzero(np.r_[True, part[1:] != part[:-1], True])
            for a, b in zip(bounds[:-1], bounds[1:]):
                self.store.append("raw", n, int(part[a]), _sorted_unique(records[a:b]))


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
) -> tuple[Path, BuildStats, list[str]]:
    """Estimate a KN model of ``order`` from ``sentences()`` (called once, or twice when
    ``vocab_size`` limits the words) into the ARPA file ``out``; returns it, figures, and the words."""
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be 1..{MAX_ORDER}")
    thresholds = prune_thresholds(prune, order)
    started = time.perf_counter()
    vocabulary = _top_words(sentences(), vocab_size) if vocab_size else None
    # ~48 bytes per token per order while a chunk is cut and sorted, kept well under the budget
    chunk_tokens = max(10_000, memory // (48 * max(order, 2) * 4))
    parts = partitions or max(1, min(256, int(memory // (256 << 20))))
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="lmbuild-") as tmp:
        store = _Store(Path(tmp), parts)
        counter = _Counter(order, store, chunk_tokens, vocabulary)
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


def _top_words(sentences: Iterable[list[str]], size: int) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for words in sentences:
        counts.update(words)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
    return {w: i + 3 for i, w in enumerate(sorted(w for w, _ in top))}


def _estimate(counter: _Counter, store: _Store, order: int, thresholds: list[int]) -> _Model:
    vocab_n = len(counter.words)
    seen = np.pad(counter.unigrams, (0, vocab_n - len(counter.unigrams))) > 0
    # Merge each partition; adjusted counts: raw for the top order and for n-grams starting with
    # <s>, else the number of distinct words seen to the left (continuation counts).
    coc: list[Counter[int]] = [Counter() for _ in range(order + 1)]
    unigram_adjusted = np.zeros(vocab_n, np.int64)
    for p in range(store.partitions):
        merged = {n: _sorted_unique(store.read("raw", n, p, RECORD)) for n in range(2, order + 1)}
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
    gamma = float(np.array([0.0, *d])[kind].sum()) / total
    uniform = 1.0 / int(predicted.sum())
    discounted = np.maximum(counted - np.array([0.0, *d])[kind], 0.0) / total
    unigram_prob = np.where(predicted, discounted + gamma * uniform, 0.0)
    unigram_logprob = np.where(predicted, np.log10(np.maximum(unigram_prob, 1e-300)), -99.0)
    unigram_backoff = np.zeros(vocab_n)
    model = _Model(counter.words, unigram_logprob, unigram_backoff, predicted)

    # Higher orders, partition by partition: probabilities and (unpruned) backoffs.
    for p in range(store.partitions):
        lower_keys: tuple[np.ndarray, np.ndarray] | None = None
        lower_prob = np.zeros(0)
        for n in range(2, order + 1):
            records = store.read("adj", n, p, RECORD)
            if len(records) == 0:
                lower_keys, lower_prob = (records["k0"], records["k1"]), np.zeros(0)
                continue
            columns = unpack(records["k0"], records["k1"], n)
            if n == 2:
                lower = unigram_prob[columns[1]]
            else:
                index, found = _find(*lower_keys, *pack(columns[1:]))  # type: ignore[misc]
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
    left = _sorted_unique(suffixes)
    index, found = _find(left["k0"], left["k1"], records["k0"], records["k1"])
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
    store: _Store, model: _Model, k: int, context: list[np.ndarray], backoff: np.ndarray, keep: np.ndarray
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


def _prune(store: _Store, model: _Model, order: int, thresholds: list[int]) -> None:
    """Keep n-grams above their order's count, and any a kept longer n-gram needs as context or
    suffix; then renormalise the backoffs of every kept context from the kept probabilities."""
    for n in range(order, 1, -1):  # order-major: the needs of order n+1 are all known first
        for p in range(store.partitions):
            records = store.read("adj", n, p, RECORD)
            keep = records["count"] > thresholds[n - 1]
            needs = [_sorted_unique(store.read("need", n, p, RECORD))]
            if n < order:
                above = store.read("kept", n + 1, p, RECORD)  # suffixes: same partition
                columns = unpack(above["k0"], above["k1"], n + 1)
                s0, s1 = pack(columns[1:])
                suffix = np.zeros(len(s0), RECORD)
                suffix["k0"], suffix["k1"] = s0, s1
                needs.append(suffix)
            for need in needs:
                index, found = _find(records["k0"], records["k1"], need["k0"], need["k1"])
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
            index, found = _find(probs["k0"], probs["k1"], kept["k0"], kept["k1"])
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
    index, found = _find(k0, k1, *pack(columns))
    result = np.where(found, logp[index] if len(logp) else 0.0, 0.0)
    missing = ~found
    if missing.any():
        sub = [c[missing] for c in columns]
        if m - 1 == 1:
            bow = model.unigram_backoff[sub[0]]
        else:
            b0, b1, values = local_bow[m - 1]
            bi, bf = _find(b0, b1, *pack(sub[:-1]))
            bow = np.where(bf, values[bi] if len(values) else 0.0, 0.0)
        result[missing] = bow + _backed_off_logprob(sub[1:], kept_prob, local_bow, model)
    return result


# ---------------------------------------------------------------- writing ARPA


def _write(model: _Model, store: _Store, order: int, out: Path, kind: str) -> list[int]:
    """ARPA text; ``kind`` names the n-grams written ("adj": all, "kept": those pruning kept)."""
    sizes = [int(model.predicted.sum()) + 1]  # + <s>
    for n in range(2, order + 1):
        sizes.append(sum(len(store.read(kind, n, p, RECORD)) for p in range(store.partitions)))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    words = np.array(model.words, dtype=object)
    with partial.open("w", encoding="utf-8") as handle:
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
                index, _ = _find(probs["k0"], probs["k1"], records["k0"], records["k1"])
                logp = np.log10(np.maximum(probs["value"][index], 1e-300))
                text = [
                    " ".join(row) for row in zip(*(words[c] for c in unpack(records["k0"], records["k1"], n)))
                ]
                if n < order:
                    bows = store.read("bow", n, p, BACKOFF)  # appended by several partitions
                    bows = bows[np.lexsort((bows["k1"], bows["k0"]))]
                    bi, bf = _find(bows["k0"], bows["k1"], records["k0"], records["k1"])
                    bow = np.where(bf, bows["value"][bi] if len(bows) else 0.0, 0.0)
                    handle.writelines(f"{a:.6f}\t{t}\t{b:.6f}\n" for a, t, b in zip(logp, text, bow))
                else:
                    handle.writelines(f"{a:.6f}\t{t}\n" for a, t in zip(logp, text))
        handle.write("\n\\end\\\n")
    partial.replace(out)
    return sizes

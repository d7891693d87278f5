"""Pass 1 of the book-scale LM build: streamed sentences -> n-gram counts in run files on disk.

Words get integer ids as the text streams by (0 ``<unk>``, 1 ``<s>``, 2 ``</s>``, words from 3);
an n-gram of up to 6 ids packs into two uint64 keys (21 bits an id, so sorting the keys sorts the
n-grams). Every chunk of tokens is cut into n-grams of
each order, counted, and appended to a run file per (order, partition), the partition being a hash
of the n-gram's second-to-last word (:mod:`asr.lm.books` explains why that key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.lm.symbols import BOS, EOS, UNK

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


def sorted_unique(records: np.ndarray) -> np.ndarray:
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


def find_keys(
    k0: np.ndarray, k1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index of each (q0, q1) in the sorted keys (k0, k1), and whether it is there."""
    if len(k0) == 0:
        return np.zeros(len(q0), np.int64), np.zeros(len(q0), bool)
    # Two-key search: one structured view compares lexicographically.
    keys = np.rec.fromarrays([k0, k1], dtype=[("a", k0.dtype), ("b", k1.dtype)])
    queries = np.rec.fromarrays([q0, q1], dtype=[("a", q0.dtype), ("b", q1.dtype)])
    index = np.searchsorted(keys, queries)
    inside = index < len(k0)
    clipped = np.minimum(index, len(k0) - 1)
    found = inside & (k0[clipped] == q0) & (k1[clipped] == q1)
    return clipped, found


# ---------------------------------------------------------------- the on-disk store


class RunStore:
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


class NgramCounter:
    def __init__(
        self, order: int, store: RunStore, chunk_tokens: int, vocabulary: dict[str, int] | None
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
                self.store.append("raw", n, int(part[a]), sorted_unique(records[a:b]))

"""Scoring: raw references + hypotheses keyed by utterance id -> :class:`ErrorReport`.

Both sides pass through the same :class:`~asr.text.Normalizer` used for training
targets; jiwer does the alignment. Rows are paired by id, never by position.
:func:`paired_bootstrap` says whether one system's lower WER on a test set is more than chance.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

from asr.text import Normalizer


@dataclass
class UttError:
    utt_id: str
    ref: str  # normalised
    hyp: str  # normalised
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    alignment: str  # "the (cat->hat) sat (*->down)"

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


@dataclass
class ErrorReport:
    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    ref_chars: int
    utterances: int
    per_utterance: list[UttError] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (utt id, reason): not scored

    def summary(self) -> dict[str, Any]:
        """The corpus-level figures as a JSON-ready dict (no per-utterance rows)."""
        d = asdict(self)
        d.pop("per_utterance")
        return d

    def __str__(self) -> str:
        return (
            f"WER {100 * self.wer:.2f}% [{self.substitutions} sub, {self.deletions} del, "
            f"{self.insertions} ins / {self.ref_words} words], CER {100 * self.cer:.2f}%, "
            f"{self.utterances} utterances"
            + (f" ({len(self.unreadable)} more unreadable, not scored)" if self.unreadable else "")
        )


def word_ops(ref: list[str], hyp: list[str], chunks: list[Any]) -> list[tuple[str, str, str]]:
    """jiwer's alignment chunks -> one (op, ref word, hyp word) per position, op in equal /
    substitute / delete / insert, "" where a side has no word."""
    ops: list[tuple[str, str, str]] = []
    for ch in chunks:
        r = ref[ch.ref_start_idx : ch.ref_end_idx]
        h = hyp[ch.hyp_start_idx : ch.hyp_end_idx]
        if ch.type in ("equal", "substitute"):
            ops.extend((ch.type, a, b) for a, b in zip(r, h))
        elif ch.type == "delete":
            ops.extend(("delete", a, "") for a in r)
        else:
            ops.extend(("insert", "", b) for b in h)
    return ops


def _alignment_row(utt_id: str, ref: list[str], hyp: list[str], chunks: list[Any]) -> UttError:
    ops = word_ops(ref, hyp, chunks)
    counts = Counter(op for op, _, _ in ops)
    return UttError(
        utt_id=utt_id,
        ref=" ".join(ref),
        hyp=" ".join(hyp),
        ref_words=len(ref),
        substitutions=counts["substitute"],
        deletions=counts["delete"],
        insertions=counts["insert"],
        alignment=" ".join(r if op == "equal" else f"({r or '*'}->{h or '*'})" for op, r, h in ops),
    )


def score(refs: Mapping[str, str], hyps: Mapping[str, str], normalizer: Normalizer) -> ErrorReport:
    """Word and character error rates over the ids in ``refs``.

    Raises:
        ValueError: no references, or an id in ``refs`` has no hypothesis.
    """
    if not refs:
        raise ValueError("nothing to score: no references")
    missing = [k for k in refs if k not in hyps]
    if missing:
        raise ValueError(f"{len(missing)} reference(s) have no hypothesis, e.g. {missing[0]!r}")
    ids = sorted(refs)
    ref_texts = [normalizer(refs[i]) for i in ids]
    hyp_texts = [normalizer(hyps[i]) for i in ids]
    words = jiwer.process_words(ref_texts, hyp_texts)
    chars = jiwer.process_characters(ref_texts, hyp_texts)
    rows = [
        _alignment_row(i, r, h, a)
        for i, r, h, a in zip(ids, words.references, words.hypotheses, words.alignments)
    ]
    ref_words = sum(len(r) for r in words.references)
    ref_chars = sum(len(r) for r in chars.references)
    return ErrorReport(
        wer=error_rate(words.substitutions + words.deletions + words.insertions, ref_words),
        cer=error_rate(chars.substitutions + chars.deletions + chars.insertions, ref_chars),
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        ref_words=ref_words,
        ref_chars=ref_chars,
        utterances=len(ids),
        per_utterance=rows,
    )


def error_rate(errors: int, total: int) -> float:
    """Errors per reference unit; with no reference units, any error counts as 100%."""
    if total == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / total


@dataclass(frozen=True)
class PairedBootstrap:
    """WER(B) - WER(A) (fractions; below 0: B is better) and how much it moves when the test set
    is drawn again: its utterances resampled with replacement, the same draw for both systems."""

    delta: float
    low: float  # the central ``confidence`` interval of the resampled deltas
    high: float
    p_b_better: float  # share of resamples where B makes fewer errors than A
    resamples: int
    confidence: float

    def __str__(self) -> str:
        return (
            f"B - A {100 * self.delta:+.2f} WER points, {100 * self.confidence:.0f}% interval "
            f"{100 * self.low:+.2f} to {100 * self.high:+.2f}; B better in {100 * self.p_b_better:.1f}% "
            f"of {self.resamples:,} resamples"
        )


def paired_bootstrap(
    errors_a: list[int],
    errors_b: list[int],
    ref_words: list[int],
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Bisani & Ney's (2004) bootstrap of the WER difference over paired units.

    Pass per-utterance counts to redraw utterances, or per-speaker sums to redraw speakers (utterances
    of one speaker are not independent; :func:`asr.report.compare` does both). numpy, not
    scipy.stats.bootstrap (the same percentile interval, tests/test_metrics.py), keeps scipy out of
    the core dependencies.
    """
    if not len(errors_a) == len(errors_b) == len(ref_words) or not ref_words:
        raise ValueError("paired_bootstrap needs the same utterances, at least one, on both sides")
    diff = np.asarray(errors_b, dtype=np.int64) - np.asarray(errors_a, dtype=np.int64)
    words = np.asarray(ref_words, dtype=np.int64)
    if words.sum() == 0:
        raise ValueError("paired_bootstrap needs reference words")
    rng = np.random.default_rng(seed)
    deltas = []
    step = max(1, min(1000, 4_000_000 // len(words)))  # draws at a time: an index matrix of <= 32 MB
    for start in range(0, resamples, step):
        idx = rng.integers(0, len(words), size=(min(step, resamples - start), len(words)))
        deltas.append(diff[idx].sum(axis=1) / np.maximum(words[idx].sum(axis=1), 1))
    d = np.concatenate(deltas)
    tail = (1 - confidence) / 2
    return PairedBootstrap(
        delta=float(diff.sum() / words.sum()),
        low=float(np.quantile(d, tail)),
        high=float(np.quantile(d, 1 - tail)),
        p_b_better=float((d < 0).mean()),
        resamples=resamples,
        confidence=confidence,
    )


@dataclass
class DecodeRow:
    """One line of a decode folder's ``hyps.jsonl``: written by :mod:`asr.evaluate`, read by
    :mod:`asr.report` and ``asr report``; the one place its fields are named."""

    id: str
    ref: str  # normalised, as scored
    hyp: str  # normalised, as scored
    raw_hyp: str = ""  # as the decoder wrote it
    score: float | None = None  # the decoder's score (greedy: best path log-probability)
    errors: int = 0
    ref_words: int = 0
    audio: str = ""  # absolute path ("" in decode dirs written before 0.9)
    speaker: str = ""
    offset: float = 0.0
    duration: float = 0.0

    @property
    def source(self) -> str:
        """The audio's folder name: a corpus, a voice or a chapter."""
        return Path(self.audio).parent.name if self.audio else "?"

    @property
    def wer(self) -> float:
        return error_rate(self.errors, self.ref_words)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "speaker": self.speaker or None}, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> DecodeRow:
        r = json.loads(line)
        return cls(r["id"], r["ref"], r["hyp"], r.get("raw_hyp", r["hyp"]), r.get("score"),
                   int(r["errors"]), int(r["ref_words"]), r.get("audio", ""), r.get("speaker") or "",
                   float(r.get("offset", 0.0)), float(r.get("duration", 0.0)))  # fmt: skip

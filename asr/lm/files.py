"""LM files: sentences read from text files, the ARPA and lexicon written for them
(:func:`build_files`, behind ``asr lm build``), and word lists."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from asr.config import TextConfig
from asr.lm.books import build_arpa
from asr.lm.reference import NgramModel
from asr.lm.symbols import BOS, EOS, UNK
from asr.runtime import progress_counter
from asr.sentences import SentenceFilter, iter_sentences, text_files
from asr.text import Normalizer

logger = logging.getLogger(__name__)


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
    :mod:`asr.sentences`; ``.gz``/``.xz`` too), leaving out ids starting with an ``exclude`` prefix
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
    """``text`` -> ``out`` (ARPA, by :func:`asr.lm.books.build_arpa` in ``memory`` bytes) and ``out``
    with suffix ``.lexicon``; the normaliser must match the acoustic model's (default TextConfig)."""
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

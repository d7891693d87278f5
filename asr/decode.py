"""Decoding: CTC log-probs ``[B, T', V]`` -> one :class:`Hypothesis` per row.

Greedy decoding is built in. Beam search runs in flashlight-text's C++ decoder through
``torchaudio.models.decoder.ctc_decoder`` (``pip install 'asr[beam]'``), optionally
constrained to a lexicon and scored with a word n-gram LM (see :mod:`asr.lm`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class BeamDecoder:
    """CTC prefix beam search (flashlight-text), lexicon-free or with a lexicon and word LM."""

    def __init__(self, vocab: Vocabulary, cfg: DecodeConfig) -> None:
        try:
            from torchaudio.models.decoder import ctc_decoder
        except ImportError as err:
            raise ImportError("beam search needs flashlight-text: pip install 'asr[beam]'") from err
        if vocab.tokens[1:2] != [" "]:
            raise ValueError("beam search needs a vocabulary with the space character")
        self.vocab = vocab
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
        lm: object = cfg.lm or None
        if lexicon is not None:
            self._lexicon_file = _spellable_lexicon(lexicon, set(tokens), list(hotwords))
            lexicon = Path(self._lexicon_file.name)
            if hotwords:
                lm = _hotword_lm(cfg.lm, lexicon, hotwords)
        with native_output_captured(f"loading the language model {cfg.lm}"):  # KenLM prints stars
            self.decoder = ctc_decoder(
                lexicon=str(lexicon) if lexicon else None,
                tokens=tokens,
                lm=lm,
                nbest=1,
                beam_size=cfg.beam_size,
                beam_threshold=cfg.beam_threshold,
                lm_weight=cfg.lm_weight if cfg.lm else 0.0,
                word_score=cfg.word_score,
                sil_score=0.0,
                # Lexicon-free: sum over the paths of a prefix (true prefix beam search, -1.3 WER
                # points on LJ002 against max); with a lexicon, flashlight's recipes use max.
                log_add=lexicon is None,
                blank_token=vocab.tokens[0],
                sil_token=WORD_BOUNDARY,
                unk_word="<unk>",
            )
        self.uses_words = lexicon is not None

    def __call__(
        self, log_probs: torch.Tensor, lengths: torch.Tensor, utt_ids: Sequence[str]
    ) -> list[Hypothesis]:
        emissions, lengths = _close_last_word(log_probs.detach().float().cpu(), lengths.cpu())
        results = self.decoder(emissions, lengths.to(torch.int32))
        hyps = []
        for utt_id, nbest in zip(utt_ids, results):
            if not nbest:
                hyps.append(Hypothesis(utt_id, [], "", None))
                continue
            best = nbest[0]
            ids = [i for i in best.tokens.tolist() if i != 0]
            while ids and ids[-1] == 1:  # the boundary frame added by _close_last_word
                ids.pop()
            while ids and ids[0] == 1:
                ids.pop(0)
            text = " ".join(best.words) if self.uses_words else " ".join(self.vocab.decode(ids).split())
            hyps.append(Hypothesis(utt_id, ids, text, float(best.score)))
        return hyps


def _close_last_word(log_probs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Append one certain word-boundary frame after each row's last frame. Lexicon words end
    in the boundary token, as in flashlight's recipes, but these models emit a space only
    between words, so without it the last word of an utterance would never complete."""
    b, t, v = log_probs.shape
    out = torch.full((b, t + 1, v), -1e4)
    out[:, :t] = log_probs
    rows = torch.arange(b)
    out[rows, lengths] = -1e4
    out[rows, lengths, 1] = 0.0  # id 1 is the space: the vocabulary sorts " " first after <blank>
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


def _hotword_lm(lm_path: str, lexicon: Path, boosts: dict[str, float]) -> object:
    """The KenLM model with ``boosts`` added to its score of each hotword (a Python LM, so a
    little slower than the plain C++ one)."""
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import create_word_dict, load_words
    from torchaudio.models.decoder import CTCDecoderLM

    # The same word dictionary ctc_decoder builds from the same lexicon file.
    words = create_word_dict(load_words(str(lexicon)))
    base = KenLM(lm_path, words)
    by_index = {words.get_index(w): b for w, b in boosts.items()}

    class HotwordLM(CTCDecoderLM):
        def start(self, start_with_nothing: bool):  # type: ignore[no-untyped-def]
            return base.start(start_with_nothing)

        def score(self, state, usr_token_idx: int):  # type: ignore[no-untyped-def]
            state, value = base.score(state, usr_token_idx)
            return state, value + by_index.get(usr_token_idx, 0.0)

        def finish(self, state):  # type: ignore[no-untyped-def]
            return base.finish(state)

    return HotwordLM()


def _spellable_lexicon(
    path: Path, tokens: set[str], extra_words: Sequence[str] = ()
) -> tempfile._TemporaryFileWrapper[str]:
    """A copy of the lexicon without the words the model cannot spell (flashlight rejects them),
    plus ``extra_words`` (hotwords) spelled out if missing."""
    kept, dropped = [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    known = {line.split()[0] for line in lines if line.strip()}
    lines += [f"{w} {' '.join(w)} {WORD_BOUNDARY}" for w in extra_words if w not in known]
    for line in lines:
        word, *spelling = line.split()
        (kept if spelling and set(spelling) <= tokens else dropped).append(line)
    if dropped:
        logger.info("lexicon %s: %d words the model cannot spell are left out, e.g. %s",
                    path, len(dropped), dropped[0].split()[0])  # fmt: skip
    handle = tempfile.NamedTemporaryFile("w", suffix=".lexicon", encoding="utf-8")
    handle.write("\n".join(kept) + "\n")
    handle.flush()
    return handle


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

"""Word timing: log-probs ``[T', V]`` + a hypothesis' token ids -> :class:`Word` spans.

The hypothesis is force-aligned to the frames it came from
(``torchaudio.functional.forced_align``), so greedy and beam hypotheses get times the
same way. A word's confidence is the mean posterior of its characters' frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torchaudio.functional as AF

from asr.text import Vocabulary


@dataclass
class Word:
    word: str
    start: float  # seconds from the start of the audio
    end: float
    confidence: float  # 0..1


def shifted(words: list[Word], offset: float) -> list[Word]:
    """Words timed within a segment that starts ``offset`` seconds into the audio (negative:
    zeros were put in front), on the audio's clock (to the millisecond, never before 0)."""

    def moved(seconds: float) -> float:
        return max(0.0, round(seconds + offset, 3))

    return [dataclasses.replace(w, start=moved(w.start), end=moved(w.end)) for w in words]


def word_times(
    log_probs: torch.Tensor,
    token_ids: list[int],
    vocab: Vocabulary,
    frame_seconds: float,
    duration: float = float("inf"),
) -> list[Word]:
    """Words of ``token_ids`` with start/end times; ``log_probs`` is one utterance's ``[T', V]``
    (valid frames only). Times are clipped to ``duration`` (centred frames overhang the end).
    An empty or unalignable hypothesis gives no words."""
    if not token_ids or len(token_ids) > log_probs.shape[0]:
        return []
    targets = torch.tensor([token_ids], dtype=torch.int32)
    try:
        path, scores = AF.forced_align(log_probs[None].float().cpu(), targets, blank=0)
    except RuntimeError:  # too few frames for the repeats this path needs
        return []
    words: list[Word] = []
    current: list[tuple[int, int, int, float]] = []  # (token, start, end, summed posterior)
    for span in [*_token_spans(path[0], scores[0].exp()), None]:
        if span is None or vocab.tokens[span[0]] == " ":
            if current:
                text = vocab.decode(token for token, _, _, _ in current)
                frames = sum(end - begin for _, begin, end, _ in current)
                confidence = sum(total for _, _, _, total in current) / frames
                start = min(current[0][1] * frame_seconds, duration)
                end = min(current[-1][2] * frame_seconds, duration)
                words.append(Word(text, start, end, round(float(confidence), 4)))
            current = []
        else:
            current.append(span)
    return words


def _token_spans(path: torch.Tensor, probs: torch.Tensor) -> list[tuple[int, int, int, float]]:
    """``(token, start frame, end frame, summed posterior)`` for each run of one non-blank token
    in an alignment path. What ``torchaudio.functional.merge_tokens`` gives, in a few tensor
    ops instead of a Python loop with a ``mean`` per token: merge_tokens was 6% of beam + LM
    transcription time (cProfile, 30 LibriSpeech clips)."""
    first = torch.ones_like(path, dtype=torch.bool)
    first[1:] = path[1:] != path[:-1]
    starts = first.nonzero().squeeze(1)
    ends = torch.cat([starts[1:], starts.new_tensor([path.numel()])])
    tokens = path[starts]
    kept = tokens != 0
    starts, ends, tokens = starts[kept], ends[kept], tokens[kept]
    cumulative = torch.cat([probs.new_zeros(1), probs.double().cumsum(0)])
    totals = (cumulative[ends] - cumulative[starts]).tolist()
    return list(zip(tokens.tolist(), starts.tolist(), ends.tolist(), totals))

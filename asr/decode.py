"""Decoding: CTC log-probs ``[B, T', V]`` -> one :class:`Hypothesis` per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from asr.text import Vocabulary


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

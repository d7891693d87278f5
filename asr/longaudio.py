"""Audio of any length in bounded memory: chunked inference with overlap, stitched posteriors,
and decoding in pause-delimited segments.

A long file is read ``chunk_seconds`` at a time plus ``overlap_seconds`` of context on each
side (the bidirectional RNN needs it), and each chunk keeps only the output frames of its own
span. Because frames, not words, are stitched, a word at a seam is neither lost nor doubled,
and frame times are global. The stitched log-probs (about 11 MB per audio hour at 40 ms
frames) are then cut at the longest run of blank frames near each ``chunk_seconds`` boundary,
a pause between words, and each segment is decoded and aligned on its own, so that beam
search and forced alignment never see an hour at once.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from asr._types import PathLike
from asr.audio import SAMPLE_RATE, load_audio
from asr.recognizer import Recognizer
from asr.runtime import progress


def stitched_log_probs(
    recognizer: Recognizer,
    source: PathLike | torch.Tensor,
    duration: float,
    chunk_seconds: float,
    overlap_seconds: float,
    device: torch.device,
    show_progress: bool | str = False,
) -> torch.Tensor:
    """``[T', V]`` log-probs for the whole input, computed chunk by chunk (CPU tensor), with a
    progress bar over the chunks when ``show_progress`` (see :func:`asr.runtime.progress`).

    Chunk edges fall on output-frame boundaries, so every chunk's frames line up with the
    global frame grid and each global frame comes from exactly one chunk."""
    frame = recognizer.frame_seconds
    frame_samples = round(frame * SAMPLE_RATE)
    total_samples = round(duration * SAMPLE_RATE)
    total = max(1, math.ceil(total_samples / frame_samples))
    chunk = max(1, round(chunk_seconds / frame))
    overlap = max(0, round(overlap_seconds / frame))
    pieces = []
    name = "audio" if isinstance(source, torch.Tensor) else Path(source).name
    for first in progress(range(0, total, chunk), show_progress, desc=name, unit="chunk"):
        last = min(total, first + chunk)
        lo, hi = max(0, first - overlap), min(total, last + overlap)  # in frames
        if isinstance(source, torch.Tensor):
            wave = source[lo * frame_samples : hi * frame_samples].float()
        else:
            wave = load_audio(source, lo * frame, (hi - lo) * frame)
        lp = recognizer.log_probs(wave, device)
        piece = lp[first - lo : first - lo + (last - first)]
        if piece.shape[0] < last - first:  # a file's last partial frame: repeat the final one
            piece = torch.cat([piece, piece[-1:].expand(last - first - piece.shape[0], -1)])
        pieces.append(piece)
    return torch.cat(pieces)


def pause_segments(log_probs: torch.Tensor, max_frames: int, search_frames: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame spans of at most ``max_frames``, each cut in the middle of the
    longest run of blank-argmax frames among the last ``search_frames`` before the limit; with
    no blank there, where the best path changes token, so that no token run is split in two
    (CTC would then emit it twice)."""
    best_path = log_probs.argmax(-1).tolist()
    spans, start, total = [], 0, len(best_path)
    while total - start > max_frames:
        limit = start + max_frames
        window_lo = max(start + 1, limit - search_frames)
        best_len, cut, run = 0, None, 0
        for t in range(window_lo, limit):
            run = run + 1 if best_path[t] == 0 else 0
            if run > best_len:
                best_len, cut = run, t - run // 2
        if cut is None:  # no pause near the limit: the last token change before it
            cut = next((t for t in range(limit - 1, start, -1) if best_path[t] != best_path[t - 1]), limit)
        spans.append((start, cut))
        start = cut
    spans.append((start, total))
    return spans

"""Transcription: audio files or waveforms -> one :class:`Transcript` each, in input order.

Inputs are grouped into batches of similar duration (capped by padded seconds),
decoded, and returned in the order given. Inputs longer than ``decode.chunk_seconds``
go through :mod:`asr.longaudio` one at a time, in bounded memory.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import torch

from asr._types import PathLike
from asr.audio import SAMPLE_RATE, AudioError, audio_duration, load_audio
from asr.config import DecodeConfig
from asr.data import DurationBucketSampler, Example, collate
from asr.decode import Decoder, make_decoder
from asr.features import from_onset
from asr.load import load_model
from asr.longaudio import pause_segments, stitched_log_probs
from asr.recognizer import Recognizer
from asr.runtime import inference_batch_seconds, pick_device, progress
from asr.timing import Word, shifted, word_times

AudioInput = Union[PathLike, torch.Tensor]  # noqa: UP007 (runtime alias) a file, or a 16 kHz waveform
logger = logging.getLogger(__name__)


@dataclass
class Transcript:
    source: str  # the file path, or "<waveform N>"
    text: str
    duration: float  # seconds of audio
    error: str | None = None  # set (and text empty) when the input could not be read
    words: list[Word] = field(default_factory=list)  # with start/end seconds and confidence


def _describe(item: AudioInput, index: int) -> str:
    return f"<waveform {index}>" if isinstance(item, torch.Tensor) else str(item)


def _waveform(item: AudioInput) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        if item.dim() != 1 or not item.is_floating_point():
            raise ValueError("a waveform must be a 1-D float tensor at 16 kHz")
        return item.float()
    return load_audio(item)


def transcribe(
    model: Recognizer | PathLike,
    audio: AudioInput | Sequence[AudioInput],
    device: str = "auto",
    batch_seconds: float | None = None,
    skip_errors: bool = False,
    show_progress: bool | str = False,
    decode: DecodeConfig | None = None,
    decoder: Decoder | None = None,
) -> list[Transcript]:
    """Transcribe files (any format soundfile reads) or 16 kHz mono waveforms.

    Args:
        model: a loaded :class:`Recognizer` or a checkpoint path.
        audio: one input or a sequence of them.
        batch_seconds: padded audio seconds per batch (default: the model's decode config).
        skip_errors: record unreadable inputs in ``Transcript.error`` instead of raising.
        show_progress: progress bars (over batches, and over a long input's chunks) on a
            terminal; "always": on any stderr.
        decode: greedy or beam search options (default: the model's decode config).
        decoder: one made already by :func:`asr.decode.make_decoder` for ``decode`` (a service
            reuses it: building a beam decoder loads its LM).

    Raises:
        AudioError: an input cannot be read (unless ``skip_errors``).
    """
    recognizer = model if isinstance(model, Recognizer) else load_model(model)
    items = [audio] if isinstance(audio, (str, os.PathLike, torch.Tensor)) else list(audio)
    torch_device = pick_device(device)
    recognizer.to(torch_device)
    decode = decode or recognizer.config.decode
    cap = inference_batch_seconds(batch_seconds or decode.batch_seconds, torch_device)
    decoder = decoder or make_decoder(recognizer.vocab, decode, torch_device)

    results: list[Transcript | None] = [None] * len(items)
    durations: list[float] = []
    readable: list[int] = []
    long_limit = decode.chunk_seconds + 2 * decode.chunk_overlap if decode.chunk_seconds > 0 else math.inf
    for i, item in enumerate(items):
        try:
            seconds = item.shape[-1] / SAMPLE_RATE if isinstance(item, torch.Tensor) else audio_duration(item)
            if seconds > long_limit:
                results[i] = _transcribe_long(recognizer, item, seconds, decode, decoder, torch_device, i,
                                              show_progress)  # fmt: skip
                continue
        except AudioError as err:
            if not skip_errors:
                raise
            results[i] = Transcript(_describe(item, i), "", 0.0, str(err))
            continue
        readable.append(i)
        durations.append(seconds)

    position = {i: pos for pos, i in enumerate(readable)}
    starts: dict[int, float] = {}
    batches = DurationBucketSampler(durations, cap, shuffle=False).batches(0)
    shown = show_progress and bool(batches)
    for batch_positions in progress(batches, shown, desc="transcribe", unit="batch"):
        examples = []
        for pos in batch_positions:
            i = readable[pos]
            try:
                waveform, starts[i] = from_onset(_waveform(items[i]), recognizer.extractor.cfg)
                with torch.no_grad():
                    feats = recognizer.extractor(waveform)
            except AudioError as err:
                if not skip_errors:
                    raise
                results[i] = Transcript(_describe(items[i], i), "", durations[pos], str(err))
                continue
            examples.append(Example(str(i), feats, torch.zeros(0, dtype=torch.int64), ""))
        if not examples:
            continue
        inference = recognizer.infer([collate(examples)], torch_device, decoder, keep_log_probs=True)
        for hyp in inference.hyps:
            i = int(hyp.utt_id)
            seconds = durations[position[i]]
            lp = inference.log_probs[hyp.utt_id]
            start = starts[i]  # where the decoded audio starts (the onset cut)
            words = word_times(lp, hyp.token_ids, recognizer.vocab, recognizer.frame_seconds, seconds - start)
            results[i] = Transcript(_describe(items[i], i), hyp.text, seconds, words=shifted(words, start))
    return [r for r in results if r is not None]


def _transcribe_long(
    recognizer: Recognizer,
    item: AudioInput,
    seconds: float,
    decode: DecodeConfig,
    decoder: Decoder,
    device: torch.device,
    index: int,
    show_progress: bool | str = False,
) -> Transcript:
    """One long input: stitched chunk posteriors (a progress bar over them), decoded in
    pause-delimited segments."""
    frame = recognizer.frame_seconds
    log_probs = stitched_log_probs(
        recognizer, item, seconds, decode.chunk_seconds, decode.chunk_overlap, device, show_progress
    )
    max_frames = max(1, round(decode.chunk_seconds / frame))
    texts, words = [], []
    for start, end in pause_segments(log_probs, max_frames, search_frames=max_frames // 3):
        segment = log_probs[start:end]
        (hyp,) = decoder(segment[None].to(device), torch.tensor([end - start], device=device), [str(index)])
        offset = start * frame
        words += shifted(
            word_times(segment, hyp.token_ids, recognizer.vocab, frame, seconds - offset), offset
        )
        if hyp.text:
            texts.append(hyp.text)
    return Transcript(_describe(item, index), " ".join(texts), seconds, words=words)

"""Streaming recognition with a unidirectional model: 16 kHz audio in pieces of any size ->
partial and final text while it arrives, in bounded memory.

:class:`asr.recognizer.StreamingAcoustics` turns audio pieces into log-prob frames as soon as
nothing later can change them, equal to offline inference of the whole stream
(tests/test_stream.py). :class:`Streamer` decodes them: greedy text of the open segment as a
partial result; a pause (a run of blank frames) or the end of the stream closes the segment,
which the model's decoder (beam + LM when configured) turns into a final result with word times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import torch

from asr._types import PathLike
from asr.audio import SAMPLE_RATE, audio_duration, load_audio
from asr.config import DecodeConfig
from asr.decode import Decoder, make_decoder
from asr.recognizer import Recognizer, StreamingAcoustics
from asr.timing import Word, shifted, word_times


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank: for latency summaries.

    >>> percentile([0.3, 0.1, 0.2, 0.4], 0.5), percentile([0.3, 0.1, 0.2, 0.4], 0.9)
    (0.3, 0.4)
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


@dataclass
class StreamEvent:
    kind: str  # "partial": the open segment so far (may still change); "final": a closed segment
    text: str
    start: float  # seconds from the start of the stream
    end: float
    audio_seconds: float  # audio received when this event was made
    compute_seconds: float  # processing time of the piece that made it
    # partial events: for each character that first shows in this event, seconds from the end of
    # its first frame to its showing: audio still awaited (lookahead, piece size) + compute
    latencies: list[float] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)  # final events only


class Streamer:
    """Partial and final transcripts of one live stream.

    >>> # streamer = Streamer(asr.load_model("stream.pt")); for piece in mic: streamer.accept(piece)
    """

    def __init__(self, recognizer: Recognizer, decode: DecodeConfig | None = None,
                 pause_seconds: float = 0.5, decoder: Decoder | None = None) -> None:  # fmt: skip
        """``decoder``: one already made for ``decode`` (a service shares one: a beam decoder
        loads its LM when it is made)."""
        self.acoustics = StreamingAcoustics(recognizer)
        decode = decode or recognizer.config.decode
        self.decoder = decoder or make_decoder(recognizer.vocab, decode)
        self.vocab = recognizer.vocab
        self.frame = recognizer.frame_seconds
        self.pause_frames = max(1, round(pause_seconds / self.frame))
        # a segment with no pause is closed at this length, to bound memory and decoding time
        self.max_frames = max(self.pause_frames + 1, round((decode.chunk_seconds or 30.0) / self.frame))
        self.segment: list[torch.Tensor] = []
        self.segment_start = 0  # output frame index where the open segment begins
        self.partial = ""
        self.shown_tokens = 0  # characters of the open segment already shown in partials

    @property
    def _segment_frames(self) -> int:
        return sum(f.shape[0] for f in self.segment)

    def accept(self, samples: torch.Tensor) -> list[StreamEvent]:
        started = time.perf_counter()
        frames = self.acoustics.accept(samples)
        return self._events(frames, False, started)

    def finish(self) -> list[StreamEvent]:
        started = time.perf_counter()
        return self._events(self.acoustics.finish(), True, started)

    def _events(self, frames: torch.Tensor, final: bool, started: float) -> list[StreamEvent]:
        if frames.shape[0]:
            self.segment.append(frames)
        events = []
        if self.segment:
            log_probs = torch.cat(self.segment)
            self.segment = [log_probs]
            best = log_probs.argmax(-1)
            trailing_blanks = int((best.flip(0).cumsum(0) == 0).sum())
            has_speech = trailing_blanks < best.numel()
            too_long = log_probs.shape[0] >= self.max_frames
            if final or too_long or (trailing_blanks >= self.pause_frames and has_speech):
                events += self._close(log_probs, has_speech, started)
            elif not has_speech and trailing_blanks > self.pause_frames:  # silence: slide the start
                drop = trailing_blanks - self.pause_frames
                self.segment = [log_probs[drop:]]
                self.segment_start += drop
            else:
                events += self._partial(best, started)
        return events

    def _partial(self, best: torch.Tensor, started: float) -> list[StreamEvent]:
        """Greedy text of the open segment; frames are final, so it only ever grows."""
        changes = torch.ones_like(best, dtype=torch.bool)
        changes[1:] = best[1:] != best[:-1]
        starts = torch.nonzero(changes & (best != 0)).flatten().tolist()
        text = self.vocab.decode(best[starts].tolist()).strip()
        if text == self.partial:
            return []
        event = self._event("partial", text, best.numel(), started)
        for frame in starts[self.shown_tokens :]:
            token_end = (self.segment_start + frame + 1) * self.frame
            event.latencies.append(round(event.audio_seconds - token_end + event.compute_seconds, 4))
        self.partial, self.shown_tokens = text, len(starts)
        return [event]

    def _close(self, log_probs: torch.Tensor, has_speech: bool, started: float) -> list[StreamEvent]:
        n = log_probs.shape[0]
        events = []
        if has_speech:
            (hyp,) = self.decoder(log_probs[None], torch.tensor([n]), ["stream"])
            words = shifted(word_times(log_probs, hyp.token_ids, self.vocab, self.frame),
                            self.segment_start * self.frame)  # fmt: skip
            events.append(self._event("final", hyp.text, n, started, words))
        self.segment, self.segment_start, self.partial, self.shown_tokens = [], self.segment_start + n, "", 0
        return events

    def _event(
        self, kind: str, text: str, n: int, started: float, words: list[Word] | None = None
    ) -> StreamEvent:
        received = self.acoustics.received / SAMPLE_RATE
        start = self.segment_start * self.frame
        return StreamEvent(kind, text, round(start, 3), round(start + n * self.frame, 3), received,
                           time.perf_counter() - started, words=words or [])  # fmt: skip


def pcm_samples(data: bytes) -> torch.Tensor:
    """Signed 16-bit little-endian PCM (an even number of bytes) -> float samples in [-1, 1)."""
    return torch.from_numpy(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)


def pcm_pieces(handle: BinaryIO, samples: int) -> Iterator[torch.Tensor]:
    """Raw 16 kHz mono signed 16-bit little-endian PCM (``arecord -f S16_LE -r 16000 -t raw``)
    -> float pieces of ``samples``, each as soon as it has arrived; a last short one at EOF."""
    pending = b""
    while True:
        data = handle.read(2 * samples - len(pending))
        if not data:
            break
        pending += data
        if len(pending) >= 2 * samples:
            yield pcm_samples(pending)
            pending = b""
    usable = len(pending) // 2 * 2
    if usable:
        yield pcm_samples(pending[:usable])


def file_pieces(path: PathLike, samples: int, realtime: bool = False) -> Iterator[torch.Tensor]:
    """An audio file (any format soundfile reads, resampled to 16 kHz) in pieces of ``samples``,
    read 10 s at a time; ``realtime`` paces them as a live source would deliver them."""
    total = audio_duration(path)
    block = 10.0
    start = time.perf_counter()
    sent = 0
    offset = 0.0
    while offset < total:
        wave = load_audio(path, offset=offset, duration=min(block, total - offset))
        offset += block
        for i in range(0, wave.numel(), samples):
            piece = wave[i : i + samples]
            sent += piece.numel()
            if realtime:
                time.sleep(max(0.0, start + sent / SAMPLE_RATE - time.perf_counter()))
            yield piece

"""Streaming recognition with a unidirectional model: 16 kHz audio in pieces of any size ->
partial and final text while it arrives, in bounded memory.

:class:`StreamingAcoustics` turns audio pieces into log-prob frames as soon as nothing later
can change them: log-mel frames whose 25 ms window is complete -> conv front end on the
frames whose receptive field is complete -> recurrent layers carrying their state -> the
lookahead convolution once its future frames exist -> log-softmax. Its frames equal
offline inference of the whole stream (tests/test_stream.py). :class:`Streamer` decodes
them: greedy text of the open segment as a partial result; a pause (a run of blank frames)
or the end of the stream closes the segment, which the model's decoder (beam + LM when
configured) turns into a final result with word times.
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
from asr.features import hop_samples, num_frames, window_samples
from asr.model import _TIME_STRIDES, AcousticModel
from asr.recognizer import Recognizer
from asr.timing import Word, shifted, word_times


def check_streamable(recognizer: Recognizer) -> None:
    """Raise ValueError unless the model can stream (unidirectional, not per-utterance features)."""
    cfg = recognizer.config
    if not isinstance(recognizer.model, AcousticModel):
        raise ValueError("streaming runs the PyTorch model; load a checkpoint, not an exported graph")
    if cfg.model.bidirectional:
        raise ValueError(
            "a bidirectional model needs the whole utterance and cannot stream; train one with "
            "model.bidirectional=false (and model.lookahead=N), as recipes/streaming does"
        )
    if cfg.features.normalize == "utterance":
        raise ValueError(
            "this model normalises features per utterance, which needs the whole utterance; "
            "streaming models use features.normalize=global"
        )


class StreamingAcoustics:
    """Audio pieces -> final log-prob frames ``[n, V]``, exactly as whole-stream inference."""

    def __init__(self, recognizer: Recognizer) -> None:
        check_streamable(recognizer)
        self.model, self.extractor = recognizer.model.eval(), recognizer.extractor
        features, model_cfg = recognizer.config.features, recognizer.config.model
        self.feature_cfg = features
        self.hop, self.half_window = hop_samples(features), window_samples(features) // 2
        self.s1, self.s2 = _TIME_STRIDES[model_cfg.time_stride]
        self.stride = self.s1 * self.s2
        self.lookahead = model_cfg.lookahead
        self.audio = torch.zeros(0)  # samples from self.audio_start on
        self.audio_start = self.received = 0
        self.feats = torch.zeros(0, features.n_mels)  # feature frames from self.feats_start on
        self.feats_start = self.feats_done = 0
        self.conv_done = 0
        self.rnn_out = torch.zeros(0, model_cfg.hidden_size)  # rnn frames not yet past lookahead
        self.rnn_start = 0
        self.state: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None
        self.emitted = 0
        self.finished = False

    def _right_reach(self, j: int) -> int:
        """Last feature frame that conv output ``j`` depends on (kernel 3, padding 1 per block)."""
        return self.s1 * (self.s2 * j + 1) + 1

    @torch.no_grad()
    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """Add 16 kHz float samples; returns the log-prob frames that became final."""
        if self.finished:
            raise RuntimeError("this stream has finished; start a new one")
        samples = samples.detach().float().reshape(-1)
        self.audio = torch.cat([self.audio, samples])
        self.received += samples.numel()
        return self._advance(final=False)

    @torch.no_grad()
    def finish(self) -> torch.Tensor:
        """End of stream: the remaining frames (zero padded past the end, as offline)."""
        already, self.finished = self.finished, True
        if already or self.received == 0:
            return self._no_frames()
        return self._advance(final=True)

    def _no_frames(self) -> torch.Tensor:
        return torch.zeros(0, self.model.classifier.out_features)

    def _advance(self, final: bool) -> torch.Tensor:
        n = self.received
        if final:
            feats_ready = num_frames(n, self.feature_cfg)
        else:  # frames whose whole window has arrived
            feats_ready = (n - self.half_window) // self.hop + 1 if n >= self.half_window else 0
        self._features(feats_ready, final)
        if final:
            conv_ready = int(self.model.output_lengths(torch.tensor([self.feats_done])).item())
        else:  # outputs whose receptive field lies inside the final feature frames
            conv_ready = self.feats_done // self.stride + 1
            while conv_ready > 0 and self._right_reach(conv_ready - 1) > self.feats_done - 1:
                conv_ready -= 1
        return self._network(conv_ready, final)

    def _features(self, ready: int, final: bool) -> None:
        if ready <= self.feats_done:
            return
        # audio from 2 hops before the first new frame: local frames from 2 on have no edge padding
        first = max(0, self.feats_done - 2)
        start = first * self.hop
        end = self.received if final else (ready - 1) * self.hop + self.half_window
        piece = self.audio[start - self.audio_start : end - self.audio_start]
        frames = self.extractor(piece)[self.feats_done - first : ready - first]
        self.feats = torch.cat([self.feats, frames])
        self.feats_done = ready
        # keep audio from 2 hops before the next new frame
        keep_from = max(0, self.feats_done - 2) * self.hop
        self.audio = self.audio[keep_from - self.audio_start :]
        self.audio_start = keep_from

    def _network(self, conv_ready: int, final: bool) -> torch.Tensor:
        model = self.model
        if conv_ready > self.conv_done:
            # features from 2 outputs before the first new one (aligned to the stride): local
            # outputs from 2 on never see the window's zero edge
            first = max(0, self.conv_done - 2)
            start = first * self.stride
            window = self.feats[start - self.feats_start :]
            x, _ = model.front_end(window[None], torch.tensor([window.shape[0]]))
            x = x[0, self.conv_done - first : conv_ready - first]
            out, self.state = model.rnn(x[None], self.state)
            self.rnn_out = torch.cat([self.rnn_out, out[0]])
            self.conv_done = conv_ready
            keep_from = max(0, self.conv_done - 2) * self.stride
            self.feats = self.feats[keep_from - self.feats_start :]
            self.feats_start = keep_from
        ready = self.conv_done if final else max(self.emitted, self.conv_done - self.lookahead)
        if ready <= self.emitted:
            return self._no_frames()
        x = self.rnn_out[self.emitted - self.rnn_start :]
        if model.lookahead is not None:
            if final:  # past the end: zeros, as the offline model's padding
                x = torch.cat([x, torch.zeros(self.lookahead, x.shape[1])])
            x = model.lookahead.conv(x.T[None])[0].T  # [frames - lookahead, C]
        log_probs = model.head(x[: ready - self.emitted][None])[0]
        self.emitted = ready
        self.rnn_out = self.rnn_out[self.emitted - self.rnn_start :]
        self.rnn_start = self.emitted
        return log_probs


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

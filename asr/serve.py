"""HTTP service: ``POST /transcribe`` (multipart field ``file``) -> JSON with text and word
times; ``GET /health``; ``GET /`` a page to upload or record audio; with a streaming model,
``WS /stream``: raw 16 kHz s16le PCM in, partial and final events (JSON) out, for live captions.

One model, one inference thread: requests wait in a queue of ``queue_size`` places and are
answered 503 (with Retry-After) when it is full, so a burst slows the service down instead
of exhausting its memory. Bodies over ``max_mb`` are refused 413 before they are read in
full; audio longer than ``max_seconds`` 413; unreadable audio 415.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, File, HTTPException, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asr import __version__
from asr.audio import AudioError, audio_duration
from asr.checkpoint import Recognizer
from asr.config import DecodeConfig
from asr.decode import make_decoder
from asr.stream import Streamer, StreamEvent, check_streamable, pcm_samples
from asr.transcribe import transcribe

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ServiceLimits:
    max_mb: float = 50.0  # request body
    max_seconds: float = 3600.0  # audio duration
    queue_size: int = 8  # requests waiting or running; more are refused with 503


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, by its Content-Length or, for a
    chunked upload, as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen, too_large, refused = 0, False, False

        async def counted() -> Message:  # past the limit the app sees the client leave
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:  # ... and its own answer is replaced by 413
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not too_large:
                raise
        if too_large and not refused:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request body over the limit of {self.max_bytes / 1e6:g} MB"
        await JSONResponse({"detail": detail}, status_code=413)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(recognizer: Recognizer, decode: DecodeConfig | None = None,
               limits: ServiceLimits | None = None, device: str = "cpu") -> ASGIApp:  # fmt: skip
    """The service for one loaded model (``asr serve`` runs it with uvicorn)."""
    limits = limits or ServiceLimits()
    decode = decode or recognizer.config.decode
    recognizer.to(device)
    decoder = make_decoder(recognizer.vocab, decode, torch.device(device))  # once: beam search loads an LM
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-infer")
    state = {"queued": 0, "served": 0}
    app = FastAPI(title="asr", version=__version__)

    def run(path: str) -> dict[str, Any]:
        start = time.perf_counter()
        (t,) = transcribe(recognizer, path, device=device, decode=decode, decoder=decoder)
        return {"text": t.text, "duration": round(t.duration, 3),
                "words": [dataclasses.asdict(w) for w in t.words],
                "processing_seconds": round(time.perf_counter() - start, 3)}  # fmt: skip

    streaming = True
    try:
        check_streamable(recognizer)
    except ValueError:
        streaming = False
    streams = {"open": 0}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, **state, **dataclasses.asdict(limits),
                "streaming": streaming, "streams": streams["open"]}  # fmt: skip

    @app.websocket("/stream")
    async def stream(socket: WebSocket) -> None:
        """Binary messages of PCM in; one JSON text message per event out. A text message
        "end" (or closing) finishes the stream: the last final comes, then the close."""
        if not streaming:
            await socket.close(code=1008, reason="this model cannot stream (it is bidirectional)")
            return
        if streams["open"] >= limits.queue_size:
            await socket.close(code=1013, reason="busy: too many open streams, retry later")
            return
        await socket.accept()
        streams["open"] += 1
        streamer = Streamer(recognizer, decode, decoder=decoder)
        loop = asyncio.get_running_loop()
        pending = b""
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") == "end":
                    break
                pending += message.get("bytes") or b""
                usable = len(pending) // 2 * 2
                samples, pending = pcm_samples(pending[:usable]), pending[usable:]
                events = await loop.run_in_executor(worker, streamer.accept, samples)
                for event in events:
                    await socket.send_json(_event_json(event))
            for event in await loop.run_in_executor(worker, streamer.finish):
                await socket.send_json(_event_json(event))
            await socket.close()
        except WebSocketDisconnect:
            return
        finally:
            streams["open"] -= 1

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("asr").joinpath("assets/index.html").read_text(encoding="utf-8")

    @app.post("/transcribe")
    async def transcribe_upload(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 (FastAPI idiom)
        if state["queued"] >= limits.queue_size:
            raise HTTPException(503, "busy: the queue is full, retry later", headers={"Retry-After": "2"})
        state["queued"] += 1
        suffix = Path(file.filename or "").suffix.lower()[:8]
        handle, path = tempfile.mkstemp(prefix="asr-upload-", suffix=suffix)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := await file.read(1 << 20):
                    out.write(chunk)
            try:  # the header first: a file over the limit is refused before any inference
                seconds = audio_duration(path)
                if seconds > limits.max_seconds:
                    limit = f"the limit is {limits.max_seconds:g} s"
                    raise HTTPException(413, f"audio is {seconds:.0f} s; {limit}")
                result = await asyncio.get_running_loop().run_in_executor(worker, run, path)
            except AudioError as err:
                raise HTTPException(415, f"unreadable audio ({err.reason})") from None
            state["served"] += 1
            return result
        finally:
            state["queued"] -= 1
            os.unlink(path)

    return BodyLimit(app, int(limits.max_mb * 1e6))


def _event_json(event: StreamEvent) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(event).items() if k != "compute_seconds"}


def serve(recognizer: Recognizer, host: str = "127.0.0.1", port: int = 8000,
          decode: DecodeConfig | None = None, limits: ServiceLimits | None = None,
          device: str = "cpu") -> None:  # fmt: skip
    """Run the service until interrupted."""
    import uvicorn

    app = create_app(recognizer, decode, limits, device)
    logger.info("serving on http://%s:%d (page at /, API at /transcribe, /health)", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")

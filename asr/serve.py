"""HTTP service: ``POST /transcribe`` (multipart field ``file``) -> JSON with text and word
times; ``GET /health``; ``GET /`` a page to upload or record audio; with a streaming model,
``WS /stream``: raw 16 kHz s16le PCM in, partial and final events (JSON) out, for live captions.

One model, one inference thread: requests wait in a queue of ``queue_size`` places and are
answered 503 (with Retry-After), before their body is read, when it is full, so a burst slows
the service down instead of exhausting its memory. Bodies over ``max_mb`` are refused 413
before they are read in full; audio longer than ``max_seconds`` 413; unreadable audio 415.
Timeouts, the connection cap, the access log and ``GET /metrics`` are :mod:`asr.gate`'s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import re
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from fastapi import FastAPI, File, HTTPException, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp

from asr.audio import AudioError, audio_duration
from asr.config import DecodeConfig
from asr.decode import make_decoder
from asr.gate import AUDIO_SECONDS, Gate, Metrics, Queue, ServiceLimits, guarded_protocol
from asr.recognizer import Recognizer, check_streamable
from asr.stream import Streamer, StreamEvent, pcm_samples
from asr.transcribe import transcribe
from asr.version import __version__

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)


def create_app(recognizer: Recognizer, decode: DecodeConfig | None = None,
               limits: ServiceLimits | None = None, device: str = "cpu") -> ASGIApp:  # fmt: skip
    """The service for one loaded model (``asr serve`` runs it with uvicorn)."""
    limits = limits or ServiceLimits()
    decode = decode or recognizer.config.decode
    recognizer.to(device)
    decoder = make_decoder(recognizer.vocab, decode, torch.device(device))  # once: beam search loads an LM
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-infer")
    queue = Queue(limits.queue_size)
    metrics = Metrics(queue)
    app = FastAPI(title="asr", version=__version__)

    def run(path: str) -> dict[str, Any]:
        start = time.perf_counter()
        queue.busy_since = time.monotonic()
        try:
            (t,) = transcribe(recognizer, path, device=device, decode=decode, decoder=decoder)
        finally:
            queue.busy_since = None
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
        """"degraded" while no queue place is free or one inference has run past ``stuck_seconds``."""
        stuck = queue.stuck(limits.stuck_seconds)
        return {"status": "degraded" if queue.full or stuck else "ok", "version": __version__,
                "queued": queue.taken, "served": queue.served, "worker_stuck": stuck,
                **dataclasses.asdict(limits), "streaming": streaming, "streams": streams["open"]}  # fmt: skip

    @app.get("/metrics")
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

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
    async def transcribe_upload(request: Request, file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        """The queue place was taken by the gate, which gives it back whatever happens here."""
        name = _safe_name(file.filename)
        handle, path = tempfile.mkstemp(prefix="asr-upload-", suffix=Path(name).suffix)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := await file.read(1 << 20):
                    out.write(chunk)
            try:  # the header first: a file over the limit is refused before any inference
                seconds = audio_duration(path)
                request.scope[AUDIO_SECONDS] = round(seconds, 3)
                if seconds > limits.max_seconds:
                    limit = f"the limit is {limits.max_seconds:g} s"
                    raise HTTPException(413, f"audio is {seconds:.0f} s; {limit}")
                result = await asyncio.get_running_loop().run_in_executor(worker, run, path)
            except AudioError as err:  # the client's file name, never the server's temporary path
                raise HTTPException(415, f"unreadable audio ({err.reason.replace(path, name)})") from None
            queue.served += 1
            return result
        finally:
            os.unlink(path)

    return Gate(app, limits, queue, metrics)


def _safe_name(filename: str | None) -> str:
    """A client's file name reduced to letters, digits, ``._-`` (a NUL byte or a path in it broke
    ``mkstemp``), keeping the extension that hints the format."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path((filename or "").replace("\\", "/")).name)[-64:]
    suffix = re.sub(r"[^a-z0-9]", "", Path(name).suffix.lower())[:8]
    return f"{Path(name).stem or 'upload'}.{suffix}" if suffix else Path(name).stem or "upload"


def _event_json(event: StreamEvent) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(event).items() if k != "compute_seconds"}


def server_config(app: ASGIApp, limits: ServiceLimits, host: str = "127.0.0.1", port: int = 8000,
                  ) -> uvicorn.Config:  # fmt: skip
    """uvicorn's settings for ``app``: the gate's protocol (header deadline, connection cap) and
    the idle keep-alive timeout."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", http=guarded_protocol(limits),
                          timeout_keep_alive=limits.idle_timeout)  # type: ignore[arg-type]  # any number works


def serve(recognizer: Recognizer, host: str = "127.0.0.1", port: int = 8000,
          decode: DecodeConfig | None = None, limits: ServiceLimits | None = None,
          device: str = "cpu") -> None:  # fmt: skip
    """Run the service until interrupted."""
    import uvicorn

    limits = limits or ServiceLimits()
    app = create_app(recognizer, decode, limits, device)
    logger.info("serving on http://%s:%d (page at /, API at /transcribe, /health, /metrics)", host, port)
    uvicorn.Server(server_config(app, limits, host, port)).run()

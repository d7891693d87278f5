"""The service's door: what every connection and request passes before the model sees it.

- :func:`guarded_protocol`: uvicorn's HTTP protocol with a deadline for each request's headers
  (uvicorn has none: a client trickling one byte at a time held a connection for good) and a
  cap on open connections that closes an idle one to make room (the oldest that never sent a
  request, else the oldest keep-alive one), so a flood of idle sockets cannot take the file
  descriptors ``/health`` needs.
- :class:`Gate`: ASGI middleware that numbers each request, refuses ``POST /transcribe`` with
  503 before reading its body when every queue place is taken, takes and always gives back that
  place, bounds the body's size (413) and the time to send it (408), and writes one JSON line
  per request to the ``asr.access`` logger and to Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the service's packages are an extra: asr serve's flags read ServiceLimits without them
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("asr.access")
AUDIO_SECONDS = "asr.audio_seconds"  # scope key: the endpoint records the audio it was sent


def _limit(default: float, flag: str, help: str) -> Any:  # noqa: ANN401, A002
    return dataclasses.field(default=default, metadata={"flag": flag, "help": help})


@dataclasses.dataclass(frozen=True)
class ServiceLimits:
    """What one service admits; ``asr serve`` has a flag for each field, with this help."""

    max_mb: float = _limit(50.0, "--max-mb", "largest request body, MB (413 past it)")
    max_seconds: float = _limit(3600.0, "--max-seconds", "longest audio, seconds (413 past it)")
    queue_size: int = _limit(8, "--queue", "requests waiting or running; more get 503 before their body")
    header_timeout: float = _limit(10.0, "--header-timeout",
                                   "seconds from connecting (or the last answer) to a request's headers")
    body_timeout: float = _limit(120.0, "--body-timeout", "seconds to send a request body (408 past it)")
    idle_timeout: float = _limit(5.0, "--idle-timeout", "seconds an idle keep-alive connection stays open")
    max_connections: int = _limit(100, "--max-connections",
                                  "open connections; past it the oldest idle one is closed")
    stuck_seconds: float = _limit(300.0, "--stuck-seconds",
                                  "one inference running longer makes /health say degraded")

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if not value > 0:
                raise ValueError(f"service limit {name} must be positive, not {value}")


class Queue:
    """Places for ``POST /transcribe`` (waiting or running) and the one inference worker's state."""

    def __init__(self, size: int) -> None:
        self.size, self.taken, self.served = size, 0, 0
        self.busy_since: float | None = None  # monotonic start of the inference now running

    @property
    def full(self) -> bool:
        return self.taken >= self.size

    def stuck(self, after: float) -> bool:
        return self.busy_since is not None and time.monotonic() - self.busy_since > after


class Metrics:
    """Prometheus metrics in a registry of this service's own (no process-wide state)."""

    def __init__(self, queue: Queue) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("asr_requests", "HTTP requests answered", ["path", "status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram("asr_request_seconds", "Time from headers to the end of the answer",
                                 ["path"], registry=self.registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))  # fmt: skip
        self.audio = Counter("asr_audio_seconds", "Seconds of audio transcribed", registry=self.registry)
        self.body = Counter("asr_request_body_bytes", "Request body bytes read", registry=self.registry)
        taken = Gauge("asr_queue_taken", "Queue places taken", registry=self.registry)
        taken.set_function(lambda: queue.taken)
        Gauge("asr_queue_size", "Queue places", registry=self.registry).set_function(lambda: queue.size)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Gate:
    """ASGI middleware in front of the app: see the module docstring."""

    def __init__(self, app: ASGIApp, limits: ServiceLimits, queue: Queue, metrics: Metrics) -> None:
        self.app, self.limits, self.queue, self.metrics = app, limits, queue, metrics
        self.ids = itertools.count(1)
        self.max_bytes = int(limits.max_mb * 1e6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(next(self.ids), scope["method"], scope["path"], time.monotonic())
        queued = request.method == "POST" and request.path == "/transcribe"
        try:
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.max_bytes:
                await request.refuse(send, 413, self._too_large())
            elif queued and self.queue.full:  # before a byte of the body is read
                await request.refuse(send, 503, "busy: the queue is full, retry later", {"Retry-After": "2"})
            elif queued:
                self.queue.taken += 1
                released = False

                def release() -> None:
                    """Give the place back once: when the answer starts (so a client that has it
                    sees the place free), or on any way out."""
                    nonlocal released
                    if not released:
                        released, self.queue.taken = True, self.queue.taken - 1

                try:
                    await self._pass(scope, receive, send, request, release)
                finally:
                    release()
            else:
                await self._pass(scope, receive, send, request)
        finally:
            self._record(scope, request)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, request: _Request,
                    answering: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        """Run the app; a body over the size or time limit is cut off (the app sees the client
        leave) and the app's answer is replaced by 413 or 408."""
        deadline = request.start + self.limits.body_timeout

        async def counted() -> Message:
            if request.refusal:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                request.refusal = 408, f"request body not received within {self.limits.body_timeout:g} s"
                return {"type": "http.disconnect"}
            request.bytes += len(message.get("body", b""))
            if request.bytes > self.max_bytes:
                request.refusal = 413, self._too_large()
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            answering()
            if request.refusal:
                if not request.status:
                    await request.refuse(send, *request.refusal)
                return
            if message["type"] == "http.response.start":
                request.status = message["status"]
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not request.refusal:
                request.status = request.status or 500
                raise
        if request.refusal and not request.status:
            answering()
            await request.refuse(send, *request.refusal)

    def _too_large(self) -> str:
        return f"request body over the limit of {self.max_bytes / 1e6:g} MB"

    def _record(self, scope: Scope, request: _Request) -> None:
        seconds = time.monotonic() - request.start
        audio = scope.get(AUDIO_SECONDS)
        status = request.status or 499  # nothing was answered: the client left
        known = request.path if request.path in ("/transcribe", "/health", "/metrics", "/") else "other"
        self.metrics.requests.labels(known, str(status)).inc()
        self.metrics.latency.labels(known).observe(seconds)
        self.metrics.body.inc(request.bytes)
        if audio:
            self.metrics.audio.inc(audio)
        access_log.info(json.dumps({
            "id": request.id, "method": request.method, "path": request.path, "status": status,
            "bytes": request.bytes, "audio_seconds": audio, "seconds": round(seconds, 4),
            "client": scope["client"][0] if scope.get("client") else None,
        }))  # fmt: skip


@dataclasses.dataclass
class _Request:
    id: int
    method: str
    path: str
    start: float
    bytes: int = 0
    status: int = 0  # sent so far (0: nothing yet)
    refusal: tuple[int, str] | None = None  # what replaces the app's answer

    async def refuse(self, send: Send, status: int, detail: str, headers: dict[str, str] | None = None,
                     ) -> None:  # fmt: skip
        from starlette.responses import JSONResponse

        self.status = status
        response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def guarded_protocol(limits: ServiceLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with a header deadline and a connection cap (see module)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class GuardedProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:  # noqa: ANN401 (asyncio's transport)
            super().connection_made(transport)
            self.opened = time.monotonic()
            self.deadline: asyncio.TimerHandle | None = None
            open_ = [c for c in self.connections if not c.transport.is_closing()]  # closes are not instant
            if len(open_) > limits.max_connections:
                idle = [c for c in open_ if c is not self and _between_requests(c)]
                if not idle:
                    transport.close()
                    return
                # silent sockets (no request yet) go before clients' keep-alive ones, oldest first
                min(idle, key=lambda c: (c.cycle is not None, c.opened)).transport.close()
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request's headers get the same deadline

        def handle_websocket_upgrade(self, *args: Any) -> None:  # noqa: ANN401
            self._disarm()  # the socket now belongs to the WebSocket protocol
            super().handle_websocket_upgrade(*args)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _disarm(self) -> None:
            deadline = getattr(self, "deadline", None)
            if deadline is not None:
                deadline.cancel()
                self.deadline = None

        def _arm(self) -> None:
            self._disarm()
            self.deadline = self.loop.call_later(limits.header_timeout, self._overdue)

        def _overdue(self) -> None:
            if _between_requests(self):  # no request's headers arrived in time
                self.transport.close()

    def _between_requests(conn: Any) -> bool:  # noqa: ANN401
        """Not inside a request: no headers yet, or the last answer sent (a WebSocket is neither)."""
        return isinstance(conn, GuardedProtocol) and (conn.cycle is None or conn.cycle.response_complete)

    return GuardedProtocol

"""``asr stream`` and ``asr serve``: the commands that transcribe live audio and requests."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time

import asr
from asr.audio import SAMPLE_RATE
from asr.cli.flags import DEVICE_HELP, add_decode_flags, decode_config, model_path
from asr.gate import ServiceLimits, access_log
from asr.runtime import MissingDependency, bound_kernel_cache, pick_device
from asr.stream import Streamer, StreamEvent, file_pieces, pcm_pieces, percentile

logger = logging.getLogger("asr")


def cmd_stream(args: argparse.Namespace) -> int:
    recognizer = asr.load_model(model_path(args.model), precision=args.precision)
    streamer = Streamer(recognizer, decode_config(recognizer, args), pause_seconds=args.pause)
    samples = int(args.chunk_ms * SAMPLE_RATE / 1000)
    if args.source == "-":
        pieces = pcm_pieces(sys.stdin.buffer, samples)
    else:
        pieces = file_pieces(args.source, samples, realtime=args.realtime)
    live = sys.stdout.isatty() and not args.json
    latencies, compute, finals = [], 0.0, 0

    def show(events: list[StreamEvent]) -> None:
        nonlocal finals
        for event in events:
            latencies.extend(event.latencies)
            finals += event.kind == "final"
            if args.json:
                print(json.dumps(dataclasses.asdict(event)), flush=True)
            elif event.kind == "final":
                print(f"\r\033[K{event.text}" if live else event.text, flush=True)
            elif live:
                print(f"\r\033[K{event.text}", end="", flush=True)

    for piece in pieces:
        started = time.perf_counter()
        show(streamer.accept(piece))
        compute += time.perf_counter() - started
    started = time.perf_counter()
    show(streamer.finish())
    compute += time.perf_counter() - started
    audio = streamer.acoustics.received / SAMPLE_RATE
    if latencies:
        median, p90 = percentile(latencies, 0.5), percentile(latencies, 0.9)
        logger.info("%.1f s of audio, %d final segments; character latency median %.0f ms, p90 %.0f ms "
                    "(audio still awaited + compute); compute %.3f x real time",
                    audio, finals, 1000 * median, 1000 * p90, compute / max(audio, 1e-9))  # fmt: skip
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from asr.serve import serve
    except ImportError as err:
        hint = "pip install 'asr[serve]'"
        needs = "FastAPI, uvicorn and prometheus-client"
        raise MissingDependency(f"asr serve needs {needs} ({err}): {hint}") from None

    bound_kernel_cache()  # a service sees every audio length: keep its memory flat
    recognizer = asr.load_model(model_path(args.model), backend=args.backend, precision=args.precision)
    limits = ServiceLimits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ServiceLimits)})
    device = str(pick_device(args.device))
    handler = logging.StreamHandler(sys.stdout) if args.access_log == "-" else logging.FileHandler(
        args.access_log, encoding="utf-8")  # fmt: skip
    handler.setFormatter(logging.Formatter("%(message)s"))  # JSON lines, nothing around them
    access_log.addHandler(handler)
    access_log.propagate = False
    access_log.setLevel(logging.INFO)  # whatever -q does to the log
    serve(recognizer, args.host, args.port, decode_config(recognizer, args), limits, device)
    return 0


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("stream", parents=[common], help="live partial and final text from a stream")
    p.add_argument("source", nargs="?", default="-",
                   help="audio file, or - (default): raw 16 kHz mono s16le PCM on stdin")  # fmt: skip
    p.add_argument("--model", help="a unidirectional checkpoint (recipes/streaming)")
    p.add_argument("--chunk-ms", type=float, default=100.0, help="audio per processing step")
    p.add_argument("--pause", type=float, default=0.5, help="seconds of blank that end a segment")
    p.add_argument("--realtime", action="store_true", help="pace a file as a live source (for demos)")
    p.add_argument("--json", action="store_true", help="every partial and final event as a JSON line")
    add_decode_flags(p, backend=False)
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("serve", parents=[common], help="HTTP API and web page for transcription")
    p.add_argument("--model", help="checkpoint or exported model (default: the bundled model)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    for f in dataclasses.fields(ServiceLimits):
        p.add_argument(f.metadata["flag"], dest=f.name, type=type(f.default), default=f.default,
                       help=f"{f.metadata['help']} (default {f.default:g})")  # fmt: skip
    p.add_argument("--access-log", default="-", metavar="FILE",
                   help="one JSON line per request (id, path, status, bytes, audio seconds, latency); "
                   "default -: stdout")  # fmt: skip
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_decode_flags(p)
    p.set_defaults(func=cmd_serve)

"""Soak test of ``asr serve``: real clips from well-behaved clients, with hostile clients mixed in,
for a fixed time, all on 127.0.0.1. Prints a row per interval (requests, status counts, latency
percentiles of the real clips, the server's RSS, /health answers) and a verdict: unexpected 5xx
(anything but 503 busy), RSS drift after warm-up, and /health failures.

Hostile clients, each bounded in time: a NUL byte and a path in the file name, random bytes,
a truncated WAV, an empty file, headers that never end, a body that stalls, a burst of idle
connections, a 22,051 Hz clip, a FLAC whose header has no length, a Content-Length over the
limit, and a WAV header claiming ten hours.

Usage: python -m benchmarks.speed.soak [--seconds 600] [--clients 4] [--hostile 2] [--audio FILE|DIR ...]
       python -m benchmarks.speed.soak --smoke   (20 s, for CI)
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile

from benchmarks.harness import SAMPLE

EXPECTED = {"real": {200, 503}, "hostile": {200, 400, 408, 413, 415, 422, 503, 0}}  # 0: closed by server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def flac_without_length(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC")
    data = bytearray(buffer.getvalue())
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    return bytes(data)


class Soak:
    def __init__(self, url: str, clips: list[bytes], deadline: float, header_timeout: float) -> None:
        self.url, self.clips, self.deadline, self.header_timeout = url, clips, deadline, header_timeout
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, int, float]] = []  # (time, kind, status, seconds)
        self.health: list[tuple[float, str]] = []
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, status, seconds))

    def post(self, client: httpx.Client, name: str, data: bytes, kind: str) -> None:
        start = time.monotonic()
        try:
            answer = client.post(f"{self.url}/transcribe", files={"file": (name, data)}, timeout=120)
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        self.record(kind, status, time.monotonic() - start)

    def real_client(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client() as client:
            while time.monotonic() < self.deadline:
                self.post(client, "clip.flac", rng.choice(self.clips), "real")
                time.sleep(rng.uniform(0, 0.2))

    def raw(self, payload: bytes, pause: float, trickle: bytes = b"") -> None:
        """Send ``payload``, then trickle or wait ``pause`` s; record the answer or 0 if closed."""
        start = time.monotonic()
        status = 0
        try:
            with socket.create_connection(self.address, timeout=pause + 10) as sock:
                sock.sendall(payload)
                end = time.monotonic() + pause
                while trickle and time.monotonic() < end:
                    sock.sendall(trickle)
                    time.sleep(0.5)
                reply = sock.recv(64)
                if reply.startswith(b"HTTP/1.1 "):
                    status = int(reply[9:12])
        except OSError:
            status = 0
        self.record("hostile", status, time.monotonic() - start)

    def hostile_client(self, seed: int) -> None:
        rng = random.Random(seed)
        noise = (np.random.default_rng(seed).standard_normal(16000) * 0.1).astype(np.float32)
        clip = self.clips[0]
        head = b"POST /transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        long_wav = bytearray(wav(noise, 16000))
        long_wav[40:44] = struct.pack("<I", 16000 * 2 * 36000)  # data chunk claims ten hours
        attacks = [
            lambda c: self.post(c, "a\x00b.wav", clip, "hostile"),
            lambda c: self.post(c, "../../etc/passwd", clip, "hostile"),
            lambda c: self.post(c, "r.wav", os.urandom(rng.randint(1, 200_000)), "hostile"),
            lambda c: self.post(c, "t.wav", wav(noise, 16000)[: rng.randint(10, 20000)], "hostile"),
            lambda c: self.post(c, "e.wav", b"", "hostile"),
            lambda c: self.post(c, "odd.wav", wav(noise[:16000], 22051), "hostile"),
            lambda c: self.post(c, "pipe.flac", flac_without_length(noise, 16000), "hostile"),
            lambda c: self.post(c, "long.wav", bytes(long_wav), "hostile"),
            lambda c: self.raw(b"GET / HTTP/1.1\r\nHost: x\r\n", self.header_timeout + 2, b"X-A: b\r\n"),
            lambda c: self.raw(head + b"Content-Length: 100000\r\n\r\n--x\r\n", 5.0),
            lambda c: self.raw(head + b"Content-Length: 900000000\r\n\r\n", 1.0),
            lambda c: self.idle_burst(rng.randint(20, 120)),
        ]
        with httpx.Client() as client:
            while time.monotonic() < self.deadline:
                rng.choice(attacks)(client)
                time.sleep(rng.uniform(0, 0.5))

    def idle_burst(self, count: int) -> None:
        sockets = []
        try:
            for _ in range(count):
                sockets.append(socket.create_connection(self.address, timeout=5))
            time.sleep(1.0)
        except OSError:
            pass
        finally:
            for sock in sockets:
                sock.close()
        self.record("hostile", 0, 1.0)

    def watch_health(self) -> None:
        while time.monotonic() < self.deadline:
            try:
                state = httpx.get(f"{self.url}/health", timeout=5).json()["status"]
            except (httpx.HTTPError, ValueError, KeyError):
                state = "failed"
            self.health.append((time.monotonic(), state))
            time.sleep(1.0)


def load_clips(paths: list[Path]) -> list[bytes]:
    files = []
    for path in paths:
        audio = [f for f in sorted(path.rglob("*")) if f.suffix in (".flac", ".wav", ".mp3", ".ogg")]
        files += audio if path.is_dir() else [path]
    clips = []
    for f in files[:200]:
        data, rate = soundfile.read(f, dtype="float32")
        if 1.0 <= len(data) / rate <= 30.0:
            buffer = io.BytesIO()
            soundfile.write(buffer, data, rate, format="FLAC")
            clips.append(buffer.getvalue())
    return clips or [SAMPLE.read_bytes()]


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per table row")
    parser.add_argument("--clients", type=int, default=4, help="clients sending real clips")
    parser.add_argument("--hostile", type=int, default=2, help="hostile clients")
    parser.add_argument("--audio", type=Path, nargs="+", default=[SAMPLE], help="clips, or folders of them")
    parser.add_argument("--model", help="model to serve (default: the bundled one)")
    parser.add_argument("--smoke", action="store_true", help="20 s, rows of 5 s (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.interval = 20.0, 5.0
    header_timeout = 3.0
    port = free_port()
    command = [sys.executable, "-m", "asr", "serve", "-q", "--port", str(port), "--access-log", os.devnull,
               "--header-timeout", str(header_timeout), "--body-timeout", "4", "--max-mb", "20",
               *(["--model", args.model] if args.model else [])]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(server.stderr.read().decode()[-2000:], file=sys.stderr)
                    return 1
                time.sleep(0.2)
        clips = load_clips(args.audio)
        start = time.monotonic()
        soak = Soak(url, clips, start + args.seconds, header_timeout)
        threads = [threading.Thread(target=soak.real_client, args=(i,)) for i in range(args.clients)]
        threads += [threading.Thread(target=soak.hostile_client, args=(99 + i,)) for i in range(args.hostile)]
        threads.append(threading.Thread(target=soak.watch_health))
        for thread in threads:
            thread.start()
        print(f"asr serve soak: {args.clients} clients x {len(clips)} clips, {args.hostile} hostile clients, "
              f"{args.seconds:g} s on {url}\n")  # fmt: skip
        print("| until s | requests | 200 | 4xx | 503 | other 5xx | closed | real p50 s | p95 | p99 "
              "| RSS MB | /health ok / degraded / failed |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        rss: list[float] = []
        edge = start
        while edge < start + args.seconds:
            edge += args.interval
            time.sleep(max(0.0, edge - time.monotonic()))
            rss.append(rss_mb(server.pid))
            with soak.lock:
                rows = [e for e in soak.events if edge - args.interval <= e[0] < edge]
            health = collections.Counter(s for t, s in soak.health if edge - args.interval <= t < edge)
            codes = collections.Counter(status for _, _, status, _ in rows)
            real = [s for _, kind, status, s in rows if kind == "real" and status == 200]
            other5xx = sum(n for c, n in codes.items() if c >= 500 and c != 503)
            fours = sum(n for c, n in codes.items() if 400 <= c < 500)
            print(f"| {edge - start:.0f} | {len(rows)} | {codes[200]} | {fours} | {codes[503]} | {other5xx} "
                  f"| {codes[0]} | {percentile(real, 50):.2f} | {percentile(real, 95):.2f} "
                  f"| {percentile(real, 99):.2f} | {rss[-1]:.0f} | {health['ok']} / {health['degraded']} "
                  f"/ {health['failed']} |")  # fmt: skip
        for thread in threads:
            thread.join()
        events = soak.events
        unexpected = [e for e in events if e[2] not in EXPECTED[e[1]]]
        real = [s for _, kind, status, s in events if kind == "real" and status == 200]
        warm = rss[len(rss) // 4 :] or rss
        drift = (max(warm) - min(warm)) / min(warm) if warm else float("nan")
        failed = sum(s == "failed" for _, s in soak.health)
        print(f"\ntotal {len(events)} requests ({sum(e[1] == 'real' for e in events)} real, "
              f"{sum(e[1] == 'hostile' for e in events)} hostile): "
              f"{dict(sorted(collections.Counter(e[2] for e in events).items()))}")  # fmt: skip
        print(f"real clips served: {len(real)}, p50 {percentile(real, 50):.2f} s, "
              f"p95 {percentile(real, 95):.2f} s, p99 {percentile(real, 99):.2f} s")  # fmt: skip
        kinds = collections.Counter((e[1], e[2]) for e in unexpected)
        print(f"unexpected answers: {len(unexpected)} {dict(kinds)}")
        print(f"RSS after warm-up: {min(warm):.0f}-{max(warm):.0f} MB ({100 * drift:.1f}% spread); "
              f"/health: {len(soak.health)} probes, {failed} failed")  # fmt: skip
        alive = server.poll() is None
        ok = alive and not unexpected and failed == 0 and drift <= 0.10
        print("verdict:", "PASS" if ok else "FAIL", "" if alive else "(the server died)")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

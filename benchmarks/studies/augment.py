"""What each robustness augmentation does on real held-out speakers: same model, same steps.

From one starting checkpoint, fine-tune one copy per arm for the same number of steps on the
same batches (same seed), changing only the augmentation: none, reverberation, background
noise, telephone channel, all three, or vocal-tract-length perturbation (VTLP). Then decode
(greedy) seeded samples of each test manifest clean and corrupted three ways — a simulated
room, noise at 0-15 dB SNR from a noise manifest (make it with another seed than the training
noise), the telephone band — and print WER per arm and condition, with the starting model as
the first row.

Usage:
  python -m benchmarks.studies.augment --init BEST.pt --train TRAIN.jsonl --valid VALID.jsonl \
      --noise NOISE.jsonl --test-noise TEST_NOISE.jsonl --out DIR TEST.jsonl [...] \
      [--steps 150] [--batch-seconds 60] [--arms none reverb noise telephone all vtlp] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

import asr
from asr import add_noise, reverberate, room_impulse_response, telephone
from benchmarks.harness import (
    greedy_scores,
    run_or_smoke,
    sample_waves,
    seeded_sample,
    smoke_corpus,
    smoke_model,
)

ARMS = {  # waveform augmentation per arm; speed perturbation and SpecAugment as in the start model
    "none": {},
    "reverb": {"reverb_prob": 0.5},
    "noise": {"noise_prob": 0.5},
    "telephone": {"telephone_prob": 0.3},
    "all": {"reverb_prob": 0.5, "noise_prob": 0.5, "telephone_prob": 0.3},
    "vtlp": {"vtlp_prob": 0.5},  # a spectral warp, not a waveform step: other speakers, not other rooms
}
CONDITIONS = ("clean", "reverb", "noise", "telephone")


def corrupt(wave: torch.Tensor, condition: str, noises: list[torch.Tensor], seed: int) -> torch.Tensor:
    """One held-out clip under ``condition``, the same for every arm (seeded by clip)."""
    gen = torch.Generator().manual_seed(seed)
    if condition == "reverb":
        return reverberate(wave, room_impulse_response(0.3 + 0.6 * float(torch.rand(1, generator=gen)), gen))
    if condition == "noise":
        noise = noises[int(torch.randint(len(noises), (1,), generator=gen))]
        return add_noise(wave, noise, 15 * float(torch.rand(1, generator=gen)), gen)
    if condition == "telephone":
        return telephone(wave)
    return wave


def arm_config(start: asr.ExperimentConfig, arm: str, args: argparse.Namespace) -> asr.ExperimentConfig:
    changes = {"reverb_prob": 0.0, "telephone_prob": 0.0, "vtlp_prob": 0.0, "noise_manifest": "", **ARMS[arm]}
    if "noise_prob" in ARMS[arm]:
        changes["noise_manifest"] = str(args.noise.resolve())
    augment = dataclasses.replace(start.augment, **changes)
    out = args.out / arm
    return dataclasses.replace(
        start,
        exp_dir=str(out),
        augment=augment,
        data=dataclasses.replace(
            start.data,
            train_manifest=str(args.train.resolve()),
            valid_manifest=str(out / "valid.jsonl"),
            max_batch_seconds=args.batch_seconds,
        ),  # fmt: skip
        train=dataclasses.replace(
            start.train,
            init_from=str(args.init.resolve()),
            max_steps=args.steps,
            epochs=1,
            lr=args.lr,
            warmup_steps=max(1, args.steps // 10),
            seed=0,
            tensorboard=False,
            plots=False,
        ),  # fmt: skip
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", type=Path, help="held-out manifests (real speakers)")
    parser.add_argument("--init", type=Path, help="starting checkpoint")
    parser.add_argument("--train", type=Path)
    parser.add_argument("--valid", type=Path, help="a sample of it picks nothing: runs end at --steps")
    parser.add_argument("--noise", type=Path, help="noise manifest for training")
    parser.add_argument("--test-noise", type=Path, help="other noise clips for the noisy tests")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-seconds", type=float, default=60.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--max-utterances", type=int, default=100, help="a seeded sample per test set")
    return run_or_smoke(parser, argv, run, smoke, "a tiny model, one step per arm, tone clips",
                        required=("tests", "init", "train", "valid", "noise", "test_noise", "out"))


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.train = args.valid = args.noise = smoke_corpus(tmp / "tones", 4)
    args.test_noise = smoke_corpus(tmp / "other", 2, seed=1)
    args.init = smoke_model(tmp / "init", args.train)
    args.tests, args.out, args.steps, args.arms = [args.train], tmp / "out", 1, ["none", "all", "vtlp"]


def run(args: argparse.Namespace) -> None:
    start = asr.load_model(args.init)
    noises = [asr.load_utterance(u) for u in asr.read_manifest(args.test_noise)]
    tests = {}
    for manifest in args.tests:
        utts, waves, _ = sample_waves(manifest, args.max_utterances)
        for condition in CONDITIONS:
            tests[f"{manifest.parent.name}/{condition}"] = (
                utts,
                [corrupt(w, condition, noises, i) for i, w in enumerate(waves)],
            )
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    done = {}
    if results_path.exists():  # a rerun measures only what is missing
        done = {r["arm"]: r for r in map(json.loads, results_path.read_text().splitlines()) if "cer" in r}
    for arm in ["start", *args.arms]:
        if arm not in done:
            done[arm] = {"arm": arm, **greedy_scores(arm_model(arm, start, args), tests)}
            with results_path.open("a") as handle:
                handle.write(json.dumps(done[arm]) + "\n")
        print(arm, json.dumps(done[arm]), flush=True)
    columns = list(done["start"]["wer"])
    print("\ngreedy WER / CER, %\n" + f"{'arm':10} " + " ".join(f"{c:>24}" for c in columns))
    for arm, row in done.items():
        cells = [f"{row['wer'][c]:.1f} / {row['cer'][c]:.1f}" for c in columns]
        print(f"{arm:10} " + " ".join(f"{cell:>24}" for cell in cells))


def arm_model(arm: str, start: asr.Recognizer, args: argparse.Namespace) -> asr.Recognizer:
    """The start model, or the arm's model after ``--steps`` steps (trained now, or continued
    or reused from ``out/ARM`` when a run was killed or measured before)."""
    if arm == "start":
        return start
    last = args.out / arm / "checkpoints" / "last.pt"
    if last.exists() and asr.read_checkpoint(last)["train_state"]["step"] >= args.steps:
        return asr.load_model(last)
    (args.out / arm).mkdir(parents=True, exist_ok=True)
    valid = seeded_sample(asr.read_manifest(args.valid), 20)
    asr.write_manifest(valid, args.out / arm / "valid.jsonl", relative=False)
    summary = asr.train(arm_config(start.config, arm, args), resume=last.exists(), show_progress=False)
    if summary.steps < args.steps:
        raise SystemExit(f"{arm}: stopped at step {summary.steps} of {args.steps}; rerun to continue it")
    return asr.load_model(summary.last_checkpoint)


if __name__ == "__main__":
    main()

"""Acoustic-model shape by measurement: depth, width, time stride, GRU against LSTM, and what
the model is taught (an auxiliary phone head, or phones as its units).

Each arm changes only ``model`` fields of one base config; every arm trains from scratch (or from
``--init-from``'s weights) on the same manifest for the same epochs and seed, keeps its best epoch
by the validation manifest (use speakers that neither training nor the test sets have), and is
then decoded greedily on each test manifest (and with ``--lm``, by beam search with that LM and
its lexicon: the only scores of a phone model). Printed per arm: parameters, training speed (audio
seconds per wall second, speed perturbation included), validation and test WER / CER, and
inference speed on the test clips or ``--speed-manifest``'s (greedy; all arms in the same rounds,
after training) as a ratio to the first arm. Results go to ``OUT/results.jsonl``; a rerun measures
only the arms missing there and continues a killed arm with ``--resume``.

On 2 CPU cores the table is affordable only on a small task (the recipe README's digit proxy);
the same command on a GPU with the recipe's training mix gives the full-scale table.

Usage:
  python -m benchmarks.studies.architecture --config recipes/default/config.yaml --train T.jsonl \
      --valid V.jsonl --out DIR TEST.jsonl [...] [--epochs 15] [--batch-seconds 20] [--lr 1.5e-3]
      [--arms lstm-3x256-s4 gru-3x256-s4 ...] [--seed 0] [--speed-manifest M.jsonl]
      [--set data.num_workers=0 ...] [--lm LM --lm-weight 1.0] [--init-from CKPT] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

import asr
from benchmarks.harness import greedy_scores, interleaved, run_or_smoke, sample_waves, scores, smoke_corpus
from data_prep.tones import TINY_MODEL

ARMS = {  # model fields changed from the base config, per arm; the first is the baseline
    "lstm-3x256-s4": {"rnn_type": "lstm", "num_layers": 3, "hidden_size": 256, "time_stride": 4},
    "gru-3x256-s4": {"rnn_type": "gru", "num_layers": 3, "hidden_size": 256, "time_stride": 4},
    "lstm-2x256-s4": {"rnn_type": "lstm", "num_layers": 2, "hidden_size": 256, "time_stride": 4},
    "lstm-4x256-s4": {"rnn_type": "lstm", "num_layers": 4, "hidden_size": 256, "time_stride": 4},
    "lstm-3x192-s4": {"rnn_type": "lstm", "num_layers": 3, "hidden_size": 192, "time_stride": 4},
    "lstm-3x384-s4": {"rnn_type": "lstm", "num_layers": 3, "hidden_size": 384, "time_stride": 4},
    "lstm-3x256-s2": {"rnn_type": "lstm", "num_layers": 3, "hidden_size": 256, "time_stride": 2},
    "lstm-3x256-s4-f1": {  # forget gates' biases + 1 at initialisation
        "rnn_type": "lstm",
        "num_layers": 3,
        "hidden_size": 256,
        "time_stride": 4,
        "forget_bias": 1.0,
    },
}
GRU = ARMS["gru-3x256-s4"]  # what to teach, on the shape that leaves the all-blank phase soonest here
for _layer, _weight in ((1, 0.3), (2, 0.3), (1, 0.6), (2, 0.6)):
    ARMS[f"gru-3x256-s4-aux{_layer}-w{_weight:g}"] = {
        **GRU, "aux_phones": asr.AuxPhonesConfig(_layer, _weight)
    }
ARMS["gru-3x256-s4-phones"] = {**GRU, "units": "phones"}


def arm_config(base: asr.ExperimentConfig, arm: str, args: argparse.Namespace) -> asr.ExperimentConfig:
    return dataclasses.replace(
        base,
        exp_dir=str((args.out / arm).resolve()),
        model=dataclasses.replace(base.model, **ARMS[arm]),
        data=dataclasses.replace(
            base.data,
            train_manifest=str(args.train.resolve()),
            valid_manifest=str(args.valid.resolve()),
            max_batch_seconds=args.batch_seconds,
        ),  # fmt: skip
        train=dataclasses.replace(
            base.train,
            init_from=str(args.init_from.resolve()) if args.init_from else "",
            epochs=args.epochs,
            max_steps=0,
            lr=args.lr,
            warmup_steps=args.warmup,
            seed=args.seed,
            keep_epochs=0,
            tensorboard=False,
            plots=False,
        ),  # fmt: skip
    )


def train_arm(cfg: asr.ExperimentConfig, train_seconds: float) -> tuple[Path, float]:
    """Train (or continue) one arm; its best checkpoint and audio seconds trained per wall second,
    from the wall time this process spent on it (a continued run counts only its own part)."""
    last = Path(cfg.exp_dir) / "checkpoints" / "last.pt"
    epochs_before = asr.read_checkpoint(last)["train_state"]["epoch"] if last.exists() else 0
    start = time.perf_counter()
    summary = asr.train(cfg, resume=last.exists(), show_progress=False)
    wall = time.perf_counter() - start
    if summary.stopped_early or summary.best_checkpoint is None:
        raise SystemExit(f"{cfg.exp_dir}: stopped after epoch {summary.epochs_done}; rerun to continue it")
    epochs = max(summary.epochs_done - epochs_before, 1)
    return summary.best_checkpoint, epochs * train_seconds / wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="*", type=Path, help="held-out manifests (unseen speakers)")
    parser.add_argument("--config", type=Path, help="base config (model fields per arm)")
    parser.add_argument("--train", type=Path)
    parser.add_argument("--valid", type=Path, help="picks each arm's best epoch")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument(
        "--speed-manifest", type=Path, help="clips for the inference-speed column (default: the test sets)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the same for every arm; rerun to see the spread")
    parser.add_argument("--max-utterances", type=int, default=None, help="a seeded sample per test set")
    parser.add_argument("--set", action="append", default=[], help="config override, as in asr train")
    parser.add_argument("--init-from", type=Path, help="start every arm from this checkpoint's weights (as "
                        "train.init_from: e.g. a distillation pre-training run) instead of from scratch")
    parser.add_argument("--lm", type=Path, help="also score beam search with this LM and its lexicon")
    parser.add_argument("--lm-weight", type=float, default=1.0)
    parser.add_argument("--beam-size", type=int, default=50)
    return run_or_smoke(parser, argv, run, smoke, "two arms, one epoch on 6 tone clips",
                        required=("tests", "config", "train", "valid", "out"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.train = args.valid = smoke_corpus(tmp / "tones")
    args.tests, args.out, args.epochs, args.warmup = [args.train], tmp / "out", 1, 1
    args.arms, args.set = ["lstm-2x256-s4", "gru-3x256-s4"], [*TINY_MODEL, *args.set]


def run(args: argparse.Namespace) -> None:
    base = asr.load_config(args.config, args.set)
    train_rows = asr.read_manifest(args.train)
    spaced = " " in base.text.extra_characters or any(" " in u.text.strip() for u in train_rows)
    if args.lm and not spaced:
        raise SystemExit("--lm: beam search needs the space in the vocabulary, and these transcripts are "
                         "single words: add --set \"text.extra_characters=' '\"")  # fmt: skip
    train_seconds = sum(u.duration or 0.0 for u in train_rows)
    valid_utts, valid_waves, _ = sample_waves(args.valid, args.max_utterances)
    tests = {"valid": (valid_utts, valid_waves)}
    test_waves: list[torch.Tensor] = []
    test_seconds = 0.0
    for manifest in args.tests:
        utts, waves, seconds = sample_waves(manifest, args.max_utterances)
        tests[manifest.parent.name] = (utts, waves)
        test_waves += waves
        test_seconds += seconds
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    done = {}
    if results_path.exists():  # a rerun measures only what is missing
        done = {r["arm"]: r for r in map(json.loads, results_path.read_text().splitlines())}
    for arm in args.arms:
        if arm not in done:
            best, train_speed = train_arm(arm_config(base, arm, args), train_seconds)
            model = asr.load_model(best)
            beam = (asr.DecodeConfig(method="beam", lm=str(args.lm), lm_weight=args.lm_weight, word_score=0.0,
                                     beam_size=args.beam_size) if args.lm else None)  # fmt: skip
            done[arm] = {
                "arm": arm,
                "parameters": asr.count_parameters(model.model),
                "train_x_realtime": round(train_speed, 1),
                **greedy_scores(model, tests),
                **({"lm": scores(model, tests, beam)} if beam else {}),
            }
            with results_path.open("a") as handle:
                handle.write(json.dumps(done[arm]) + "\n")
        print(json.dumps(done[arm]), flush=True)
    rows = [done[arm] for arm in args.arms]
    if args.speed_manifest:  # e.g. sentences where the tests are digits: per-clip costs differ
        _, test_waves, test_seconds = sample_waves(args.speed_manifest, 30)
    greedy = asr.DecodeConfig(method="greedy")
    models = {arm: asr.load_model(args.out / arm / "checkpoints" / "best.pt") for arm in args.arms}
    runs = {
        arm: lambda w, m=m: [t.text for t in asr.transcribe(m, w, decode=greedy)] for arm, m in models.items()
    }
    rtf, _ = interleaved(runs, test_waves, test_seconds, rounds=3)
    columns = list(rows[0]["wer"])
    lm_columns = [f"{c} +LM" for c in columns if all("lm" in row for row in rows)]
    header = f"{'arm':25} {'params':>7} {'train x RT':>10} {'infer x':>8} " + " ".join(
        f"{c + ' WER/CER':>18}" for c in [*columns, *lm_columns]
    )
    print("\ngreedy WER / CER, % (+LM: beam search with --lm); infer x: inference speed relative to the "
          "first arm\n" + header)  # fmt: skip
    for row in rows:
        cells = [_cell(row["wer"][c], row["cer"][c]) for c in columns]
        cells += [_cell(row["lm"]["wer"][c], row["lm"]["cer"][c]) for c in columns if lm_columns]
        print(
            f"{row['arm']:25} {row['parameters'] / 1e6:6.2f}M {row['train_x_realtime']:10.1f} "
            f"{rtf[rows[0]['arm']] / rtf[row['arm']]:8.2f} " + " ".join(f"{cell:>18}" for cell in cells)
        )


def _cell(wer: float | None, cer: float | None) -> str:
    return "-" if wer is None or cer is None else f"{wer:.1f} / {cer:.1f}"


if __name__ == "__main__":
    main()

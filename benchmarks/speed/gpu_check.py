"""Every CUDA path in one run, for the first session that is lent a GPU: paste its output in a note.

1. training with mixed precision (train.amp auto = bf16, and fp16 with its gradient scaler):
   the loss falls, no step is skipped, the checkpoint loads on the CPU;
2. resume: a run stopped halfway and resumed (CUDA RNG state restored) ends with the same
   weights as one never stopped;
3. the GPU beam decoder (torchaudio's CUDA CTC decoder) against the CPU beam decoder;
4. throughput of the default model: training (forward + CTC + backward + step) and inference,
   in audio seconds per wall second.

Without CUDA every check runs on the CPU (AMP off, no GPU decoder), so CI runs it at ``--smoke``
size. Under 10 minutes on one GPU at full size. Uses only the public API and the config.

Usage: python -m benchmarks.speed.gpu_check [--smoke] [--device cuda|cpu] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

import asr
from benchmarks.harness import smoke_corpus
from benchmarks.speed.throughput import VOCAB, make_batch, time_inference, time_training


def config(manifest: Path, exp: Path, device: str, steps: int, *extra: str) -> asr.ExperimentConfig:
    return asr.load_config(None, [
        f"data.train_manifest='{manifest}'", f"data.valid_manifest='{manifest}'", f"exp_dir='{exp}'",
        "model.hidden_size=64", "model.num_layers=2", "model.conv_channels=8", "model.dropout=0.1",
        "data.max_batch_seconds=8.0", "train.lr=0.005", "train.warmup_steps=5", "train.epochs=1000",
        f"train.max_steps={steps}", "train.log_every=1000", "train.tensorboard=False", "train.plots=False",
        f"train.device='{device}'", "augment.speed_perturb=True", "augment.time_masks=1", *extra,
    ])  # fmt: skip


def check(rows: list[tuple[str, str, str]], name: str, ok: bool, detail: str) -> None:
    rows.append((name, "pass" if ok else "FAIL", detail))
    print(f"{name}: {'pass' if ok else 'FAIL'} ({detail})", flush=True)


def train_checks(rows: list, folder: Path, device: str, steps: int) -> Path:
    manifest = smoke_corpus(folder / "tones", 24 if steps < 100 else 96)
    cuda = device.startswith("cuda")
    for amp in ["auto", "fp16"] if cuda else ["none"]:
        start = time.perf_counter()
        summary = asr.train(config(manifest, folder / f"amp_{amp}", device, steps, f"train.amp={amp}"),
                            show_progress=False)  # fmt: skip
        state = torch.load(summary.last_checkpoint, weights_only=True)["train_state"]
        asr.load_model(summary.last_checkpoint, device="cpu")
        check(rows, f"train amp={amp}", state["skipped_steps"] == 0 and state["step"] == steps,
              f"{steps} steps in {time.perf_counter() - start:.1f} s, {state['skipped_steps']} skipped, "
              f"validation WER {100 * state.get('best_wer', float('nan')):.1f}%")  # fmt: skip
    straight = asr.train(config(manifest, folder / "straight", device, steps), show_progress=False)
    half = config(manifest, folder / "resumed", device, steps // 2)
    asr.train(half, show_progress=False)
    resumed = asr.train(config(manifest, folder / "resumed", device, steps), resume=True, show_progress=False)
    a = torch.load(straight.last_checkpoint, weights_only=True)["model"]
    b = torch.load(resumed.last_checkpoint, weights_only=True)["model"]
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    check(rows, "resume halfway = never stopped", worst < 1e-5, f"largest weight difference {worst:.2e}")
    return straight.last_checkpoint


def decoder_check(rows: list, checkpoint: Path, device: str) -> None:
    model = asr.load_model(checkpoint, device=device)
    feats = torch.randn(4, 300, model.config.features.n_mels, device=device)
    with torch.no_grad():
        out = model.model(feats, torch.tensor([300, 250, 200, 120], device=device))
    cfg = asr.DecodeConfig(method="beam", beam_size=16)
    cpu = asr.make_decoder(model.vocab, cfg, torch.device("cpu"))
    ids = [f"u{i}" for i in range(4)]
    want = [h.text for h in cpu(out.log_probs.cpu(), out.output_lengths.cpu(), ids)]
    if not device.startswith("cuda"):
        rows.append(("GPU beam decoder", "not run", "no CUDA"))
        return
    gpu = asr.make_decoder(model.vocab, cfg, torch.device(device))
    got = [h.text for h in gpu(out.log_probs, out.output_lengths, ids)]
    check(rows, "GPU beam decoder = CPU beam decoder", got == want,
          f"{type(gpu).__name__}: {sum(g == w for g, w in zip(got, want))}/4 equal")  # fmt: skip


def throughput(rows: list, device: str, batch: int, seconds: float, steps: int) -> None:
    """benchmarks/speed/throughput.py's default row, bf16 autocast on CUDA."""
    dev = torch.device(device)
    features = asr.FeatureConfig()
    model = asr.AcousticModel(asr.ModelConfig(), features.n_mels, VOCAB).to(dev)
    data = make_batch(batch, seconds, features, dev)
    amp = "bf16" if dev.type == "cuda" else "none"
    train_speed = batch * seconds / time_training(model, data, steps, dev, amp)
    infer_speed = batch * seconds / time_inference(model, data, steps, dev)
    rows.append(("throughput, default model", "measured",
                 f"batch {batch} x {seconds:g} s: training {train_speed:,.0f}, inference {infer_speed:,.0f} "
                 "audio s per s"))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI, on the CPU)")
    parser.add_argument("--out", type=Path, help="keep the experiment folders here")
    args = parser.parse_args(argv)
    steps, batch, seconds, reps = (20, 2, 2.0, 1) if args.smoke else (200, 32, 15.0, 10)
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"asr gpu_check on {args.device} ({name}), torch {torch.__version__}, "
          f"{'smoke' if args.smoke else 'full'} size\n", flush=True)  # fmt: skip
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="asr-gpu-check-") as tmp:
        folder = args.out or Path(tmp)
        checkpoint = train_checks(rows, folder, args.device, steps)
        decoder_check(rows, checkpoint, args.device)
        throughput(rows, args.device, batch, seconds, reps)
    print("\n| check | result | detail |\n|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
    return 1 if any(r[1] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

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

Usage: python benchmarks/gpu_check.py [--smoke] [--device cuda|cpu] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

import asr
from asr.config import DecodeConfig, ModelConfig
from asr.decode import make_decoder

LETTERS = "abcdefgh"


def tone_corpus(folder: Path, count: int, seed: int = 0) -> Path:
    """Utterances in a tone language (a pitch per letter), learnable in seconds: no data needed."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        words = ["".join(rng.choice(list(LETTERS), rng.integers(2, 5))) for _ in range(rng.integers(1, 4))]
        text = " ".join(words)
        parts = [np.zeros(1280)]
        t = np.arange(1600) / 16000  # 0.1 s a letter; a space is as long, silent
        for ch in text:
            pitch = 300 + 350 * LETTERS.index(ch) if ch != " " else 0
            parts += [0.5 * np.hanning(t.size) * np.sin(2 * math.pi * pitch * t), np.zeros(480)]
        wave = (np.concatenate(parts) + 0.003 * rng.standard_normal(sum(map(len, parts)))).astype(np.float32)
        path = folder / f"u{i}.wav"
        soundfile.write(path, wave, 16000)
        rows.append(asr.Utterance(f"u{i}", path, len(wave) / 16000, text))
    manifest = folder / "train.jsonl"
    asr.write_manifest(rows, manifest)
    return manifest


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
    manifest = tone_corpus(folder / "tones", 24 if steps < 100 else 96)
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
    cfg = DecodeConfig(method="beam", beam_size=16)
    cpu = make_decoder(model.vocab, cfg, torch.device("cpu"))
    ids = [f"u{i}" for i in range(4)]
    want = [h.text for h in cpu(out.log_probs.cpu(), out.output_lengths.cpu(), ids)]
    if not device.startswith("cuda"):
        rows.append(("GPU beam decoder", "not run", "no CUDA"))
        return
    gpu = make_decoder(model.vocab, cfg, torch.device(device))
    got = [h.text for h in gpu(out.log_probs, out.output_lengths, ids)]
    check(rows, "GPU beam decoder = CPU beam decoder", got == want,
          f"{type(gpu).__name__}: {sum(g == w for g, w in zip(got, want))}/4 equal")  # fmt: skip


def throughput(rows: list, device: str, batch: int, seconds: float, steps: int) -> None:
    from asr.model import AcousticModel

    cfg, n_mels, vocab = ModelConfig(), 80, 29
    model = AcousticModel(cfg, n_mels, vocab).to(device)
    frames = int(seconds * 100)
    feats = torch.randn(batch, frames, n_mels, device=device)
    lengths = torch.full((batch,), frames, device=device)
    targets = torch.randint(1, vocab, (batch, int(seconds * 14)), device=device)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
    dtype = torch.bfloat16 if device.startswith("cuda") else None

    def step() -> None:
        with torch.autocast(device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(feats, lengths)
        target_lengths = torch.full((batch,), targets.shape[1], device=device)
        loss = torch.nn.functional.ctc_loss(out.log_probs.float().transpose(0, 1), targets,
                                            out.output_lengths, target_lengths)  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def timed(fn) -> float:  # noqa: ANN001
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return batch * seconds * steps / (time.perf_counter() - start)

    model.train()
    train_speed = timed(step)
    model.eval()
    with torch.no_grad():
        infer_speed = timed(lambda: model(feats, lengths))
    rows.append(("throughput, default model", "measured",
                 f"batch {batch} x {seconds:g} s: training {train_speed:,.0f}, inference {infer_speed:,.0f} "
                 "audio s per s"))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI, on the CPU)")
    parser.add_argument("--out", type=Path, help="keep the experiment folders here")
    args = parser.parse_args()
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

"""Training and inference speed of the acoustic model, as a table of ratios.

Each row is one model config on the same batch (default 8 utterances x 10 s of
log-mel frames); the first row (the default ``ModelConfig``) is the baseline the
ratio columns compare against. Training speed is audio seconds per wall second
for forward + fp32 CTC loss + backward + AdamW step; inference is forward only
(``torch.no_grad``, eval mode) plus greedy decoding. Feature extraction is timed
separately on one 10 s waveform.

Usage: python -m benchmarks.speed.throughput [--batch 8] [--seconds 10] [--steps 5] [--device cpu]
       [--rows 0,2] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from asr import (
    AcousticModel,
    Batch,
    FeatureConfig,
    FeatureExtractor,
    ModelConfig,
    count_parameters,
    training_loss,
)
from benchmarks.harness import seconds_per_call

VOCAB = 29  # blank + space + apostrophe + 26 letters
CHARS_PER_SECOND = 14  # typical read English, for target lengths

ROWS = [
    ("default (lstm 3x256, stride 2)", {}),
    ("lstm 3x256, stride 4", {"time_stride": 4}),
    ("gru 3x256, stride 2", {"rnn_type": "gru"}),
    ("gru 3x256, stride 4", {"rnn_type": "gru", "time_stride": 4}),
    ("lstm 5x512, stride 4", {"hidden_size": 512, "num_layers": 5, "time_stride": 4}),
]


def make_batch(batch: int, seconds: float, features: FeatureConfig, device: torch.device) -> Batch:
    frames = int(seconds * 1000 / features.hop_ms)
    n_targets = int(seconds * CHARS_PER_SECOND)
    generator = torch.Generator().manual_seed(0)
    return Batch(
        utt_ids=[str(i) for i in range(batch)],
        features=torch.randn(batch, frames, features.n_mels, generator=generator),
        feature_lengths=torch.full((batch,), frames, dtype=torch.int64),
        targets=torch.randint(1, VOCAB, (batch, n_targets), generator=generator),
        target_lengths=torch.full((batch,), n_targets, dtype=torch.int64),
        texts=[""] * batch,
    ).to(device)


AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def time_training(
    model: AcousticModel, batch: Batch, steps: int, device: torch.device, amp: str = "none"
) -> float:
    """Seconds per training step: forward under autocast (``amp``), CTC in fp32, backward,
    clipping, AdamW; fp16 with a gradient scaler, as asr.train does."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    dtype = AMP_DTYPES[amp]
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(batch.features, batch.feature_lengths)
        loss = training_loss(out, batch, phone_weight=0.3, distill_weight=1.0)  # heads count, as in training
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(optimizer)
        scaler.update()

    return seconds_per_call(step, steps, device)


def training_flops(model: AcousticModel, n_mels: int, frames: list[int]) -> float:
    """Useful floating-point operations of one training step of ``model`` on utterances of
    ``frames`` feature frames (padding not counted): 2 per multiply-add in the conv blocks,
    recurrent layers and classifier, times 3 for forward + backward."""
    cfg = model.cfg
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.rnn_type]
    dirs = 2 if cfg.bidirectional else 1
    f1 = (n_mels - 1) // 2 + 1  # frequency bins after each conv block (stride 2, padding 1)
    f2 = (f1 - 1) // 2 + 1
    total = 0.0
    for n in frames:
        t1 = (n - 1) // model.time_strides[0] + 1
        t2 = int(model.output_lengths(torch.tensor([n]))[0])
        total += 2 * 9 * cfg.conv_channels * t1 * f1  # block 1: one input channel, 3x3
        total += 2 * 9 * cfg.conv_channels**2 * t2 * f2  # block 2
        inputs = cfg.conv_channels * f2
        for _ in range(cfg.num_layers):
            total += dirs * t2 * 2 * gates * cfg.hidden_size * (inputs + cfg.hidden_size)
            inputs = dirs * cfg.hidden_size
        total += t2 * 2 * inputs * model.classifier.out_features
    return 3 * total


@torch.no_grad()
def time_inference(model: AcousticModel, batch: Batch, steps: int, device: torch.device) -> float:
    model.eval()

    def step() -> None:
        out = model(batch.features, batch.feature_lengths)
        out.log_probs.argmax(-1)  # greedy decoding's work; the ids are not needed

    return seconds_per_call(step, steps, device)


def time_features(seconds: float, repeats: int = 20) -> float:
    extractor = FeatureExtractor(FeatureConfig())
    wave = torch.randn(int(seconds * 16000))
    return seconds_per_call(lambda: extractor(wave), repeats)


def batch_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every training-speed benchmark shares: batch shape, timed steps, device."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=sorted(AMP_DTYPES), default="none", help="training autocast dtype")
    parser.add_argument("--smoke", action="store_true", help="2 utterances x 1 s, 1 step: seconds")
    return parser


def smoke_size(args: argparse.Namespace) -> None:
    if args.smoke:
        args.batch, args.seconds, args.steps = 2, 1.0, 1


def main(argv: list[str] | None = None) -> None:
    parser = batch_arguments(__doc__)
    parser.add_argument("--rows", default="", help="comma-separated row numbers (default: all)")
    args = parser.parse_args(argv)
    smoke_size(args)
    device = torch.device(args.device)
    features = FeatureConfig()
    batch = make_batch(args.batch, args.seconds, features, device)
    audio = args.batch * args.seconds
    rows = ROWS if not args.rows else [ROWS[int(i)] for i in args.rows.split(",")]
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"batch {args.batch} x {args.seconds:g} s, {args.steps} timed steps per cell"
    )
    feat_s = time_features(args.seconds)
    print(f"log-mel features: {args.seconds / feat_s:,.0f}x real time on one CPU stream\n")
    header = (
        f"{'model':34} {'params':>8} {'train xRT':>10} {'ratio':>6} "
        f"{'infer xRT':>10} {'ratio':>6} {'infer RTF':>10}"
    )
    print(header)
    print("-" * len(header))
    baseline: tuple[float, float] | None = None
    for name, changes in rows:
        cfg = dataclasses.replace(ModelConfig(), **changes)
        torch.manual_seed(0)
        model = AcousticModel(cfg, features.n_mels, VOCAB).to(device)
        train_speed = audio / time_training(model, batch, args.steps, device, args.amp)
        infer_speed = audio / time_inference(model, batch, args.steps, device)
        if baseline is None:
            baseline = (train_speed, infer_speed)
        print(
            f"{name:34} {count_parameters(model) / 1e6:7.2f}M {train_speed:10.1f} "
            f"{train_speed / baseline[0]:6.2f} {infer_speed:10.1f} {infer_speed / baseline[1]:6.2f} "
            f"{1 / infer_speed:10.4f}"
        )


if __name__ == "__main__":
    main()

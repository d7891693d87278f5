"""Our training step against a DeepSpeech2-style baseline of the same size, on the same batches.

The baseline follows the architecture deepspeech.pytorch builds (written here from its
description, not copied): two 2-D convolutions (41x11 then 21x11 kernels over frequency x time,
BatchNorm, Hardtanh(0, 20), time stride 2) masked to each utterance's length, then
bidirectional LSTM layers on packed sequences whose two directions are summed, sequence-wise
BatchNorm before every layer but the first, and a BatchNorm + bias-free linear output layer.
It gets our 80 log-mel bins (so its RNN input is 32 x 20, as ours) and the same hidden size
and depth. Each step is forward + fp32 CTC + backward + clip + AdamW, on batches of
utterances whose lengths vary as a duration bucket's do (so packing matters).

Usage, from the repository root:
    python -m benchmarks.speed.train_step [--batch 8] [--seconds 10] [--steps 5] [--device cpu]
        [--amp none|bf16|fp16] [--hidden 256] [--layers 3] [--rounds 1] [--smoke]
On a GPU: --device cuda, once per --amp, and --hidden 512 --layers 5 for the large model;
compare the TFLOP/s column with the card's dense matmul peak.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr import (
    AcousticModel,
    AuxPhonesConfig,
    Batch,
    DistillHeadConfig,
    FeatureConfig,
    ModelConfig,
    ModelOutput,
    count_parameters,  # fmt: skip
)
from benchmarks.speed.throughput import (
    CHARS_PER_SECOND,
    VOCAB,
    batch_arguments,
    smoke_size,
    time_training,
    training_flops,  # fmt: skip
)


class DeepSpeech2(nn.Module):
    """DS2 as deepspeech.pytorch shapes it, sized by ``hidden`` and ``layers``."""

    def __init__(self, n_mels: int, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, 32, (41, 11), stride=(2, 2), padding=(20, 5)), nn.BatchNorm2d(32),
                          nn.Hardtanh(0, 20)),
            nn.Sequential(nn.Conv2d(32, 32, (21, 11), stride=(2, 1), padding=(10, 5)), nn.BatchNorm2d(32),
                          nn.Hardtanh(0, 20)),
        ])  # fmt: skip
        freq = (n_mels + 40 - 41) // 2 + 1
        freq = (freq + 20 - 21) // 2 + 1
        sizes = [32 * freq] + [hidden] * (layers - 1)
        self.norms = nn.ModuleList([nn.Identity()] + [nn.BatchNorm1d(s) for s in sizes[1:]])
        self.rnns = nn.ModuleList([nn.LSTM(s, hidden, bidirectional=True, batch_first=True) for s in sizes])
        self.out_norm = nn.BatchNorm1d(hidden)
        self.out = nn.Linear(hidden, vocab, bias=False)

    @staticmethod
    def _seq_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        return norm(x.reshape(b * t, h)).reshape(b, t, h)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> ModelOutput:
        x = features.transpose(1, 2).unsqueeze(1)  # [B, 1, F, T]
        lengths = (lengths + 10 - 11) // 2 + 1  # the first conv's time stride
        for conv in self.convs:
            x = conv(x)
            keep = torch.arange(x.shape[3], device=x.device)[None, :] < lengths[:, None]
            x = x * keep[:, None, None, :]
        b, c, f, t = x.shape
        x = x.reshape(b, c * f, t).transpose(1, 2)  # [B, T', C*F']
        for norm, rnn in zip(self.norms, self.rnns, strict=True):
            x = self._seq_norm(norm, x) if not isinstance(norm, nn.Identity) else x
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=t)
            x = x.view(b, t, 2, -1).sum(2)  # directions summed, as DS2 does
        logits = self.out(self._seq_norm(self.out_norm, x))
        return ModelOutput(torch.log_softmax(logits.float(), dim=-1), lengths)


def bucket_batch(batch: int, seconds: float, features: FeatureConfig, device: torch.device) -> Batch:
    """``batch`` utterances of 80-100% of ``seconds``, as one duration bucket holds."""
    g = torch.Generator().manual_seed(0)
    frames = torch.linspace(0.8, 1.0, batch)[torch.randperm(batch, generator=g)] * seconds * 100
    lengths = frames.long()
    n_targets = (lengths * CHARS_PER_SECOND // 100).clamp(min=1)
    feats = torch.randn(batch, int(lengths.max()), features.n_mels, generator=g)
    feats *= (torch.arange(feats.shape[1])[None, :] < lengths[:, None])[..., None]
    targets = torch.randint(1, VOCAB, (batch, int(n_targets.max())), generator=g)
    phones = (n_targets * 4 // 5).clamp(min=1)  # about 11 phones a second against 14 characters
    teacher = lengths // 4  # 40 ms frames of 512 dims (whisper base, pooled), for a distillation head
    return Batch([str(i) for i in range(batch)], feats, lengths, targets, n_targets, [""] * batch,
                 phone_targets=torch.randint(1, 40, (batch, int(phones.max())), generator=g),
                 phone_lengths=phones,
                 teacher_frames=torch.randn(batch, int(teacher.max()), 512, generator=g),
                 teacher_lengths=teacher).to(device)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = batch_arguments(__doc__)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all rows; each row's best counts")
    args = parser.parse_args(argv)
    smoke_size(args)
    device = torch.device(args.device)
    features = FeatureConfig()
    batch = bucket_batch(args.batch, args.seconds, features, device)
    audio = float(batch.feature_lengths.sum()) / 100
    ours = dataclasses.replace(ModelConfig(), hidden_size=args.hidden, num_layers=args.layers)

    def ours_with(rnn_input: str) -> AcousticModel:
        model = AcousticModel(ours, features.n_mels, VOCAB)
        model.rnn_input = rnn_input  # type: ignore[assignment]
        return model

    name = f"ours lstm {args.layers}x{args.hidden}, stride 2"
    rows = [
        (f"{name}, packed", ours_with("packed")),
        (f"{name}, per-direction (CPU default)", ours_with("per_direction")),
        (f"{name}, plain padded (inexact)", ours_with("padded")),
        (f"DS2-style lstm {args.layers}x{args.hidden}, stride 2, packed",
         DeepSpeech2(features.n_mels, VOCAB, args.hidden, args.layers)),
        (f"ours lstm {args.layers}x{args.hidden}, stride 4",
         AcousticModel(dataclasses.replace(ours, time_stride=4), features.n_mels, VOCAB)),
        (f"ours lstm {args.layers}x{args.hidden}, stride 4, + phone head (layer 2)",
         AcousticModel(dataclasses.replace(ours, time_stride=4, aux_phones=AuxPhonesConfig(2, 0.3)),
                       features.n_mels, VOCAB)),
        (f"ours lstm {args.layers}x{args.hidden}, stride 4, + distillation head (layer 2)",
         AcousticModel(dataclasses.replace(ours, time_stride=4, distill_head=DistillHeadConfig(2, 512)),
                       features.n_mels, VOCAB)),
    ]  # fmt: skip
    shortest = args.seconds * 0.8
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.batch} utterances of {shortest:g}-{args.seconds:g} s, {args.steps} timed steps"
    )
    print(f"amp {args.amp}; TFLOP/s counts our model's useful work (no padding), 3x forward")
    header = f"{'model':58} {'params':>8} {'audio s/s':>10} {'ratio':>6} {'TFLOP/s':>8}"
    print(header + "\n" + "-" * len(header))
    baseline = None
    frames = batch.feature_lengths.tolist()
    best: dict[str, float] = {}
    for _ in range(args.rounds):  # every row in each round, so a load that comes and goes hits all
        for name, model in rows:
            torch.manual_seed(0)
            seconds = time_training(model.to(device), batch, args.steps, device, args.amp)  # type: ignore[arg-type]
            best[name] = min(best.get(name, float("inf")), seconds)
    for name, model in rows:
        seconds = best[name]
        speed = audio / seconds
        baseline = baseline or speed
        flops = (f"{training_flops(model, features.n_mels, frames) / seconds / 1e12:8.3f}"
                 if isinstance(model, AcousticModel) else f"{'-':>8}")  # fmt: skip
        params = count_parameters(model) / 1e6
        print(f"{name:58} {params:7.2f}M {speed:10.1f} {speed / baseline:6.2f} {flops}")


if __name__ == "__main__":
    main()

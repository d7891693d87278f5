"""Acoustic model: features ``[B, T, n_mels]`` -> CTC log-probs ``[B, T', V]``.

Two 2-D conv blocks (frequency stride 2 each, time stride 1, 2 or 4 in total)
-> a stack of (bi)directional LSTM/GRU/RNN layers over packed sequences -> linear
-> log-softmax. Padding never changes a real frame's output: conv outputs past
each utterance's length are zeroed before the next layer, and the recurrent
layers run on packed sequences. Loss, decoding and data handling live elsewhere.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.config import ModelConfig

_RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_TIME_STRIDES = {1: (1, 1), 2: (2, 1), 4: (2, 2)}  # per conv block
_KERNEL, _PAD, _FREQ_STRIDE = 3, 1, 2


class ModelOutput(NamedTuple):
    log_probs: torch.Tensor  # float32 [B, T', V], log-softmax over the vocabulary
    output_lengths: torch.Tensor  # int64 [B], valid frames of each row


def _conv_length(length: torch.Tensor | int, stride: int) -> torch.Tensor | int:
    return (length + 2 * _PAD - _KERNEL) // stride + 1


def output_length(cfg: ModelConfig, num_frames: int) -> int:
    """Output frames of a model with ``cfg`` for ``num_frames`` input frames.

    >>> output_length(ModelConfig(time_stride=4), 101)
    26
    """
    for stride in _TIME_STRIDES[cfg.time_stride]:
        num_frames = int(_conv_length(num_frames, stride))
    return num_frames


def _mask_time(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero frames at or past each row's length; ``x`` is ``[B, C, T, F]``."""
    steps = torch.arange(x.shape[2], device=x.device)
    keep = steps[None, :] < lengths[:, None]  # [B, T]
    return x * keep[:, None, :, None].to(x.dtype)


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, time_stride: int) -> None:
        super().__init__()
        self.time_stride = time_stride
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size=_KERNEL,
            stride=(time_stride, _FREQ_STRIDE),
            padding=_PAD,
            bias=False,
        )
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = _conv_length(lengths, self.time_stride)
        return _mask_time(self.act(self.norm(self.conv(x))), lengths), lengths


class AcousticModel(nn.Module):
    """CTC acoustic model. ``forward`` returns log-probs in training and evaluation alike."""

    def __init__(self, cfg: ModelConfig, n_mels: int, vocab_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        strides = _TIME_STRIDES[cfg.time_stride]
        self.convs = nn.ModuleList(
            [
                ConvBlock(1, cfg.conv_channels, strides[0]),
                ConvBlock(cfg.conv_channels, cfg.conv_channels, strides[1]),
            ]
        )
        freq = n_mels
        for _ in self.convs:
            freq = int(_conv_length(freq, _FREQ_STRIDE))
        self.rnn = _RNN_CLASSES[cfg.rnn_type](
            input_size=cfg.conv_channels * freq,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(cfg.dropout)
        directions = 2 if cfg.bidirectional else 1
        self.classifier = nn.Linear(cfg.hidden_size * directions, vocab_size)

    def output_lengths(self, feature_lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for ``feature_lengths`` input frames (int64 ``[B]``).

        >>> m = AcousticModel(ModelConfig(time_stride=4, hidden_size=8, num_layers=1), 80, 5)
        >>> m.output_lengths(torch.tensor([100, 101, 1])).tolist()
        [25, 26, 1]
        """
        lengths = feature_lengths
        for block in self.convs:
            lengths = _conv_length(lengths, block.time_stride)
        return lengths

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> ModelOutput:
        """Args:
        features: float ``[B, T, n_mels]``, zero padded.
        feature_lengths: int64 ``[B]``.
        """
        x = features.unsqueeze(1)  # [B, 1, T, F]
        lengths = feature_lengths
        for block in self.convs:
            x, lengths = block(x, lengths)  # [B, C, T', F']
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)  # [B, T', C*F']
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        x, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # [B, T', H*dirs]
        logits = self.classifier(self.dropout(x))  # [B, T', V]
        return ModelOutput(torch.log_softmax(logits.float(), dim=-1), lengths)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

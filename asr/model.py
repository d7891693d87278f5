"""Acoustic model: features ``[B, T, n_mels]`` -> CTC log-probs ``[B, T', V]``.

Two 2-D conv blocks (frequency stride 2 each, time stride 1, 2 or 4 in total)
-> a stack of (bi)directional LSTM/GRU/RNN layers -> optional lookahead convolution
(unidirectional streaming models) -> linear -> log-softmax. Padding never changes a
real frame's output: conv and recurrent outputs past each utterance's length are
zeroed before the next layer, and bidirectional layers see padding only after a row's
frames in both directions (packed sequences on CUDA, per-direction passes on CPU; a
unidirectional layer never sees the padding after a frame, so it runs padded).
Loss, decoding and data handling live elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Literal, NamedTuple, TypeVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.config import ModelConfig
from asr.phones import PHONES

_RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_TIME_STRIDES: dict[int, tuple[int, int]] = {1: (1, 1), 2: (2, 1), 4: (2, 2)}  # per conv block
_KERNEL, _PAD, _FREQ_STRIDE = 3, 1, 2
L = TypeVar("L", torch.Tensor, int)  # a length, or a batch of lengths
# the kernels nn.LSTM/GRU/RNN call, run one layer and direction at a time with their weights
_VF_KERNELS: dict[str, Callable[..., Any]] = {
    "lstm": torch._VF.lstm,  # type: ignore[attr-defined]
    "gru": torch._VF.gru,  # type: ignore[attr-defined]
    "rnn": torch._VF.rnn_tanh,  # type: ignore[attr-defined]
}
_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class ModelOutput(NamedTuple):
    log_probs: torch.Tensor  # float32 [B, T', V], log-softmax over the vocabulary
    output_lengths: torch.Tensor  # int64 [B], valid frames of each row
    # float32 [B, T', phones + 1] (blank first) from model.aux_phones's head, in training only
    phone_log_probs: torch.Tensor | None = None
    # [B, T', dims] model.distill_head's prediction of the teacher's frames, in training only
    teacher_pred: torch.Tensor | None = None


TRAINING_HEADS = ("phone_head.", "distill_head.")  # weights that only training uses; export drops them


def _conv_length(length: L, stride: int) -> L:
    return (length + 2 * _PAD - _KERNEL) // stride + 1


def output_length(cfg: ModelConfig, num_frames: int) -> int:
    """Output frames of a model with ``cfg`` for ``num_frames`` input frames.

    >>> output_length(ModelConfig(time_stride=4), 101)
    26
    """
    for stride in _TIME_STRIDES[cfg.time_stride]:
        num_frames = int(_conv_length(num_frames, stride))
    return num_frames


def _frames_kept(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """``[B, t]`` bool: True for each row's frames before its length."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def _mask_time(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero frames at or past each row's length; ``x`` is ``[B, C, T, F]``."""
    return x * _frames_kept(lengths, x.shape[2])[:, None, :, None].to(x.dtype)


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
        strides = self.time_strides = _TIME_STRIDES[cfg.time_stride]  # the two conv blocks'
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
        if cfg.rnn_type == "lstm" and cfg.forget_bias:
            with torch.no_grad():
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):  # gates i, f, g, o: f is the second quarter
                        param[cfg.hidden_size : 2 * cfg.hidden_size] += cfg.forget_bias
        self.dropout = nn.Dropout(cfg.dropout)
        width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.lookahead = LookaheadConv(width, cfg.lookahead) if cfg.lookahead else None
        self.classifier = nn.Linear(width, vocab_size)
        # training only (export drops them): phones (blank first), a teacher's frames
        self.phone_head = nn.Linear(width, len(PHONES) + 1) if cfg.aux_phones else None
        self.distill_head = nn.Linear(width, cfg.distill_head.dims) if cfg.distill_head else None
        # How a bidirectional stack meets a padded batch; all but "padded" are exact.
        # "auto": per-direction passes on CPU (oneDNN), packed sequences on CUDA (cuDNN);
        # "padded": one plain pass, exact only without padding (what export traces).
        self.rnn_input: Literal["auto", "packed", "per_direction", "padded"] = "auto"
        self.input_dtype: torch.dtype | None = None  # set by asr.precision (bf16 weights, fp32 features)

    def output_lengths(self, feature_lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for ``feature_lengths`` input frames (int64 ``[B]``).

        >>> m = AcousticModel(ModelConfig(time_stride=4, hidden_size=8, num_layers=1), 80, 5)
        >>> m.output_lengths(torch.tensor([100, 101, 1])).tolist()
        [25, 26, 1]
        """
        lengths = feature_lengths
        for stride in self.time_strides:
            lengths = _conv_length(lengths, stride)
        return lengths

    def front_end(
        self, features: torch.Tensor, feature_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv blocks: ``[B, T, n_mels]`` -> ``[B, T', C*F']`` (not log-probs) and lengths."""
        x = features.unsqueeze(1)  # [B, 1, T, F]
        lengths = feature_lengths
        for block in self.convs:
            x, lengths = block(x, lengths)  # [B, C, T', F']
        b, c, t, f = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, t, c * f), lengths

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Recurrent outputs ``[B, T', H*dirs]`` (after lookahead) -> log-probs ``[B, T', V]``."""
        return torch.log_softmax(self.classifier(self.dropout(x)).float(), dim=-1)

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> ModelOutput:
        """Args:
        features: float ``[B, T, n_mels]``, zero padded.
        feature_lengths: int64 ``[B]``.
        """
        if self.input_dtype is not None:
            features = features.to(self.input_dtype)
        x, lengths = self.front_end(features, feature_lengths)
        t = x.shape[1]
        taps = self._taps() if self.training else {}
        mode = self.rnn_input if self.cfg.bidirectional else "padded"  # one direction: padding is harmless
        if taps:  # a layer's output is needed: the layers run one at a time
            mode = "per_direction"
        elif mode == "auto":  # on CPU a batch without padding (one file) needs nothing special
            # per-direction passes need the float weights (an int8 quantized RNN takes packed input)
            per_direction = hasattr(self.rnn, "weight_ih_l0") and not x.is_cuda
            mode = "padded" if bool((lengths == t).all()) else "per_direction" if per_direction else "packed"
        tapped: dict[int, torch.Tensor] = {}
        if mode == "packed":
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=t)  # [B, T', H*dirs]
        else:
            if mode == "per_direction":
                x, tapped = self._layer_by_layer(x, lengths, set(taps.values()))
            else:
                x, _ = self.rnn(x)
            x = x * _frames_kept(lengths, t)[..., None].to(x.dtype)
        if self.lookahead is not None:
            x = self.lookahead(x)
        heads: dict[str, torch.Tensor] = {}
        for name, layer in taps.items():
            hidden = self.dropout(tapped[layer] * _frames_kept(lengths, t)[..., None].to(x.dtype))
            heads[name] = getattr(self, name)(hidden).float()
        phones = torch.log_softmax(heads["phone_head"], dim=-1) if "phone_head" in heads else None
        return ModelOutput(self.head(x), lengths, phones, heads.get("distill_head"))

    def _taps(self) -> dict[str, int]:
        """Training head -> the recurrent layer (1-based) it reads."""
        taps = {}
        if self.phone_head is not None and self.cfg.aux_phones is not None:
            taps["phone_head"] = self.cfg.aux_phones.layer
        if self.distill_head is not None and self.cfg.distill_head is not None:
            taps["distill_head"] = self.cfg.distill_head.layer
        return taps

    def _layer_by_layer(
        self, x: torch.Tensor, lengths: torch.Tensor, taps: Collection[int] = ()
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The recurrent stack on a padded batch, exactly as on packed sequences, and the
        outputs of the layers in ``taps`` (1-based). Each layer runs its directions as unidirectional
        passes (the backward one over rows reversed within their lengths), so padding only ever
        follows a row's real frames. On CPU this trains 5.4x faster than packed input, which
        misses oneDNN's kernels (benchmarks/speed/train_step.py); on CUDA, cuDNN runs packed
        sequences well, so they stay unless a layer's output is wanted."""
        rnn, (b, t, _) = self.rnn, x.shape
        steps = torch.arange(t, device=x.device)[None, :]
        flip = torch.where(_frames_kept(lengths, t), lengths[:, None] - 1 - steps, steps)  # its own inverse
        flip = flip[..., None]
        kernel = _VF_KERNELS[self.cfg.rnn_type]
        tapped = {}
        for layer in range(rnn.num_layers):
            outs = []
            for suffix in ("", "_reverse") if self.cfg.bidirectional else ("",):
                weights = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in _WEIGHT_NAMES]
                h0 = x.new_zeros(1, b, rnn.hidden_size)
                state = (h0, h0) if self.cfg.rnn_type == "lstm" else h0
                inp = x.gather(1, flip.expand_as(x)) if suffix else x
                out = kernel(inp, state, weights, True, 1, 0.0, self.training, False, True)[0]
                outs.append(out.gather(1, flip.expand_as(out)) if suffix else out)
            x = torch.cat(outs, dim=-1)
            if layer + 1 in taps:
                tapped[layer + 1] = x
            if layer < rnn.num_layers - 1 and rnn.dropout:
                x = nn.functional.dropout(x, rnn.dropout, self.training)
        return x, tapped


class LookaheadConv(nn.Module):
    """DeepSpeech2's row convolution: frame t mixes frames t..t+k per channel, so a
    unidirectional model sees ``k`` output frames of future context (zeros past the end)."""

    def __init__(self, channels: int, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.conv = nn.Conv1d(channels, channels, frames + 1, groups=channels, bias=False)
        with torch.no_grad():  # start as the identity: frame t passes through unchanged
            self.conv.weight.zero_()
            self.conv.weight[:, :, 0] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` -> ``[B, T, C]``; the caller zeroes frames past each length first."""
        padded = nn.functional.pad(x.transpose(1, 2), (0, self.frames))
        return self.conv(padded).transpose(1, 2)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

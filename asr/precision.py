"""Inference precision: the acoustic network in fp32, bf16 or int8; log-softmax and decoding stay fp32.

- ``bf16``: weights and activations in bfloat16. Fast only where the CPU computes bf16 in
  hardware (AMX, AVX-512-BF16): there oneDNN's LSTM runs about 2.5x faster than fp32. Elsewhere
  torch emulates it, about 6x slower than fp32 (``benchmarks/speed/precision.py``).
- ``int8``: dynamic quantization (int8 weights, activations quantized per batch) of the
  recurrent and linear layers, with torch's quantized RNNs (fbgemm) or, for an ONNX model,
  ONNX Runtime's quantizer.
- ``auto``: fp32. bf16 and int8 are offered, not chosen for you: on held-out real speech
  (``benchmarks/speed/precision.py``) each moved WER by more than 0.3 points on some sets (bf16 up to
  2.8 greedy / 0.6 beam+LM, int8 up to 2.8 / 0.9), the bound a default must keep. bf16 rounds
  the same way with or without bf16 hardware, so the figures hold for AMX machines too.
"""

from __future__ import annotations

import copy
import logging
import typing
import warnings
from pathlib import Path

import torch
from torch import nn

from asr.model import AcousticModel

logger = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "int8")


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (AMX or AVX-512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    if any(getattr(torch.cpu, name, lambda: False)() for name in probes):
        return True
    return bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())


def resolve(precision: str, device: torch.device | str = "cpu") -> str:
    """``auto`` -> the precision to run on ``device``; the others are checked and returned."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "int8" and device.type != "cpu":
        raise ValueError("--precision int8 runs on the CPU only (torch's quantized RNNs); use --device cpu")
    if precision == "auto":
        if device.type == "cpu" and cpu_has_bf16():
            logger.debug(
                "this CPU computes bf16 in hardware: --precision bf16 runs faster, WER moves a little"
            )
        return "fp32"
    return precision


def convert(model: AcousticModel, precision: str) -> AcousticModel:
    """The eager model at ``precision`` (already resolved): a converted copy for int8, the
    same module cast in place for fp32 and bf16."""
    if precision == "fp32":
        model.float()
        model.input_dtype = None
        return model
    if precision == "bf16":
        model.to(torch.bfloat16)
        model.input_dtype = torch.bfloat16  # features arrive in fp32
        return model
    if precision != "int8":
        raise ValueError(f"cannot convert a model to {precision!r}")
    with warnings.catch_warnings():  # torch.ao's deprecation notes would reach the user's terminal
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).float(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8
        )
    quantized.input_dtype = None
    return typing.cast(AcousticModel, quantized)


def quantize_onnx(source: Path, target: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization of ``source`` (weights of MatMul/LSTM/GRU)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process goes to the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return target

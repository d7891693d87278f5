"""Shipping a model: an inference-only checkpoint (:func:`export_checkpoint`) or a graph.

Export to ONNX or TorchScript: the acoustic network as a graph that runs without asr's
model code, plus everything else inference needs (config with decode settings, vocabulary,
feature statistics) stored in the file as JSON, so one file still loads and decodes.

Graph inputs ``features`` float ``[B, T, n_mels]`` and ``feature_lengths`` int64 ``[B]``;
outputs ``log_probs`` ``[B, T', V]`` and ``output_lengths`` ``[B]``. The graphs have no
packed sequences (neither format has them), so :class:`GraphModel` runs a bidirectional
model one utterance at a time (padding would otherwise reach the backward direction) and a
unidirectional one on whole padded batches; both match the eager model.

ONNX uses torch's TorchScript-based exporter (``dynamo=False``): in torch 2.14 the dynamo
exporter fails to decompose ``aten.lstm`` with a dynamic length.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import logging
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asr._types import PathLike
from asr.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    read_checkpoint,
    recognizer_from_payload,
    resolve_beside,
    save_checkpoint,
)
from asr.config import (
    ONSET_FIELDS,
    DecodeConfig,
    ExperimentConfig,
    FeatureConfig,
    feature_problems,
    from_dict,
    to_dict,
)
from asr.files import atomic_output
from asr.integrity import check_file, digest, seal_file
from asr.model import TRAINING_HEADS, AcousticModel, ModelOutput
from asr.precision import quantize_onnx
from asr.recognizer import Recognizer
from asr.runtime import MissingDependency
from asr.version import __version__

FORMATS = ("onnx", "torchscript")
METADATA_KEY = "asr"  # ONNX metadata_props key; TorchScript extra file "asr.json"
_EXTRA_FILE = "asr.json"
_NAMES: dict[str, Any] = {"input_names": ["features", "feature_lengths"],
                          "output_names": ["log_probs", "output_lengths"]}  # fmt: skip
logger = logging.getLogger(__name__)


def copy_lm_beside(decode: DecodeConfig, output: Path) -> tuple[DecodeConfig, list[Path]]:
    """Copy the word LM and lexicon named in ``decode`` beside ``output`` (an ARPA file
    gzipped) and point ``decode`` at them by relative path; returns it and the files written."""
    if not decode.lm:
        return decode, []
    lm, lexicon = Path(decode.lm), Path(decode.lexicon or Path(decode.lm).with_suffix(".lexicon"))
    lm_out = output.with_name(f"{output.stem}.lm{lm.suffix}{'.gz' if lm.suffix == '.arpa' else ''}")
    lexicon_out = output.with_name(f"{output.stem}.lexicon")
    output.parent.mkdir(parents=True, exist_ok=True)
    if lm.suffix == ".arpa":
        with lm.open("rb") as src, gzip.GzipFile(lm_out, "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
    elif lm.resolve() != lm_out.resolve():
        shutil.copyfile(lm, lm_out)
    if lexicon.resolve() != lexicon_out.resolve():
        shutil.copyfile(lexicon, lexicon_out)
    return dataclasses.replace(decode, lm=lm_out.name, lexicon=lexicon_out.name), [lm_out, lexicon_out]


def inference_payload(
    model: PathLike, output: Path, decode: DecodeConfig | None = None, features: FeatureConfig | None = None
) -> tuple[dict[str, Any], list[Path]]:
    """What inference needs from a training checkpoint (no optimiser or RNG state), with
    ``decode`` as its decode settings (default: the checkpoint's) and ``features`` as its front
    end (default: the checkpoint's; only where clips start, ``ONSET_FIELDS``, may differ). A word
    LM and lexicon named there are copied beside ``output`` by :func:`copy_lm_beside`; returns
    the payload and them."""
    payload = read_checkpoint(model)
    config = from_dict(ExperimentConfig, payload["config"])
    if features is not None:
        fixed = {k: getattr(features, k) for k in ONSET_FIELDS}
        if dataclasses.replace(config.features, **fixed) != features:
            raise ValueError(f"an export may change where clips start ({', '.join(ONSET_FIELDS)}), "
                             "not the features the weights were trained on")  # fmt: skip
        if problems := feature_problems(features):
            raise ValueError("; ".join(problems))
        config = dataclasses.replace(config, features=features)
    decode, written = copy_lm_beside(decode or resolve_beside(config.decode, Path(model).parent), output)
    network = dataclasses.replace(config.model, aux_phones=None, distill_head=None)  # training heads: dropped
    slim = {
        "format_version": payload["format_version"],
        "asr_version": payload.get("asr_version", __version__),
        "config": to_dict(dataclasses.replace(config, model=network, decode=decode)),
        "vocabulary": payload["vocabulary"],
        "feature_stats": payload.get("feature_stats"),
        "model": {k: v for k, v in payload["model"].items() if not k.startswith(TRAINING_HEADS)},
        "assets_sha256": {path.name: digest(path) for path in written},  # checked on load
    }
    return slim, written


def export_checkpoint(
    model: PathLike,
    output: PathLike,
    half: bool = False,
    decode: DecodeConfig | None = None,
    features: FeatureConfig | None = None,
) -> list[Path]:
    """An inference-only copy of a training checkpoint: no optimiser or RNG state, weights
    optionally in float16 (half the size; they are widened again on load; bfloat16 when
    ``decode.precision`` is bf16), and the decode
    settings to use by default (``features``: where clips start, as :func:`inference_payload`).
    A word LM and lexicon named in ``decode`` are copied beside the output (the ARPA gzipped)
    and referred to by relative path. Returns the files written."""
    output = Path(output)
    slim, written = inference_payload(model, output, decode, features)
    bf16 = slim["config"]["decode"].get("precision") == "bf16"  # a bf16 model stores bf16 weights
    stored = torch.bfloat16 if bf16 else torch.float16 if half else None
    if stored is not None:
        slim["model"] = {k: v.to(stored) if v.is_floating_point() else v for k, v in slim["model"].items()}
    return [save_checkpoint(slim, output), *written]


class _Graph(nn.Module):
    """The eager model with plain-tensor outputs and unpacked recurrent layers, for tracing."""

    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval().cpu().float()
        self.model.rnn_input = "padded"

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(features, lengths)
        return out.log_probs, out.output_lengths


def model_kind(path: PathLike) -> str:
    """``onnx``, ``torchscript`` (an archive with asr's metadata) or ``torch`` (a checkpoint)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return "onnx"
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith(f"extra/{_EXTRA_FILE}") for name in archive.namelist()):
                return "torchscript"
    return "torch"


def export_graph(
    model: PathLike,
    output: PathLike,
    fmt: str,
    decode: DecodeConfig | None = None,
    features: FeatureConfig | None = None,
) -> list[Path]:
    """Checkpoint -> ``output`` in ``fmt`` (onnx or torchscript), with its LM copied beside it
    as :func:`export_checkpoint` does. Returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    output = Path(output)
    slim, written = inference_payload(model, output, decode, features)
    recognizer = recognizer_from_payload(slim, str(model))
    stats = slim["feature_stats"]
    metadata = json.dumps({
        **{k: v for k, v in slim.items() if k != "model"},
        "feature_stats": {k: v.tolist() for k, v in stats.items()} if stats else None,
    })  # fmt: skip
    graph = _Graph(recognizer.model)
    frames = 200
    example = (torch.zeros(1, frames, recognizer.config.features.n_mels), torch.tensor([frames]))
    precision = (decode or recognizer.config.decode).precision
    if precision == "bf16" or (precision == "int8" and fmt != "onnx"):
        raise ValueError(f"--precision {precision} cannot be exported as {fmt} (ONNX: fp32 or int8; "
                         "TorchScript: fp32; a checkpoint: any)")  # fmt: skip
    with atomic_output(output) as tmp, warnings.catch_warnings():  # warnings about the legacy path
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            _write_onnx(graph, example, metadata, tmp)
            if precision == "int8":
                _quantized_with_metadata(tmp, metadata)
        else:
            traced = torch.jit.trace(graph, example, check_trace=False)
            torch.jit.save(traced, str(tmp), _extra_files={_EXTRA_FILE: metadata})
        seal_file(tmp, "onnx" if fmt == "onnx" else "zip")
    return [output, *written]


def _write_onnx(graph: nn.Module, example: tuple[torch.Tensor, ...], metadata: str, path: Path) -> None:
    try:
        import onnx  # export-time only; running needs just onnxruntime
    except ImportError:
        raise MissingDependency("exporting to ONNX needs the onnx package: pip install 'asr[onnx]'") from None

    dynamic = {"features": {0: "batch", 1: "frames"}, "feature_lengths": {0: "batch"},
               "log_probs": {0: "batch", 1: "out_frames"}, "output_lengths": {0: "batch"}}  # fmt: skip
    torch.onnx.export(graph, example, str(path), dynamo=False, dynamic_axes=dynamic, opset_version=17,
                      **_NAMES)  # fmt: skip
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata
    onnx.save(proto, str(path))


def _quantized_with_metadata(path: Path, metadata: str) -> None:
    """Replace the fp32 ONNX file ``path`` by its int8 quantization, keeping asr's metadata."""
    import onnx

    quantized = quantize_onnx(path, path.with_name(path.name + ".int8"))
    proto = onnx.load(str(quantized))
    if not any(p.key == METADATA_KEY for p in proto.metadata_props):
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, metadata
    onnx.save(proto, str(path))
    quantized.unlink()


class GraphModel(nn.Module):
    """An exported graph behind the eager model's call: ``(features, lengths) -> ModelOutput``.
    It runs on the CPU whatever ``.to()`` says; outputs come back on the inputs' device."""

    def __init__(self, run: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 bidirectional: bool, backend: str) -> None:  # fmt: skip
        super().__init__()
        self.run, self.bidirectional, self.backend = run, bidirectional, backend

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> ModelOutput:
        device = features.device
        features, lengths = features.detach().float().cpu(), feature_lengths.cpu()
        if not self.bidirectional:
            log_probs, out_lengths = self.run(features, lengths)
            return ModelOutput(log_probs.to(device), out_lengths.to(device))
        rows = [self.run(features[i : i + 1, : int(n)], lengths[i : i + 1]) for i, n in enumerate(lengths)]
        width = max(lp.shape[1] for lp, _ in rows)
        log_probs = torch.zeros(len(rows), width, rows[0][0].shape[2])
        for i, (lp, _) in enumerate(rows):
            log_probs[i, : lp.shape[1]] = lp[0]
        out_lengths = torch.cat([n.reshape(1) for _, n in rows])
        return ModelOutput(log_probs.to(device), out_lengths.to(device))


def _onnx_runner(path: Path) -> tuple[Callable[..., Any], str]:
    try:
        import onnxruntime
    except ImportError:
        hint = "pip install 'asr[onnx]'"
        raise MissingDependency(f"{path}: ONNX models run with onnxruntime: {hint}") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initialisers on every load
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) share no base class
        raise CheckpointError(f"{path}: not a readable ONNX model ({err})") from None
    try:
        metadata = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path}: unreadable asr metadata (not UTF-8 text: {err.reason})") from None
    if metadata is None:
        raise CheckpointError(f"{path}: an ONNX model without asr metadata (make it with asr export)")

    def run(features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feeds = {"features": features.numpy(), "feature_lengths": lengths.numpy()}
        log_probs, out_lengths = session.run(None, feeds)
        return torch.from_numpy(log_probs), torch.from_numpy(out_lengths)

    return run, metadata


def _torchscript_runner(path: Path) -> tuple[Callable[..., Any], str]:
    extra = {_EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.export
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as err:  # torch raises many types for a bad archive
        raise CheckpointError(f"{path}: not a readable TorchScript model ({err})") from None

    def run(features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return module(features, lengths)

    return run, extra[_EXTRA_FILE]


def _graph_precision(path: Path, kind: str, stored: str, asked: str | None) -> str:
    """What to run an exported graph at: as exported (fp32 unless int8), or int8 for an fp32
    ONNX file when asked. ONNX Runtime's CPU provider and traced TorchScript have no bf16 path."""
    exported = "int8" if stored == "int8" else "fp32"
    want = exported if asked in (None, "auto") else asked
    if want == exported or (want == "int8" and kind == "onnx"):
        return want
    raise ValueError(f"{path}: a {kind} model exported at {exported} cannot run at {want} "
                     "(ONNX: fp32 or int8; TorchScript: fp32); export it again with --precision")  # fmt: skip


def load_graph(path: PathLike, precision: str | None = None) -> Recognizer:
    """An exported ONNX or TorchScript file -> :class:`Recognizer` whose model is a :class:`GraphModel`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    check_file(path)
    kind = model_kind(path)
    run, text = _onnx_runner(path) if kind == "onnx" else _torchscript_runner(path)
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: unreadable asr metadata ({err})") from None
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: made by a newer asr ({payload.get('asr_version')}); upgrade asr")
    stats = payload.get("feature_stats")
    payload["feature_stats"] = {k: torch.tensor(v) for k, v in stats.items()} if stats else None
    payload["model"] = None
    recognizer = recognizer_from_payload(payload, str(path), build_model=False)
    stored = recognizer.config.decode.precision
    recognizer.precision = _graph_precision(path, kind, stored, precision)
    if recognizer.precision == "int8" and stored != "int8":  # quantize an fp32 ONNX file for this run
        with tempfile.TemporaryDirectory(prefix="asr-int8-") as tmp:
            copy_ = Path(tmp) / "model.onnx"
            shutil.copyfile(path, copy_)
            _quantized_with_metadata(copy_, text)
            run, _ = _onnx_runner(copy_)
    recognizer.model = GraphModel(run, recognizer.config.model.bidirectional, kind)  # type: ignore[assignment]
    return recognizer


def graph_from_checkpoint(path: PathLike, fmt: str, precision: str | None = None) -> Recognizer:
    """Export a checkpoint to a temporary ``fmt`` file and load that (to try a backend quickly)."""
    logger.info("exporting %s to %s for this run (asr export --format %s keeps the file)", path, fmt, fmt)
    with tempfile.TemporaryDirectory(prefix="asr-export-") as tmp:
        suffix = ".onnx" if fmt == "onnx" else ".ts"
        # no LM copy: the checkpoint's own decode settings (paths beside it) are put back below
        graph = export_graph(path, Path(tmp) / f"model{suffix}", fmt, DecodeConfig())[0]
        recognizer = load_graph(graph, precision)
    decode = from_dict(ExperimentConfig, read_checkpoint(path)["config"]).decode
    recognizer.config = dataclasses.replace(recognizer.config, decode=decode)
    return recognizer  # onnxruntime and TorchScript have read the whole file by now

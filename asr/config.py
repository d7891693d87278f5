"""Experiment configuration: frozen dataclasses loaded from a recipe YAML.

YAML file (+ dotted ``key=value`` overrides) -> :class:`ExperimentConfig`.
Unknown keys and wrongly typed values are errors, so a typo never trains the
wrong model. Every checkpoint stores ``to_dict(config)``; ``from_dict`` fills
fields added since with their defaults, so old checkpoints keep loading.
"""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from asr._types import PathLike
from asr.runtime import UserError


class ConfigError(UserError, ValueError):
    """A config file or override has an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end. The model's input size is ``n_mels``; it is never typed twice."""

    n_mels: int = 80
    win_ms: float = 25.0  # analysis window, milliseconds
    hop_ms: float = 10.0  # frame shift, milliseconds
    # "utterance": each utterance to zero mean / unit variance per mel bin;
    # "global": statistics of the training set, stored in the checkpoint; "none".
    normalize: Literal["utterance", "global", "none"] = "utterance"
    # Where the audio starts: > 0 cuts a clip's lead quieter than this many dB below its peak,
    # keeping onset_margin_ms before the first louder sample (zeros make up a shorter lead), so
    # added leading silence cannot move the stride's phase and change words (clips decoded whole;
    # long inputs keep their chunk grid). 0: off.
    onset_db: float = 0.0
    onset_margin_ms: float = 100.0
    # > 0: no zeros are put in front; the lead kept is a whole number of this many ms (the
    # model's output frame: hop_ms x model.time_stride), at most the margin, so added silence
    # moves the input by whole output frames, which the network barely notices.
    onset_align_ms: float = 0.0


# where a clip starts: settings of inference and data loading that no weight depends on, so a
# fine-tune may change them and an export may set them
ONSET_FIELDS = ("onset_db", "onset_margin_ms", "onset_align_ms")


@dataclass(frozen=True)
class TextConfig:
    """How transcripts are normalised before training and before scoring."""

    lowercase: bool = True
    keep_apostrophes: bool = True  # "don't" stays one word
    # Extra characters to add to the vocabulary even if training text lacks them.
    extra_characters: str = ""


@dataclass(frozen=True)
class AuxPhonesConfig:
    """A second CTC head, over ARPAbet phones (asr.phones), on one recurrent layer's output,
    trained jointly with the character CTC (hierarchical multitask CTC): a small model learns
    what it hears apart from how English spells it. Training only: export drops the head."""

    layer: int = 2  # the recurrent layer (1 = the first) whose output the head reads
    weight: float = 0.3  # its loss's weight; the character CTC's is 1


@dataclass(frozen=True)
class DistillHeadConfig:
    """A linear projection of one recurrent layer's output onto a teacher's frames (train.distill
    says which frames and how much they weigh). Training only: export drops it."""

    layer: int = 2  # the recurrent layer (1 = the first) it reads
    dims: int = 512  # the teacher's frame size (whisper base: 512)


@dataclass(frozen=True)
class ModelConfig:
    """Conv front end -> recurrent stack -> linear -> log-softmax."""

    rnn_type: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden_size: int = 256
    num_layers: int = 3
    bidirectional: bool = True
    conv_channels: int = 32
    time_stride: Literal[1, 2, 4] = 2  # output frames are this many input frames apart
    dropout: float = 0.1
    # Streaming models (bidirectional: false): output frames of future context seen through a
    # DeepSpeech2-style lookahead convolution after the recurrent stack; 0 = none.
    lookahead: int = 0
    # Added to the LSTM forget gates' biases at initialisation (1.0 starts them mostly open, so
    # gradients reach back in time from the first step); 0.0 keeps PyTorch's uniform init.
    forget_bias: float = 0.0
    # What the CTC head writes: characters, or ARPAbet phones (one character each; training text
    # is spelled by CMUdict / espeak-ng, and beam search spells the LM's words the same way)
    units: Literal["chars", "phones"] = "chars"
    aux_phones: AuxPhonesConfig | None = None  # null: none
    distill_head: DistillHeadConfig | None = None  # null: none


def with_dropout_of(model: ModelConfig, other: ModelConfig) -> ModelConfig:
    """``model`` with ``other``'s dropout. Dropout shapes no weight, so configs equal after this hold
    weights of the same meaning: one run may start from (``train.init_from``), or be averaged
    with, the other."""
    return dataclasses.replace(model, dropout=other.dropout)


@dataclass(frozen=True)
class DataConfig:
    train_manifest: str = ""
    valid_manifest: str = ""
    max_batch_seconds: float = 240.0  # padded seconds of audio per batch (batch x longest)
    max_duration: float = 30.0  # longer training utterances are skipped, with a count
    sortagrad: bool = True  # epoch 1 goes shortest first
    num_workers: int = 0  # loader processes per rank; -1: the rank's share of the node's CPUs


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly training augmentation; everything is off by default."""

    speed_perturb: bool = False  # resample each utterance at 0.9x, 1.0x or 1.1x speed
    noise_manifest: str = ""  # manifest of noise clips to mix in ("" = none)
    noise_prob: float = 0.5  # share of utterances that get noise
    snr_min_db: float = 10.0
    snr_max_db: float = 30.0
    reverb_prob: float = 0.0  # share of utterances convolved with a simulated room (pyroomacoustics)
    rt60_min: float = 0.2  # seconds: reverberation time drawn per utterance in [rt60_min, rt60_max]
    rt60_max: float = 0.8
    telephone_prob: float = 0.0  # share of utterances passed through a telephone channel (8 kHz, mu-law)
    # Vocal-tract-length perturbation (Jaitly & Hinton, 2013): the share of utterances whose
    # spectrum's frequency axis is warped by a factor drawn in [vtlp_min, vtlp_max], as a
    # shorter or longer vocal tract would move the formants
    vtlp_prob: float = 0.0
    vtlp_min: float = 0.9
    vtlp_max: float = 1.1
    # Each utterance starts up to this many ms later (silence in front, drawn per utterance), so
    # that where the output frames fall against the speech stops mattering; 0 = off
    shift_ms: float = 0.0
    freq_masks: int = 0  # SpecAugment: number of frequency masks per utterance
    freq_mask_width: int = 15  # widest frequency mask, in mel bins
    time_masks: int = 0  # SpecAugment: number of time masks per utterance
    time_mask_width: int = 40  # widest time mask, in frames (and at most 20% of the utterance)


@dataclass(frozen=True)
class DistillConfig:
    """Distillation from stored teacher frames (``asr teacher``) through model.distill_head:
    L1 + cosine loss (as DistilHuBERT), weighted beside the character CTC. Rows with frames and
    a transcript train on both, rows with frames only on this alone, rows without frames on CTC."""

    frames: str = ""  # the folder asr teacher wrote
    weight: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    max_steps: int = 0  # > 0: stop after this many optimiser steps (the schedule is unchanged)
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05  # cosine decay ends at lr * min_lr_ratio
    grad_clip: float = 5.0
    nonfinite_patience: int = 50  # stop after this many skipped (NaN/inf) steps in a row; 0 = never
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"  # "auto": bf16 on CUDA, none on CPU
    device: str = "auto"
    # Where training features are computed: "loader" (its workers, one utterance at a time),
    # "device" (the training device, per padded batch; loaders only read and augment audio);
    # "auto": device on CUDA, loader otherwise.
    features_on: Literal["auto", "loader", "device"] = "auto"
    seed: int = 0
    log_every: int = 20  # steps between progress lines in train.log / metrics.jsonl
    save_every: int = 0  # > 0: also write last.pt every this many steps
    keep_epochs: int = 0  # > 0: also keep epochNNN.pt for the newest this many epochs (asr average)
    tensorboard: bool = True
    plots: bool = True  # redraw exp_dir/plots/*.png at each validation (needs matplotlib: asr[plots])
    # Fine-tuning: start from this checkpoint's weights and vocabulary (same model config); the
    # optimiser, schedule and progress start afresh. "" = random initialisation.
    init_from: str = ""
    distill: DistillConfig | None = None  # null: none


def _flag(default: Any, help: str, flag: str = "", **argparse_options: Any) -> Any:  # noqa: A002
    """A field that the decoding commands also take as a flag (``--field-name`` unless ``flag``),
    with its help text; see :func:`asr.cli.flags.add_decode_flags`."""
    return field(default=default, metadata={"help": help, "flag": flag, **argparse_options})


@dataclass(frozen=True)
class DecodeConfig:
    """How log-probs become text. Inference flags may change these; nothing else. Each field
    with help below is also a flag of every decoding command, checked as the YAML is."""

    method: Literal["greedy", "beam"] = _flag(
        "greedy", "greedy (best token per frame) or beam search (default: the model's decode setting; "
        "the bundled model's is beam with its LM)", flag="--decoder")  # fmt: skip
    batch_seconds: float = _flag(0.0, "padded audio seconds per batch; 0 = by device (CPU 60, CUDA 600)")
    chunk_seconds: float = _flag(30.0, "longer inputs are transcribed in chunks of this length (0: never)")
    chunk_overlap: float = _flag(2.0, "seconds of context read on each side of a chunk")
    beam_size: int = _flag(50, "hypotheses kept per frame (more: slower, a little better)")
    beam_threshold: float = _flag(25.0, "prune hypotheses this far (log) below the best")
    beam_size_token: int = _flag(0, "tokens tried per frame, likeliest first (0: all)")
    lm: str = _flag("", "word n-gram LM (ARPA or KenLM binary) for beam search; none: lexicon-free")
    lexicon: str = _flag("", "word spellings (default: beside the LM, same name .lexicon)")
    lm_weight: float = _flag(0.5, "weight of the LM's log-probability against the model's")
    word_score: float = _flag(0.0, "added per word (positive: fewer deletions)")
    hotwords: str = _flag("", "words to favour in LM beam search, boost in log10 LM units (needs --lm)",
                          nargs="+", metavar="WORD[:BOOST]")  # fmt: skip
    precision: Literal["auto", "fp32", "bf16", "int8"] = _flag(
        "auto", "the network's arithmetic: fp32, bf16 (fast on AMX/AVX-512-BF16 CPUs) or int8; "
        "auto = fp32 (default: the model's)")  # fmt: skip


def feature_problems(features: FeatureConfig) -> list[str]:
    """What is out of range in ``features`` (the YAML's check, and ``asr export``'s onset flags')."""
    problems = []
    if features.n_mels < 2:
        problems.append("features.n_mels must be at least 2")
    if features.hop_ms <= 0 or features.win_ms < features.hop_ms:
        problems.append("features: need 0 < hop_ms <= win_ms")
    if not 0.0 <= features.onset_db <= 120.0 or features.onset_margin_ms < 0:
        problems.append("features: need 0 <= onset_db <= 120 and onset_margin_ms >= 0")
    align_hops = features.onset_align_ms / features.hop_ms if features.hop_ms > 0 else 0.0
    if align_hops < 0 or abs(align_hops - round(align_hops)) > 1e-6:
        problems.append("features.onset_align_ms must be >= 0 and a whole number of hop_ms")
    return problems


def decode_problems(decode: DecodeConfig) -> list[str]:
    """What is out of range in ``decode`` (the YAML's check, and the decoding flags')."""
    problems = []
    if decode.batch_seconds < 0:
        problems.append("decode.batch_seconds must be 0 (by device) or positive")
    if decode.beam_size < 1:
        problems.append("decode.beam_size must be at least 1")
    if decode.beam_size_token < 0:
        problems.append("decode.beam_size_token must be 0 (all tokens) or positive")
    if decode.beam_threshold <= 0:
        problems.append("decode.beam_threshold must be positive")
    if decode.chunk_seconds < 0 or decode.chunk_overlap < 0:
        problems.append("decode.chunk_seconds and decode.chunk_overlap must be >= 0")
    return problems


@dataclass(frozen=True)
class ExperimentConfig:
    exp_dir: str = "exp"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict (YAML- and ``torch.load(weights_only=True)``-safe)."""
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build ``cls`` from a nested dict; missing fields take their defaults.

    Raises:
        ConfigError: on an unknown key or a value that does not fit the field's type.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(where + k for k in unknown)}; "
            f"valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(typing.cast(type, tp), value, key + ".")
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not fit {tp}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if node.get(part) is None:  # absent, or an optional section left null (model.aux_phones)
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
    node[leaf] = value


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word is a string: train.device=cuda
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    return key.strip(), value


def load_config(path: PathLike | None, overrides: typing.Sequence[str] = ()) -> ExperimentConfig:
    """Read a recipe YAML (or the defaults when ``path`` is None) and apply overrides.

    >>> load_config(None, ["model.rnn_type='gru'", "train.lr=3e-4"]).train.lr
    0.0003
    """
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        tree = loaded or {}
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(tree, key, value)
    config = from_dict(ExperimentConfig, tree)
    _check_ranges(config)
    return config


def _check_ranges(cfg: ExperimentConfig) -> None:
    problems = []
    if cfg.model.hidden_size < 1 or cfg.model.num_layers < 1 or cfg.model.conv_channels < 1:
        problems.append("model sizes must be positive")
    if cfg.model.lookahead < 0:
        problems.append("model.lookahead must be >= 0")
    if not 0.0 <= cfg.model.dropout < 1.0:
        problems.append("model.dropout must be in [0, 1)")
    if cfg.model.forget_bias and cfg.model.rnn_type != "lstm":
        kind = cfg.model.rnn_type
        problems.append(f"model.forget_bias applies to LSTM forget gates only: set it to 0 for {kind}")
    aux, head, distill = cfg.model.aux_phones, cfg.model.distill_head, cfg.train.distill
    if aux is not None and (not 1 <= aux.layer <= cfg.model.num_layers or aux.weight <= 0):
        problems.append(f"model.aux_phones: need 1 <= layer <= {cfg.model.num_layers} and weight > 0")
    if aux is not None and cfg.model.units == "phones":
        problems.append(
            "model.aux_phones is a second target for a character model: not for model.units=phones"
        )
    if head is not None and (not 1 <= head.layer <= cfg.model.num_layers or head.dims < 1):
        problems.append(f"model.distill_head: need 1 <= layer <= {cfg.model.num_layers} and dims >= 1")
    if distill is not None and (head is None or not distill.frames or distill.weight <= 0):
        problems.append("train.distill needs model.distill_head, frames (a teacher folder) and weight > 0")
    problems += feature_problems(cfg.features)
    if cfg.features.onset_db > 0 and distill is not None:
        problems.append("features.onset_db cuts the clip's start, and the teacher's frames follow the clip "
                        "as recorded: not with train.distill")  # fmt: skip
    if cfg.data.num_workers < -1:
        problems.append("data.num_workers must be >= 0, or -1 for automatic")
    if cfg.data.max_batch_seconds <= 0 or cfg.data.max_duration <= 0:
        problems.append("data.max_batch_seconds and data.max_duration must be positive")
    problems += decode_problems(cfg.decode)
    if not 0.0 <= cfg.augment.noise_prob <= 1.0 or cfg.augment.snr_min_db > cfg.augment.snr_max_db:
        problems.append("augment: need 0 <= noise_prob <= 1 and snr_min_db <= snr_max_db")
    aug = cfg.augment
    if not 0.0 <= aug.vtlp_prob <= 1.0 or not 0.5 <= aug.vtlp_min <= aug.vtlp_max <= 2.0:
        problems.append("augment: need 0 <= vtlp_prob <= 1 and 0.5 <= vtlp_min <= vtlp_max <= 2")
    if not 0.0 <= aug.shift_ms <= 1000.0:
        problems.append("augment.shift_ms must be in [0, 1000]")
    if cfg.train.lr <= 0 or cfg.train.epochs < 1:
        problems.append("train.lr must be positive and train.epochs >= 1")
    if problems:
        raise ConfigError("; ".join(problems))


def save_config(config: ExperimentConfig, path: PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")

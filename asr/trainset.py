"""What a training run starts from: its manifest rows (the unusable ones, too long, empty or
CTC-infeasible, left out with a warning that names them; characters the vocabulary lacks
flagged), its initial weights (``train.init_from``), its feature statistics, and the checks
that a resumed or fine-tuned run fits the checkpoint it continues."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from asr.checkpoint import read_checkpoint
from asr.config import ONSET_FIELDS, ConfigError, ExperimentConfig, from_dict, with_dropout_of
from asr.data import AsrDataset
from asr.features import FeatureExtractor, global_stats
from asr.frames import TeacherFrames
from asr.manifest import Utterance, read_manifest
from asr.model import TRAINING_HEADS
from asr.text import Normalizer, Vocabulary, unknown_report
from asr.validate import Limits, ValidationReport, validate

logger = logging.getLogger("asr.train")
STATS_UTTERANCES = 2000  # utterances sampled for global mean/variance statistics


def read_training_data(
    cfg: ExperimentConfig, normalizer: Normalizer, with_frames: Collection[str] = ()
) -> tuple[list[Utterance], list[Utterance]]:
    """The usable training rows (:func:`usable_for_training`) and the validation rows."""
    if not cfg.data.train_manifest or not cfg.data.valid_manifest:
        raise ValueError("data.train_manifest and data.valid_manifest must both be set")
    train_utts = read_manifest(cfg.data.train_manifest)
    valid_utts = read_manifest(cfg.data.valid_manifest)
    if not train_utts or not valid_utts:
        raise ValueError("no training or no validation utterances to use")
    if cfg.model.units == "phones":
        train_utts, valid_utts = in_phones(normalizer, train_utts, valid_utts)
        if not valid_utts:
            raise ValueError(f"{cfg.data.valid_manifest}: no validation utterance can be spelled in phones")
    return usable_for_training(cfg, normalizer, train_utts, with_frames), valid_utts


def usable_for_training(
    cfg: ExperimentConfig, normalizer: Normalizer, utts: list[Utterance], with_frames: Collection[str] = ()
) -> list[Utterance]:
    """Leave out, naming them, rows that cannot teach anything, by ``asr validate``'s rules:
    longer than ``data.max_duration``, an empty transcript (unless the row has teacher frames,
    ``with_frames``: it trains on distillation alone), or a label with more characters than
    the model has output frames (CTC-infeasible). Audio is read later, one file at a time."""
    limits = Limits(min_duration=0.0, max_duration=cfg.data.max_duration, alphabet=None,
                    features=cfg.features, model=cfg.model, check_audio=False)  # fmt: skip
    report = validate(utts, normalizer, limits)
    with_frames = set(with_frames)
    frames_only = {u.id for u, why in report.rejected if why == "empty transcript" and u.id in with_frames}
    if frames_only:
        logger.info("%d training utterances without a transcript train on the teacher's frames alone",
                    len(frames_only))  # fmt: skip
        kept = {u.id for u in report.kept} | frames_only
        rejected = [(u, why) for u, why in report.rejected if u.id not in frames_only]
        report = ValidationReport([u for u in utts if u.id in kept], rejected)
    hints = {"too long": f"data.max_duration={cfg.data.max_duration:g} s",
             "label too long for its audio": "lower model.time_stride?"}  # fmt: skip
    for kind, count in report.reasons().most_common():
        ids = [u.id for u, reason in report.rejected if reason.split(":")[0] == kind]
        hint = f" ({hints[kind]})" if kind in hints else ""
        logger.warning("%d training utterances are left out: %s%s, e.g. %s", count, kind, hint,
                       ", ".join(ids[:5]))  # fmt: skip
    if not report.kept:
        raise ValueError(f"{cfg.data.train_manifest}: no training utterance is usable (see the warnings)")
    return report.kept


def pronunciations(normalizer: Normalizer, utts: list[Utterance]) -> dict[str, list[str]]:
    """Each word of the rows' transcripts in ARPAbet: CMUdict's, else espeak-ng's, else []."""
    from asr.phones import Lexicon

    lexicon = Lexicon.cmudict()
    words = sorted({w for u in utts for w in normalizer(u.text).split()})
    spelled = lexicon.pronounce(words)
    known = sum(w in lexicon.entries for w in words)
    unspelled = [w for w in words if not spelled[w]]
    logger.info("phones for %d words: %d from CMUdict, %d from espeak-ng, %d unspelled%s", len(words),
                known, len(words) - known - len(unspelled), len(unspelled),
                f" (e.g. {', '.join(unspelled[:5])})" if unspelled else "")  # fmt: skip
    return spelled


def phone_targets(normalizer: Normalizer, utts: list[Utterance]) -> dict[str, list[int]]:
    """Each training word's phone ids for model.aux_phones (``asr.phones.PHONES`` index + 1; 0 is
    CTC's blank). A row with a word that has no phones trains without the phone loss."""
    from asr.phones import PHONES

    index = {p: i + 1 for i, p in enumerate(PHONES)}
    return {w: [index[p] for p in phones] for w, phones in pronunciations(normalizer, utts).items() if phones}


def in_phones(normalizer: Normalizer, *groups: list[Utterance]) -> list[list[Utterance]]:
    """For model.units=phones: each group's rows with their transcripts as phone text
    (``asr.phones.phone_text``). A row with a word that has no phones is left out, named."""
    from asr.phones import phone_text

    spelled = pronunciations(normalizer, [u for utts in groups for u in utts])
    out = []
    for utts in groups:
        kept, lost = [], []
        for u in utts:
            words = normalizer(u.text).split()
            if all(spelled[w] for w in words):
                kept.append(dataclasses.replace(u, text=phone_text(spelled[w] for w in words)))
            else:
                lost.append(u.id)
        if lost:
            logger.warning("%d of %d utterances are left out: a word without phones, e.g. %s", len(lost),
                           len(utts), ", ".join(lost[:5]))  # fmt: skip
        out.append(kept)
    return out


def check_texts(
    normalizer: Normalizer,
    vocab: Vocabulary,
    train_utts: list[Utterance],
    valid_utts: list[Utterance],
) -> None:
    """Report characters the vocabulary lacks, and rare ones that a typo may have put in it."""
    for name, utts in (("training", train_utts), ("validation", valid_utts)):
        report = unknown_report(((u.id, normalizer(u.text)) for u in utts), vocab)
        if report:
            chars = sorted({c for counter in report.values() for c in counter})
            logger.warning(
                "%d %s utterances hold characters not in the vocabulary %s (left out of their "
                "loss targets, kept for scoring), e.g. %s",
                len(report),
                name,
                chars,
                ", ".join(list(report)[:5]),
            )
    if vocab.units == "phones":  # every phone is in the vocabulary, however rare
        return
    users: dict[str, list[str]] = {}
    for u in train_utts:
        for ch in set(normalizer(u.text)):
            users.setdefault(ch, []).append(u.id)
    rare_limit = max(1, len(train_utts) // 1000)
    rare = {ch: ids for ch, ids in users.items() if len(ids) <= rare_limit and len(train_utts) >= 5}
    for ch, ids in sorted(rare.items()):
        if ch == " ":
            continue
        logger.warning(
            "character %r occurs in only %d training utterance(s) (e.g. %s): a typo or foreign "
            "text? It is in the vocabulary now", ch, len(ids), ", ".join(ids[:3]),
        )  # fmt: skip


def initial_weights(cfg: ExperimentConfig) -> dict[str, Any] | None:
    """The checkpoint named by ``train.init_from``, checked to fit ``cfg``'s model and features."""
    if not cfg.train.init_from:
        return None
    path = Path(cfg.train.init_from)
    payload = read_checkpoint(path)
    old = from_dict(ExperimentConfig, payload["config"])
    # dropout and training heads (new or dropped) shape no weight the two share
    old_model = dataclasses.replace(with_dropout_of(old.model, cfg.model), aux_phones=cfg.model.aux_phones,
                                    distill_head=cfg.model.distill_head)  # fmt: skip
    # where a clip starts (features.onset_*) is what a fine-tune may teach the model anew
    old_features = dataclasses.replace(old.features, **{k: getattr(cfg.features, k) for k in ONSET_FIELDS})
    old = dataclasses.replace(old, model=old_model, features=old_features)
    require_same(old, cfg, ("model", "features"), f"train.init_from {path}")
    return payload


def open_teacher(cfg: ExperimentConfig) -> TeacherFrames | None:
    """train.distill's stored frames, checked to fit the model: their size, and their frame
    shift against the model's output frame shift (features.hop_ms x model.time_stride)."""
    if cfg.train.distill is None or cfg.model.distill_head is None:
        return None
    frames = TeacherFrames(cfg.train.distill.frames)
    shift = cfg.features.hop_ms * cfg.model.time_stride
    if frames.info.dims != cfg.model.distill_head.dims or abs(frames.info.frame_ms - shift) > 1e-6:
        have = f"{frames.info.dims} dims every {frames.info.frame_ms:g} ms"
        need = f"{cfg.model.distill_head.dims} every {shift:g} ms"
        raise ConfigError(f"train.distill.frames {frames.folder}: {have}, the model needs {need} "
                          "(asr teacher --frame-ms)")  # fmt: skip
    return frames


def load_initial_weights(model: torch.nn.Module, weights: dict[str, Any]) -> None:
    """``train.init_from``'s weights; a training head (model.aux_phones, model.distill_head) that
    only one side has is left as it is (new: freshly initialised), every other weight must match."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if stray := [k for k in [*missing, *unexpected] if not k.startswith(TRAINING_HEADS)]:
        raise ConfigError(f"train.init_from: the weights do not fit the model (e.g. {stray[0]})")


def require_same(old: ExperimentConfig, cfg: ExperimentConfig, sections: tuple[str, ...], what: str) -> None:
    """A checkpoint's config sections that the run must share (ConfigError naming the first that differs)."""
    for section in sections:
        if getattr(old, section) != getattr(cfg, section):
            raise ConfigError(f"{what}: its {section} config {asdict(getattr(old, section))} "
                              f"differs from {asdict(getattr(cfg, section))}")  # fmt: skip


def check_resume_config(cfg: ExperimentConfig, resumed: dict[str, Any], path: Path) -> None:
    """Model, features and text must match the checkpoint; training settings may change."""
    old = from_dict(ExperimentConfig, resumed["config"])
    require_same(old, cfg, ("model", "features", "text"), f"cannot resume {path}")
    for section in ("data", "augment", "train", "decode"):
        if getattr(old, section) != getattr(cfg, section):
            logger.info("resuming with changed %s settings: %s", section, asdict(getattr(cfg, section)))


def make_extractor(
    cfg: ExperimentConfig, train_utts: list[Utterance], resumed: dict[str, Any] | None
) -> FeatureExtractor:
    if cfg.features.normalize != "global":
        return FeatureExtractor(cfg.features)
    if resumed is not None and resumed.get("feature_stats"):
        stats = resumed["feature_stats"]
        return FeatureExtractor(cfg.features, stats["mean"], stats["std"])
    sample = random.Random(cfg.train.seed).sample(train_utts, min(STATS_UTTERANCES, len(train_utts)))
    raw = AsrDataset(sample, FeatureExtractor(dataclasses.replace(cfg.features, normalize="none")))
    mean, std = global_stats(raw.load_features(u)[0] for u in sample)
    logger.info("global feature statistics from %d utterances", len(sample))
    return FeatureExtractor(cfg.features, mean, std)

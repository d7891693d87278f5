"""Training: an :class:`ExperimentConfig` -> checkpoints in ``exp_dir`` and a :class:`TrainSummary`.

One plain PyTorch loop, top to bottom: data -> model -> fp32 CTC loss -> AdamW
step (clipped, warm-up then cosine decay) -> greedy validation each epoch ->
``checkpoints/last.pt`` and ``checkpoints/best.pt`` (lowest validation WER).
``resume=True`` restores model, optimiser, scheduler, scaler, progress and RNG
from ``last.pt``, so the resumed run follows the same curve. Ctrl-C or SIGTERM
saves ``last.pt`` after the step in flight and returns.

Usage: ``asr train recipes/fsdd/config.yaml [--set train.lr=3e-4] [--resume]``
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from asr.audio import SAMPLE_RATE
from asr.checkpoint import build_payload, read_checkpoint, save_checkpoint
from asr.config import ConfigError, ExperimentConfig, from_dict, save_config, to_dict
from asr.data import AsrDataset, DurationBucketSampler
from asr.evaluate import ctc_loss, infer, make_loader
from asr.features import FeatureExtractor, global_stats, num_frames
from asr.manifest import Utterance, read_manifest
from asr.metrics import score
from asr.model import AcousticModel, count_parameters, output_length
from asr.runtime import (
    log_to_file,
    pick_device,
    progress,
    rng_state,
    seed_everything,
    set_rng_state,
)
from asr.text import Normalizer, Vocabulary, unknown_report

logger = logging.getLogger(__name__)
STATS_UTTERANCES = 2000  # utterances sampled for global mean/variance statistics


@dataclass
class TrainState:
    """Mutable progress, saved in every checkpoint (never part of the config)."""

    epoch: int = 0  # epoch in progress, 0-based
    batch_in_epoch: int = 0  # batches of that epoch already trained
    step: int = 0  # optimiser steps taken
    best_wer: float = math.inf
    best_cer: float = math.inf  # breaks WER ties, e.g. while WER is still 100%
    best_epoch: int = -1
    skipped_steps: int = 0  # non-finite losses


@dataclass
class TrainSummary:
    exp_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    steps: int
    epochs_done: int
    best_wer: float
    stopped_early: bool  # max_steps or a stop signal ended the run before the last epoch


def lr_lambda(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress_ = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress_))


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp == "none":
        if amp in ("bf16", "fp16") and device.type != "cuda":
            logger.warning("train.amp=%s needs CUDA; training in fp32 on %s", amp, device)
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    """A flag that SIGTERM sets (cluster pre-emption), restored on exit; main thread only."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_training_data(cfg: ExperimentConfig) -> tuple[list[Utterance], list[Utterance]]:
    if not cfg.data.train_manifest or not cfg.data.valid_manifest:
        raise ValueError("data.train_manifest and data.valid_manifest must both be set")
    train_utts = read_manifest(cfg.data.train_manifest)
    valid_utts = read_manifest(cfg.data.valid_manifest)
    kept = [u for u in train_utts if u.duration <= cfg.data.max_duration]
    if len(kept) < len(train_utts):
        logger.warning(
            "skipping %d training utterances longer than data.max_duration=%.1f s",
            len(train_utts) - len(kept),
            cfg.data.max_duration,
        )
    if not kept or not valid_utts:
        raise ValueError("no training or no validation utterances to use")
    return kept, valid_utts


def _check_texts(
    cfg: ExperimentConfig,
    normalizer: Normalizer,
    vocab: Vocabulary,
    train_utts: list[Utterance],
    valid_utts: list[Utterance],
) -> None:
    """Report unknown characters and labels too long for their audio (CTC-infeasible)."""
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
    infeasible = []
    for u in train_utts:
        out = output_length(cfg.model, num_frames(int(u.duration * SAMPLE_RATE), cfg.features))
        text = normalizer(u.text)
        needed = len(text) + sum(a == b for a, b in zip(text, text[1:]))
        if needed > out:
            infeasible.append(u.id)
    if infeasible:
        logger.warning(
            "%d training utterances have more characters than output frames and teach nothing "
            "(lower model.time_stride?), e.g. %s",
            len(infeasible),
            ", ".join(infeasible[:5]),
        )


def _check_resume_config(cfg: ExperimentConfig, resumed: dict[str, Any], path: Path) -> None:
    """Model, features and text must match the checkpoint; training settings may change."""
    old = from_dict(ExperimentConfig, resumed["config"])
    for section in ("model", "features", "text"):
        if getattr(old, section) != getattr(cfg, section):
            raise ConfigError(
                f"cannot resume {path}: its {section} config {asdict(getattr(old, section))} "
                f"differs from {asdict(getattr(cfg, section))}"
            )
    for section in ("data", "train", "decode"):
        if getattr(old, section) != getattr(cfg, section):
            logger.info("resuming with changed %s settings: %s", section, asdict(getattr(cfg, section)))


def _make_extractor(
    cfg: ExperimentConfig, train_utts: list[Utterance], resumed: dict[str, Any] | None
) -> FeatureExtractor:
    if cfg.features.normalize != "global":
        return FeatureExtractor(cfg.features)
    if resumed is not None and resumed.get("feature_stats"):
        stats = resumed["feature_stats"]
        return FeatureExtractor(cfg.features, stats["mean"], stats["std"])
    sample = random.Random(cfg.train.seed).sample(train_utts, min(STATS_UTTERANCES, len(train_utts)))
    raw = AsrDataset(sample, FeatureExtractor(dataclasses.replace(cfg.features, normalize="none")))
    mean, std = global_stats(raw.load_features(u) for u in sample)
    logger.info("global feature statistics from %d utterances", len(sample))
    return FeatureExtractor(cfg.features, mean, std)


def _open_tensorboard(cfg: ExperimentConfig, exp_dir: Path) -> Any:
    if not cfg.train.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.warning("tensorboard is not installed (pip install 'asr[tensorboard]'); no TB logs")
        return None
    return SummaryWriter(str(exp_dir / "tb"))


def train(
    cfg: ExperimentConfig, resume: bool | str | Path = False, show_progress: bool = True
) -> TrainSummary:
    """Train per ``cfg`` into ``cfg.exp_dir``; ``resume`` is True (``last.pt``) or a checkpoint path."""
    exp_dir = Path(cfg.exp_dir)
    ckpt_dir = exp_dir / "checkpoints"
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    resume_path = (last_path if resume is True else Path(resume)) if resume else None
    if resume_path is None and last_path.exists():
        raise FileExistsError(
            f"{last_path} exists: pass resume=True (--resume) to continue it, or choose a new exp_dir"
        )
    exp_dir.mkdir(parents=True, exist_ok=True)
    with log_to_file(exp_dir / "train.log"):
        return _train(cfg, exp_dir, last_path, best_path, resume_path, show_progress)


def _train(
    cfg: ExperimentConfig,
    exp_dir: Path,
    last_path: Path,
    best_path: Path,
    resume_path: Path | None,
    show_progress: bool,
) -> TrainSummary:
    save_config(cfg, exp_dir / "config.yaml")
    logger.info("config: %s", json.dumps(to_dict(cfg)))
    seed_everything(cfg.train.seed)
    device = pick_device(cfg.train.device)
    resumed = read_checkpoint(resume_path) if resume_path is not None else None
    if resumed is not None:
        _check_resume_config(cfg, resumed, resume_path)

    train_utts, valid_utts = _read_training_data(cfg)
    normalizer = Normalizer(cfg.text)
    if resumed is not None:
        vocab = Vocabulary(resumed["vocabulary"])
    else:
        vocab = Vocabulary.build((normalizer(u.text) for u in train_utts), cfg.text.extra_characters)
    logger.info("vocabulary (%d): %s", len(vocab), "".join(vocab.tokens[1:]))
    _check_texts(cfg, normalizer, vocab, train_utts, valid_utts)
    extractor = _make_extractor(cfg, train_utts, resumed)

    sampler = DurationBucketSampler(
        [u.duration for u in train_utts],
        cfg.data.max_batch_seconds,
        shuffle=True,
        sortagrad=cfg.data.sortagrad,
        seed=cfg.train.seed,
    )
    train_loader = make_loader(
        AsrDataset(train_utts, extractor, normalizer, vocab),
        cfg.data.max_batch_seconds,
        cfg.data.num_workers,
        sampler,
        seed=cfg.train.seed,
        pin_memory=device.type == "cuda",
    )
    valid_loader = make_loader(
        AsrDataset(valid_utts, extractor, normalizer, vocab),
        cfg.decode.batch_seconds,
        cfg.data.num_workers,
    )
    total_steps = sum(len(sampler.batches(e)) for e in range(cfg.train.epochs))

    model = AcousticModel(cfg.model, cfg.features.n_mels, len(vocab)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_lambda(s, cfg.train.warmup_steps, total_steps, cfg.train.min_lr_ratio),
    )
    amp_dtype = _amp_dtype(cfg.train.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    state = TrainState()
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        scaler.load_state_dict(resumed["scaler"])
        state = from_dict(TrainState, resumed["train_state"])
        set_rng_state(resumed["rng"])
        logger.info("resumed from %s at epoch %d, step %d", resume_path, state.epoch + 1, state.step)
    logger.info(
        "model: %s, %.2fM parameters; %d train / %d valid utterances; %d steps planned; device %s%s",
        cfg.model.rnn_type,
        count_parameters(model) / 1e6,
        len(train_utts),
        len(valid_utts),
        total_steps,
        device,
        f", amp {amp_dtype}" if amp_dtype else "",
    )

    def checkpoint() -> dict[str, Any]:
        return build_payload(
            cfg,
            model,
            extractor,
            vocab,
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            scaler=scaler.state_dict(),
            train_state=asdict(state),
            rng=rng_state(),
        )

    writer = _open_tensorboard(cfg, exp_dir)
    metrics_file = (exp_dir / "metrics.jsonl").open("a", encoding="utf-8")

    def record(event: str, **values: Any) -> None:
        metrics_file.write(json.dumps({"event": event, "step": state.step, **values}) + "\n")
        metrics_file.flush()
        if writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    writer.add_scalar(f"{event}/{key}", value, state.step)

    stopped = False
    with _stop_on_sigterm() as sigterm, contextlib.closing(metrics_file):
        try:
            while state.epoch < cfg.train.epochs and not stopped:
                stopped = _train_epoch(
                    cfg,
                    model,
                    train_loader,
                    sampler,
                    optimizer,
                    scheduler,
                    scaler,
                    amp_dtype,
                    device,
                    state,
                    record,
                    sigterm,
                    show_progress,
                    checkpoint,
                    last_path,
                )
                if stopped:
                    break
                hyps, valid_loss = infer(model, valid_loader, vocab, device, with_loss=True)
                report = score(
                    {u.id: u.text for u in valid_utts}, {h.utt_id: h.text for h in hyps}, normalizer
                )
                logger.info("epoch %d validation: loss %.3f, %s", state.epoch + 1, valid_loss or 0, report)
                record("valid", epoch=state.epoch + 1, loss=valid_loss, wer=report.wer, cer=report.cer)
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                is_best = (report.wer, report.cer) < (state.best_wer, state.best_cer)
                if is_best:
                    state.best_wer, state.best_cer, state.best_epoch = (
                        report.wer,
                        report.cer,
                        state.epoch,
                    )
                payload = checkpoint()
                save_checkpoint(payload, last_path)
                if is_best:
                    save_checkpoint(payload, best_path)
        except KeyboardInterrupt:
            save_checkpoint(checkpoint(), last_path)
            logger.warning("interrupted: saved %s at step %d; --resume continues", last_path, state.step)
            raise
        finally:
            if writer is not None:
                writer.close()
    logger.info(
        "done: %d steps, best validation WER %.2f%% (epoch %d)",
        state.step,
        100 * state.best_wer,
        state.best_epoch,
    )
    return TrainSummary(
        exp_dir=exp_dir,
        last_checkpoint=last_path,
        best_checkpoint=best_path if best_path.exists() else None,
        steps=state.step,
        epochs_done=state.epoch,
        best_wer=state.best_wer,
        stopped_early=stopped,
    )


def _train_epoch(
    cfg: ExperimentConfig,
    model: AcousticModel,
    loader: Any,
    sampler: DurationBucketSampler,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    amp_dtype: torch.dtype | None,
    device: torch.device,
    state: TrainState,
    record: Any,
    sigterm: threading.Event,
    show_progress: bool,
    checkpoint: Any,
    last_path: Path,
) -> bool:
    """Train the rest of ``state.epoch``; True when the run must stop before its end."""
    if cfg.train.max_steps and state.step >= cfg.train.max_steps:
        return True
    model.train()
    sampler.set_epoch(state.epoch, state.batch_in_epoch)
    window_loss, window_audio, window_start = 0.0, 0.0, time.perf_counter()
    window_steps = 0
    hop_seconds = cfg.features.hop_ms / 1000
    bar = progress(loader, show_progress, desc=f"epoch {state.epoch + 1}", unit="batch")
    for batch in bar:
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(batch.features, batch.feature_lengths)
        loss = ctc_loss(out.log_probs, out.output_lengths, batch)
        optimizer.zero_grad(set_to_none=True)
        state.batch_in_epoch += 1
        if not torch.isfinite(loss):
            state.skipped_steps += 1
            logger.warning("non-finite loss at step %d (%s); step skipped", state.step, batch.utt_ids[:3])
            continue
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        state.step += 1
        loss_value = float(loss.detach())
        window_loss += loss_value
        window_audio += float(batch.feature_lengths.sum()) * hop_seconds
        window_steps += 1
        if state.step % cfg.train.log_every == 0:
            elapsed = time.perf_counter() - window_start
            lr = scheduler.get_last_lr()[0]
            speed = window_audio / max(elapsed, 1e-9)
            logger.info(
                "epoch %d step %d: loss %.4f, lr %.2e, grad norm %.2f, %.0fx real time",
                state.epoch + 1,
                state.step,
                window_loss / window_steps,
                lr,
                float(grad_norm),
                speed,
            )
            record(
                "train",
                loss=window_loss / window_steps,
                lr=lr,
                grad_norm=float(grad_norm),
                audio_seconds_per_second=speed,
            )
            window_loss, window_audio, window_start, window_steps = 0.0, 0.0, time.perf_counter(), 0
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss_value:.3f}")
        stop = (cfg.train.max_steps and state.step >= cfg.train.max_steps) or sigterm.is_set()
        if stop or (cfg.train.save_every and state.step % cfg.train.save_every == 0):
            save_checkpoint(checkpoint(), last_path)
        if stop:
            logger.info(
                "stopping at step %d (%s); saved %s",
                state.step,
                "SIGTERM" if sigterm.is_set() else "train.max_steps",
                last_path,
            )
            return True
    return False

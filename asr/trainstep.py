"""One training run's moving parts: its progress (:class:`TrainState`, saved in every
checkpoint), the learning-rate schedule, and :class:`Run`, which takes one guarded optimiser
step and saves or restores everything a resumed run needs. :mod:`asr.train` drives it."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from asr import distributed
from asr.augment import Augmenter
from asr.checkpoint import build_payload, save_checkpoint
from asr.config import ExperimentConfig, from_dict
from asr.data import Batch
from asr.features import FeatureExtractor
from asr.model import AcousticModel, ModelOutput
from asr.runtime import UserError, rng_state, seed_everything, set_rng_state
from asr.text import Vocabulary

logger = logging.getLogger(__name__)


def ctc_loss(log_probs: torch.Tensor, output_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
    """The character CTC loss: :func:`masked_ctc` of the batch's transcripts."""
    return masked_ctc(log_probs, output_lengths, batch.targets, batch.target_lengths)


def masked_ctc(
    log_probs: torch.Tensor, output_lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor
) -> torch.Tensor:
    """CTC loss in fp32, each row's divided by its target length, averaged over the rows that
    have a target (a row of length 0, e.g. distillation only, adds nothing; as PyTorch's "mean"
    when every row has one). The one ``[B, T', V] -> [T', B, V]`` transpose of the pipeline."""
    per_row = F.ctc_loss(log_probs.float().transpose(0, 1), targets, output_lengths, target_lengths, blank=0,
                         reduction="none", zero_infinity=True)  # an infeasible label gives 0, not inf
    has = (target_lengths > 0).to(per_row.dtype)
    return (per_row / target_lengths.clamp(min=1) * has).sum() / has.sum().clamp(min=1)


def phone_ctc_loss(log_probs: torch.Tensor, output_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
    """model.aux_phones's loss: :func:`masked_ctc` of the batch's phone transcripts."""
    if batch.phone_targets is None or batch.phone_lengths is None:
        raise ValueError("model.aux_phones needs phone targets in the batch (AsrDataset phones=...)")
    return masked_ctc(log_probs, output_lengths, batch.phone_targets, batch.phone_lengths)


def distill_loss(pred: torch.Tensor, output_lengths: torch.Tensor, batch: Batch) -> torch.Tensor:
    """train.distill's loss, as DistilHuBERT's: per frame, the mean absolute difference minus log
    sigmoid of the cosine similarity, averaged over the frames both sides have (rows without
    teacher frames add nothing)."""
    if batch.teacher_frames is None or batch.teacher_lengths is None:
        return pred.sum() * 0.0  # no row of this batch has frames
    n = min(pred.shape[1], batch.teacher_frames.shape[1])
    p, q = pred[:, :n].float(), batch.teacher_frames[:, :n].float()
    both = torch.minimum(output_lengths, batch.teacher_lengths)
    keep = (torch.arange(n, device=p.device)[None, :] < both[:, None]).to(p.dtype)
    per_frame = (p - q).abs().mean(-1) - F.logsigmoid(F.cosine_similarity(p, q, dim=-1))
    return (per_frame * keep).sum() / keep.sum().clamp(min=1)


def training_loss(out: ModelOutput, batch: Batch, phone_weight: float, distill_weight: float) -> torch.Tensor:
    """The character CTC plus each training head's loss that ``out`` holds, at its weight."""
    loss = ctc_loss(out.log_probs, out.output_lengths, batch)
    if out.phone_log_probs is not None and phone_weight:
        loss = loss + phone_weight * phone_ctc_loss(out.phone_log_probs, out.output_lengths, batch)
    if out.teacher_pred is not None and distill_weight:
        loss = loss + distill_weight * distill_loss(out.teacher_pred, out.output_lengths, batch)
    return loss


@dataclass
class TrainState:
    """Mutable progress, saved in every checkpoint (never part of the config)."""

    epoch: int = 0  # epoch in progress, 0-based
    batch_in_epoch: int = 0  # batches of that epoch already trained
    step: int = 0  # optimiser steps taken
    best_wer: float = math.inf
    best_cer: float = math.inf  # breaks WER ties, e.g. while WER is still 100%
    best_epoch: int = -1
    epoch_wer: float = math.inf  # validation WER/CER of the last finished epoch (asr average --best)
    epoch_cer: float = math.inf
    skipped_steps: int = 0  # steps skipped for a non-finite loss or gradient, in all
    skipped_in_a_row: int = 0


def lr_lambda(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress_ = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress_))


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp == "none":
        if amp in ("bf16", "fp16") and device.type != "cuda":
            logger.warning(
                "train.amp=%s runs on CUDA only (bf16 trained 21x slower than fp32 on a CPU "
                "without bf16 hardware: benchmarks/README.md, Precision); training in fp32 on %s",
                amp,
                device,
            )
        return None
    return torch.float16 if amp == "fp16" else torch.bfloat16


class NonFiniteError(UserError, RuntimeError):
    """Too many optimiser steps in a row had a NaN/inf loss or gradient."""


@dataclass
class Run:
    """What one training run updates, and what its checkpoints hold."""

    cfg: ExperimentConfig
    model: AcousticModel
    forward: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    extractor: FeatureExtractor
    vocab: Vocabulary
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    device: torch.device
    state: TrainState
    dist: distributed.Dist
    unreadable: set[str] = dataclasses.field(default_factory=set)  # utterances whose audio failed
    # train.features_on=device: the extractor (on the device) and augmenter for waveform batches
    batch_features: tuple[FeatureExtractor, Augmenter] | None = None

    def to_device(self, batch: Batch) -> Batch:
        if self.batch_features is not None:
            with torch.no_grad():
                batch = batch.with_features(*self.batch_features)  # moves the waveforms itself
        return batch.to(self.device, non_blocking=True)

    def save(self, *paths: Path, gather_rng: bool = True) -> None:
        """Rank 0 writes ``paths``; every rank must call this at the same point (it gathers
        each rank's RNG state so a resumed DDP run draws the same dropout masks)."""
        rng: Any = rng_state()
        if self.dist.enabled and gather_rng:
            rng = {"ranks": self.dist.gather(rng)}
        if not self.dist.is_main:
            return
        payload = build_payload(
            self.cfg,
            self.model,
            self.extractor,
            self.vocab,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            train_state=asdict(self.state),
            rng=rng,
        )
        for path in paths:
            save_checkpoint(payload, path)

    def restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        self.state = from_dict(TrainState, payload["train_state"])
        rng = payload["rng"]
        if "ranks" in rng:  # saved by a DDP run
            if len(rng["ranks"]) == self.dist.world_size:
                set_rng_state(rng["ranks"][self.dist.rank])
            else:
                logger.warning("resuming on %d processes a run saved on %d: dropout RNG reseeded",
                               self.dist.world_size, len(rng["ranks"]))  # fmt: skip
                seed_everything(self.cfg.train.seed + 1000 * self.state.step + self.dist.rank)
        else:
            set_rng_state(rng)

    def step(self, batch: Batch) -> tuple[float, float] | None:
        """One optimiser step; returns (loss, gradient norm), or None when it was skipped.

        The test is on the gradient norm after DDP's all-reduce: a NaN/inf loss on any rank
        makes every rank's norm non-finite, so all ranks skip together (no extra collective)."""
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=bool(self.amp_dtype)
        ):
            out = self.forward(batch.features, batch.feature_lengths)
        aux, distill = self.cfg.model.aux_phones, self.cfg.train.distill
        loss = training_loss(out, batch, aux.weight if aux else 0.0, distill.weight if distill else 0.0)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        # the step's one wait for the device: the guard below must know whether to step
        loss_value, grad_norm = torch.stack([loss.detach().float(), norm.float()]).tolist()
        if not math.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.update()  # fp16: lowers the loss scale; a no-op otherwise
            self.state.skipped_steps += 1
            self.state.skipped_in_a_row += 1
            logger.warning("non-finite %s at step %d (batch %s...); step skipped (%d so far)",
                           "loss" if not math.isfinite(loss_value) else "gradient", self.state.step,
                           ", ".join(batch.utt_ids[:3]), self.state.skipped_steps)  # fmt: skip
            patience = self.cfg.train.nonfinite_patience
            if patience and self.state.skipped_in_a_row >= patience:
                raise NonFiniteError(
                    f"{self.state.skipped_in_a_row} steps in a row had a non-finite loss or gradient "
                    f"(last batch: {', '.join(batch.utt_ids[:5])}); lower train.lr, use train.amp=bf16 "
                    "instead of fp16, or check those utterances' audio for NaN samples"
                )
            return None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.step += 1
        self.state.skipped_in_a_row = 0
        return loss_value, grad_norm

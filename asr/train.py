"""Training: an :class:`ExperimentConfig` -> checkpoints in ``exp_dir`` and a :class:`TrainSummary`.

One plain PyTorch loop, top to bottom: data -> model -> fp32 CTC loss -> AdamW
step (clipped, warm-up then cosine decay) -> greedy validation each epoch ->
``checkpoints/last.pt`` and ``checkpoints/best.pt`` (lowest validation WER).
``resume=True`` restores model, optimiser, scheduler, scaler, progress and RNG
from ``last.pt``, so the resumed run follows the same curve. Ctrl-C or SIGTERM
saves ``last.pt`` after the step in flight and returns. A step whose loss or
gradients are not finite is skipped and counted; ``train.nonfinite_patience``
such steps in a row stop the run. Under ``torchrun`` the same loop runs data
parallel (see :mod:`asr.distributed`); rank 0 logs and saves.

Usage: ``asr train recipes/fsdd/config.yaml [--set train.lr=3e-4] [--resume]``
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from asr import distributed
from asr.audio import AudioError
from asr.augment import Augmenter
from asr.checkpoint import read_checkpoint
from asr.config import ConfigError, ExperimentConfig, save_config, to_dict
from asr.data import AsrDataset, Batch, DurationBucketSampler, inference_loader, make_loader
from asr.decode import GreedyDecoder
from asr.manifest import read_manifest
from asr.metrics import score
from asr.model import AcousticModel, count_parameters
from asr.phones import from_arpabet
from asr.recognizer import Recognizer
from asr.runlog import MetricsLog, check_free_space, check_writable
from asr.runtime import (
    inference_batch_seconds,
    log_to_file,
    progress,
    seed_everything,
)
from asr.text import Normalizer, Vocabulary
from asr.trainset import (
    check_resume_config,
    check_texts,
    initial_weights,
    load_initial_weights,
    make_extractor,
    open_teacher,
    phone_targets,
    read_training_data,
)
from asr.trainstep import NonFiniteError, Run, TrainState, amp_dtype, ctc_loss, lr_lambda

logger = logging.getLogger(__name__)


@dataclass
class TrainSummary:
    exp_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    steps: int
    epochs_done: int
    best_wer: float
    stopped_early: bool  # max_steps or a stop signal ended the run before the last epoch


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


def _rank(wer: float, cer: float) -> tuple[float, float]:
    """Order of validation results for best.pt: by WER, but at or past 100% WER (an all-blank
    epoch scores exactly 100%, a model that has begun to spell scores more) by CER alone."""
    return (wer, cer) if wer < 1.0 else (1.0, cer)


def train(
    cfg: ExperimentConfig, resume: bool | str | Path = False, show_progress: bool = True
) -> TrainSummary:
    """Train per ``cfg`` into ``cfg.exp_dir``; ``resume`` is True (``last.pt``) or a checkpoint path."""
    exp_dir = Path(cfg.exp_dir)
    last_path = exp_dir / "checkpoints" / "last.pt"
    resume_path = (last_path if resume is True else Path(resume)) if resume else None
    if resume_path is None and last_path.exists():
        raise FileExistsError(
            f"{last_path} exists: pass resume=True (--resume) to continue it, or choose a new exp_dir"
        )
    check_writable(exp_dir)
    info, device = distributed.init(cfg.train.device)
    try:
        with _rank_logging(info, exp_dir / "train.log"):
            return _train(cfg, exp_dir, resume_path, show_progress and info.is_main, info, device)
    finally:
        distributed.shutdown(info)


@contextlib.contextmanager
def _rank_logging(info: distributed.Dist, log_file: Path) -> Iterator[None]:
    """Rank 0 writes train.log; other ranks report warnings only."""
    if info.is_main:
        with log_to_file(log_file):
            yield
        return
    package_logger = logging.getLogger("asr")
    previous = package_logger.level
    package_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        package_logger.setLevel(previous)


def _train(
    cfg: ExperimentConfig,
    exp_dir: Path,
    resume_path: Path | None,
    show_progress: bool,
    info: distributed.Dist,
    device: torch.device,
) -> TrainSummary:
    last_path, best_path = exp_dir / "checkpoints" / "last.pt", exp_dir / "checkpoints" / "best.pt"
    if info.is_main:
        save_config(cfg, exp_dir / "config.yaml")
    logger.info("config: %s", json.dumps(to_dict(cfg)))
    seed_everything(cfg.train.seed)
    resumed = read_checkpoint(resume_path) if resume_path is not None else None
    if resumed is not None and resume_path is not None:
        check_resume_config(cfg, resumed, resume_path)
    initial = initial_weights(cfg) if resumed is None else None

    # Data: manifests -> vocabulary -> checks -> feature extractor -> loaders.
    normalizer = Normalizer(cfg.text)
    teacher = open_teacher(cfg)
    train_utts, valid_utts = read_training_data(cfg, normalizer, teacher.index if teacher else ())
    if resumed is not None or initial is not None:
        vocab = Vocabulary((resumed or initial or {})["vocabulary"])
    elif cfg.model.units == "phones":
        vocab = Vocabulary.phones()
    else:
        vocab = Vocabulary.build((normalizer(u.text) for u in train_utts), cfg.text.extra_characters)
        if not "".join(vocab.tokens[1:]).strip():  # e.g. distillation pre-training on unlabelled clips
            raise ConfigError(
                "the training transcripts hold no characters, and a model fine-tuned from this one keeps its "
                "vocabulary: list the characters it will learn in text.extra_characters, e.g. "
                "\"text.extra_characters=' abcdefghijklmnopqrstuvwxyz'\""
            )
    logger.info("vocabulary (%d): %s", len(vocab), "".join(vocab.tokens[1:]))
    if vocab.units == "phones":
        logger.info("a phone model: validation WER counts words spelled in phones, CER counts phones")
    check_texts(normalizer, vocab, train_utts, valid_utts)
    extractor = make_extractor(cfg, train_utts, resumed or initial)
    durations = [u.duration for u in train_utts]
    sampler = DurationBucketSampler(
        durations, cfg.data.max_batch_seconds, shuffle=True, sortagrad=cfg.data.sortagrad,
        seed=cfg.train.seed, rank=info.rank, world_size=info.world_size,
    )  # fmt: skip
    noises = read_manifest(cfg.augment.noise_manifest) if cfg.augment.noise_manifest else []
    augmenter = Augmenter(cfg.augment, noises)
    features_on = cfg.train.features_on
    if features_on == "auto":
        features_on = "device" if device.type == "cuda" else "loader"
    phones = phone_targets(normalizer, train_utts) if cfg.model.aux_phones else None
    train_dataset = AsrDataset(train_utts, extractor, normalizer, vocab, augmenter, cfg.train.seed,
                               waveforms=features_on == "device", phones=phones, teacher=teacher)  # fmt: skip
    workers = info.loader_workers(cfg.data.num_workers)
    train_loader = make_loader(
        train_dataset, sampler, workers, cfg.train.seed, pin_memory=device.type == "cuda"
    )
    valid_dataset = AsrDataset(valid_utts, extractor, normalizer, vocab)
    valid_batch = inference_batch_seconds(cfg.decode.batch_seconds, device)
    valid_loader = inference_loader(valid_dataset, valid_batch, workers)

    # Model and optimisation; the schedule spans every planned epoch, whatever max_steps says.
    total_steps = sum(len(sampler.batches(e)) for e in range(cfg.train.epochs))
    model = AcousticModel(cfg.model, cfg.features.n_mels, len(vocab))
    if initial is not None:  # exported checkpoints may hold float16 weights: load_state_dict widens them
        load_initial_weights(model, initial["model"])
        logger.info("initial weights from %s", cfg.train.init_from)
    model = model.to(device)
    forward: torch.nn.Module = model
    if info.enabled:  # rank 0's initial weights are broadcast to all
        forward = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
        model.rnn.flatten_parameters()  # DDP's broadcast leaves cuDNN's weight buffer non-contiguous
        seed_everything(cfg.train.seed + info.rank)  # different dropout masks per rank
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    warmup, min_ratio = cfg.train.warmup_steps, cfg.train.min_lr_ratio
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_lambda(s, warmup, total_steps, min_ratio)
    )
    amp = amp_dtype(cfg.train.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    if info.is_main:
        check_free_space(exp_dir, model, 2 + cfg.train.keep_epochs)
    run = Run(cfg, model, forward, extractor, vocab, optimizer, scheduler, scaler, amp, device,
              TrainState(), info)  # fmt: skip
    recognizer = Recognizer(cfg, model, extractor, vocab, normalizer)  # validation's inference path
    if features_on == "device":
        run.batch_features = (copy.deepcopy(extractor).to(device), augmenter)
    if resumed is not None:
        run.restore(resumed)
        logger.info("resumed from %s at epoch %d, step %d", resume_path, run.state.epoch + 1, run.state.step)
    logger.info(
        "model: %s, %.2fM parameters; %d train / %d valid utterances; %d steps planned; device %s%s%s",
        cfg.model.rnn_type, count_parameters(model) / 1e6, len(train_utts), len(valid_utts),
        total_steps, device, f", amp {amp}" if amp else "",
        f"; {info.world_size} processes (DDP), effective batch {info.world_size} x "
        f"{cfg.data.max_batch_seconds:g} s" if info.enabled else "",
    )  # fmt: skip

    log = MetricsLog(exp_dir, cfg.train.tensorboard, cfg.train.plots, enabled=info.is_main)
    state = run.state
    stopped = False
    with _stop_on_sigterm() as sigterm:
        try:
            while state.epoch < cfg.train.epochs:
                train_dataset.epoch = state.epoch  # augmentation draws from (seed, epoch, index)
                stopped = _train_epoch(run, train_loader, sampler, log, sigterm, show_progress, last_path)
                if stopped:
                    break
                inference = recognizer.infer(valid_loader, device, GreedyDecoder(vocab), loss=ctc_loss)
                hyps, valid_loss, failed = inference.hyps, inference.loss, inference.failed
                if len(failed) == len(valid_utts):
                    raise AudioError(cfg.data.valid_manifest, "none of the validation audio could be read")
                refs = {u.id: u.text for u in valid_utts if u.id not in {f[0] for f in failed}}
                # a phone model is scored in phone text: WER over words spelled in phones, CER over phones
                as_text = from_arpabet if vocab.units == "phones" else str
                report = score(refs, {h.utt_id: as_text(h.text) for h in hyps}, normalizer)
                logger.info("epoch %d validation: loss %.3f, %s", state.epoch + 1, valid_loss or 0, report)
                log.record("valid", state.step, epoch=state.epoch + 1, loss=valid_loss, wer=report.wer,
                           cer=report.cer)  # fmt: skip
                log.plot()
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                state.epoch_wer, state.epoch_cer = report.wer, report.cer
                paths = [last_path]
                if _rank(report.wer, report.cer) < _rank(state.best_wer, state.best_cer):
                    state.best_wer, state.best_cer, state.best_epoch = report.wer, report.cer, state.epoch
                    paths.append(best_path)
                if cfg.train.keep_epochs:
                    paths.append(last_path.with_name(f"epoch{state.epoch:03d}.pt"))
                run.save(*paths)
                if cfg.train.keep_epochs and info.is_main:
                    for old in sorted(last_path.parent.glob("epoch[0-9]*.pt"))[: -cfg.train.keep_epochs]:
                        old.unlink()
        except NonFiniteError:
            run.save(last_path)  # the skipped steps changed nothing: resume after fixing the cause
            logger.error("saved %s at step %d", last_path, state.step)
            raise
        except KeyboardInterrupt:
            run.save(last_path, gather_rng=False)  # ranks may be at different points: no collective
            logger.warning("interrupted: saved %s at step %d; --resume continues", last_path, state.step)
            raise
        finally:
            log.close()
    logger.info("done: %d steps, best validation WER %.2f%% (epoch %d)", state.step, 100 * state.best_wer,
                state.best_epoch)  # fmt: skip
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
    run: Run,
    loader: torch.utils.data.DataLoader[Batch],
    sampler: DurationBucketSampler,
    log: MetricsLog,
    sigterm: threading.Event,
    show_progress: bool,
    last_path: Path,
) -> bool:
    """Train the rest of ``run.state.epoch``; True when the run must stop before its end."""
    cfg, state = run.cfg, run.state
    if cfg.train.max_steps and state.step >= cfg.train.max_steps:
        return True
    run.model.train()
    sampler.set_epoch(state.epoch, state.batch_in_epoch)
    hop_seconds = cfg.features.hop_ms / 1000
    losses: list[float] = []
    audio_seconds, window_start = 0.0, time.perf_counter()
    bar = progress(loader, show_progress, desc=f"epoch {state.epoch + 1}", unit="batch")
    clipped = trained = 0
    for batch in bar:
        for utt_id, reason in batch.failed:
            if utt_id not in run.unreadable:  # once per utterance, not once per epoch
                run.unreadable.add(utt_id)
                logger.warning("%s: left out of training: %s", utt_id, reason)
        if run.dist.any(not batch.utt_ids, run.device):  # all ranks skip, or DDP would wait forever
            state.batch_in_epoch += 1
            continue
        batch = run.to_device(batch)
        result = run.step(batch)
        state.batch_in_epoch += 1
        trained += 1
        out_of_steps = bool(cfg.train.max_steps and state.step >= cfg.train.max_steps)
        stop = run.dist.any(out_of_steps or sigterm.is_set(), run.device)
        if result is None:
            if stop:
                run.save(last_path)
                return True
            continue
        loss, grad_norm = result
        clipped += grad_norm > cfg.train.grad_clip
        losses.append(loss)
        audio_seconds += float(batch.feature_lengths.sum()) * hop_seconds
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.3f}")
        if state.step % cfg.train.log_every == 0:
            speed = audio_seconds / max(time.perf_counter() - window_start, 1e-9)
            lr = run.scheduler.get_last_lr()[0]
            mean_loss = sum(losses) / len(losses)
            speed *= run.dist.world_size  # every rank trains on as much audio
            logger.info("epoch %d step %d: loss %.4f, lr %.2e, grad norm %.2f (%d of %d steps clipped), "
                        "%d skipped, %.0fx real time", state.epoch + 1, state.step, mean_loss, lr, grad_norm,
                        clipped, len(losses), state.skipped_steps, speed)  # fmt: skip
            log.record("train", state.step, loss=mean_loss, lr=lr, grad_norm=grad_norm, clipped=clipped,
                       skipped_steps=state.skipped_steps, audio_seconds_per_second=speed)  # fmt: skip
            losses, audio_seconds, window_start, clipped = [], 0.0, time.perf_counter(), 0
        if stop or (cfg.train.save_every and state.step % cfg.train.save_every == 0):
            run.save(last_path)
        if stop:
            reason = "SIGTERM" if sigterm.is_set() else "train.max_steps"
            logger.info("stopping at step %d (%s); saved %s", state.step, reason, last_path)
            return True
    if not trained and run.unreadable:
        raise AudioError(cfg.data.train_manifest, "none of the training audio in this epoch could be read")
    return False

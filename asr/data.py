"""Data: :class:`Utterance` -> :class:`Example` -> padded :class:`Batch`.

Batches hold utterances of similar duration (bucketing) and are capped by padded
seconds of audio (batch size x longest utterance), which is what memory scales
with. Epoch 1 may go shortest first (SortaGrad); later epochs shuffle batch
order. Batch lists depend only on (seed, epoch), so a resumed run can skip
straight to the batch it stopped at.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, AudioError, load_utterance
from asr.augment import Augmenter, item_generator
from asr.features import FeatureExtractor, from_onset, num_frames
from asr.frames import TeacherFrames
from asr.manifest import Utterance
from asr.text import Normalizer, Vocabulary


@dataclass
class Example:
    utt_id: str
    features: torch.Tensor  # float32 [num_frames, n_mels]; no frames while ``waveform`` is set
    targets: torch.Tensor  # int64 [num_tokens]; empty when there is no vocabulary
    text: str  # raw manifest text, kept for scoring
    error: str = ""  # why the audio could not be read (then features has no frames)
    spec_seed: int = -1  # SpecAugment's seed, for a waveform whose features come later
    waveform: torch.Tensor | None = None  # float32 [num_samples] from a dataset with waveforms=True
    phones: torch.Tensor | None = None  # int64 phone ids (model.aux_phones); empty: a word has none
    teacher: torch.Tensor | None = None  # float32 [frames, dims] (train.distill), on this row's timeline


@dataclass
class Batch:
    utt_ids: list[str]
    features: torch.Tensor  # float32 [B, T_max, n_mels], zero padded
    feature_lengths: torch.Tensor  # int64 [B]
    targets: torch.Tensor  # int64 [B, U_max], zero padded
    target_lengths: torch.Tensor  # int64 [B]
    texts: list[str]
    failed: list[tuple[str, str]] = field(default_factory=list)  # (utt id, reason): left out
    spec_seeds: list[int] = field(default_factory=list)  # per row, while the features are to come
    # Rows whose features the training device computes (train.features_on=device): float32
    # [B, S_max] zero padded and int64 [B] samples; features is then [B, 0, n_mels] until
    # with_features() turns these into it.
    waveforms: torch.Tensor | None = None
    waveform_lengths: torch.Tensor | None = None
    # model.aux_phones's targets: int64 [B, P_max] zero padded and [B]; length 0: no phone transcript
    phone_targets: torch.Tensor | None = None
    phone_lengths: torch.Tensor | None = None
    # train.distill's targets: float32 [B, N_max, dims] zero padded and [B]; length 0: no frames
    teacher_frames: torch.Tensor | None = None
    teacher_lengths: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return dataclasses.replace(
            self,
            features=self.features.to(device, non_blocking=non_blocking),
            feature_lengths=self.feature_lengths.to(device, non_blocking=non_blocking),
            targets=self.targets.to(device, non_blocking=non_blocking),
            target_lengths=self.target_lengths.to(device, non_blocking=non_blocking),
            waveforms=move(self.waveforms),
            waveform_lengths=move(self.waveform_lengths),
            phone_targets=move(self.phone_targets),
            phone_lengths=move(self.phone_lengths),
            teacher_frames=move(self.teacher_frames),
            teacher_lengths=move(self.teacher_lengths),
        )

    def with_features(self, extractor: FeatureExtractor, augmenter: Augmenter | None = None) -> Batch:
        """Waveforms -> features in one batch on the extractor's device (SpecAugment per row
        with the seed the loader drew, so the masks match a loader-side run). Call it before
        :meth:`to`: the lengths stay on the host, so no step waits for the device."""
        if self.waveforms is None or self.waveform_lengths is None:
            return self
        device = extractor.mel.spectrogram.window.device
        waves = self.waveforms.to(device, non_blocking=True)
        frames = num_frames(self.waveform_lengths.cpu(), extractor.cfg)
        if device.type == "cuda":
            frames = frames.pin_memory()  # so the copies below and in to() do not wait
        warps = None
        if augmenter is not None and augmenter.cfg.vtlp_prob > 0:
            warps = torch.tensor([augmenter.warp(seed) for seed in self.spec_seeds], device=device)
        feats = extractor.batch(waves, frames.to(device, non_blocking=True), warps)
        if augmenter is not None:
            for row, (seed, n) in enumerate(zip(self.spec_seeds, frames.tolist())):
                feats[row, :n] = augmenter.features(feats[row, :n], seed)
        return dataclasses.replace(self, features=feats, feature_lengths=frames, spec_seeds=[],
                                   waveforms=None, waveform_lengths=None)  # fmt: skip

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True), so host-to-GPU copies can overlap compute."""
        self.features = self.features.pin_memory()
        self.targets = self.targets.pin_memory()
        self.feature_lengths = self.feature_lengths.pin_memory()
        self.target_lengths = self.target_lengths.pin_memory()
        if self.waveforms is not None and self.waveform_lengths is not None:
            self.waveforms = self.waveforms.pin_memory()
            self.waveform_lengths = self.waveform_lengths.pin_memory()
        return self


class AsrDataset(torch.utils.data.Dataset[Example]):
    """Loads audio, computes features and encodes targets for one utterance at a time.

    Characters the vocabulary lacks are left out of the *targets* only; callers
    report them first (see :func:`asr.text.unknown_report`). The raw text is kept.
    Audio that cannot be read gives an :class:`Example` with ``error`` set, which
    :func:`collate` leaves out of the batch and lists in ``Batch.failed``: one bad file
    costs one utterance, not the run.
    With an ``augmenter``, set ``epoch`` before each epoch: augmentation draws from
    (seed, epoch, index).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        extractor: FeatureExtractor,
        normalizer: Normalizer | None = None,
        vocab: Vocabulary | None = None,
        augmenter: Augmenter | None = None,
        seed: int = 0,
        waveforms: bool = False,
        phones: Mapping[str, list[int]] | None = None,
        teacher: TeacherFrames | None = None,
    ) -> None:
        self.utterances = list(utterances)
        self.extractor = extractor
        self.waveforms = waveforms  # leave features (and SpecAugment) to Batch.with_features
        self.phones = phones  # word -> phone ids, for model.aux_phones's targets
        self.teacher = teacher  # utterance id -> [frames, dims] (asr.frames.TeacherFrames), for train.distill
        self.normalizer = normalizer
        self.vocab = vocab
        self.augmenter = augmenter if augmenter is not None and augmenter.active else None
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.utterances)

    def load_features(self, utt: Utterance, gen: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Features of ``utt`` (or its waveform ``[S]`` with ``waveforms``) and SpecAugment's
        seed, augmented when ``gen`` is given and there is an augmenter."""
        waveform, _ = from_onset(load_utterance(utt), self.extractor.cfg)
        augmenter = self.augmenter if gen is not None else None
        spec_seed = -1
        with torch.no_grad():
            if augmenter is not None and gen is not None:
                waveform = augmenter.waveform(waveform, gen)
                spec_seed = augmenter.spec_seed(gen)
            if self.waveforms:
                return waveform, spec_seed
            if augmenter is None:
                return self.extractor(waveform), spec_seed
            features = self.extractor(waveform, warp=augmenter.warp(spec_seed))
            return augmenter.features(features, spec_seed), spec_seed

    def __getitem__(self, index: int) -> Example:
        utt = self.utterances[index]
        ids: list[int] = []
        phones = None
        if self.vocab is not None and self.normalizer is not None:
            text = self.normalizer(utt.text)
            ids = self.vocab.encode_known(text)
            if self.phones is not None:
                spelled = [self.phones.get(word) for word in text.split()]
                phones = torch.tensor([p for s in spelled for p in s or []] if all(spelled) else [],
                                      dtype=torch.int64)  # fmt: skip
        gen = item_generator(self.seed, self.epoch, index) if self.augmenter is not None else None
        no_frames = torch.zeros(0, self.extractor.cfg.n_mels)
        try:
            loaded, spec_seed = self.load_features(utt, gen)
        except AudioError as err:
            return Example(utt.id, no_frames, torch.zeros(0, dtype=torch.int64), utt.text, error=str(err))
        targets = torch.tensor(ids, dtype=torch.int64)
        features, waveform = (no_frames, loaded) if self.waveforms else (loaded, None)
        teacher = None
        if self.teacher is not None and utt.id in self.teacher:
            frames = waveform.shape[0] if waveform is not None else None
            teacher = self._on_timeline(utt, self.teacher[utt.id], features.shape[0], frames)
        return Example(utt.id, features, targets, utt.text, spec_seed=spec_seed, waveform=waveform,
                       phones=phones, teacher=teacher)  # fmt: skip

    def _on_timeline(
        self, utt: Utterance, stored: Any, feature_frames: int, samples: int | None
    ) -> torch.Tensor:
        """A row's teacher frames, stretched as speed perturbation stretched its audio (the
        stored frames follow the clip as recorded)."""
        frames = torch.from_numpy(np.asarray(stored, dtype=np.float32))
        recorded = num_frames(round(utt.duration * SAMPLE_RATE), self.extractor.cfg)
        now = num_frames(samples, self.extractor.cfg) if samples is not None else feature_frames
        if frames.shape[0] < 2 or abs(now / max(recorded, 1) - 1) < 0.01:
            return frames
        size = max(1, round(frames.shape[0] * now / recorded))
        return torch.nn.functional.interpolate(frames.T[None], size=size, mode="linear")[0].T


def collate(examples: Sequence[Example]) -> Batch:
    """Pad to the longest example; lengths are the true integer sizes. Examples whose audio
    failed to load are left out and listed in ``failed`` (the batch may end up empty)."""
    failed = [(e.utt_id, e.error) for e in examples if e.error]
    n_mels = examples[0].features.shape[1]
    examples = [e for e in examples if not e.error]
    if not examples:
        empty = torch.zeros(0, 1, dtype=torch.int64)
        return Batch([], torch.zeros(0, 1, n_mels), torch.zeros(0, dtype=torch.int64), empty,
                     torch.zeros(0, dtype=torch.int64), [], failed)  # fmt: skip
    feature_lengths = torch.tensor([e.features.shape[0] for e in examples], dtype=torch.int64)
    target_lengths = torch.tensor([e.targets.shape[0] for e in examples], dtype=torch.int64)
    features = torch.zeros(len(examples), int(feature_lengths.max()), n_mels)
    targets = torch.zeros(len(examples), max(int(target_lengths.max()), 1), dtype=torch.int64)
    for i, e in enumerate(examples):
        features[i, : e.features.shape[0]] = e.features
        targets[i, : e.targets.shape[0]] = e.targets
    waveforms, waveform_lengths = _padded([e.waveform for e in examples])
    teacher_frames, teacher_lengths = _padded([e.teacher for e in examples])
    phone_targets, phone_lengths = _padded([e.phones for e in examples])
    return Batch(
        utt_ids=[e.utt_id for e in examples],
        features=features,
        feature_lengths=feature_lengths,
        targets=targets,
        target_lengths=target_lengths,
        texts=[e.text for e in examples],
        failed=failed,
        spec_seeds=[e.spec_seed for e in examples],
        waveforms=waveforms,
        waveform_lengths=waveform_lengths,
        phone_targets=phone_targets,
        phone_lengths=phone_lengths,
        teacher_frames=teacher_frames,
        teacher_lengths=teacher_lengths,
    )


def _padded(rows: list[torch.Tensor | None]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Optional per-row tensors (``[n, ...]``) zero padded to ``[B, max(n, 1), ...]`` and their
    lengths, a missing row counting 0; (None, None) when no row has one."""
    present = [r for r in rows if r is not None]
    if not present:
        return None, None
    lengths = torch.tensor([0 if r is None else r.shape[0] for r in rows])
    out = torch.zeros(len(rows), max(int(lengths.max()), 1), *present[0].shape[1:], dtype=present[0].dtype)
    for i, r in enumerate(rows):
        if r is not None:
            out[i, : r.shape[0]] = r
    return out, lengths


class DurationBucketSampler(torch.utils.data.Sampler[list[int]]):
    """Yields lists of indices whose padded duration stays within ``max_batch_seconds``.

    Args:
        durations: seconds per utterance, in dataset order.
        max_batch_seconds: cap on ``len(batch) * longest`` (a longer utterance forms
            a batch of its own).
        shuffle: jitter durations by +-``jitter`` so batches mix across epochs, and
            shuffle batch order; off for evaluation (ascending durations).
        sortagrad: with ``shuffle``, epoch 0 keeps ascending order.
        rank, world_size: under DDP every rank builds the same epoch plan and takes every
            ``world_size``-th batch; the plan is cut to a multiple of ``world_size`` so all
            ranks take the same number of steps.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        shuffle: bool = True,
        sortagrad: bool = False,
        seed: int = 0,
        jitter: float = 0.1,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.rank, self.world_size = rank, world_size
        self.durations = [float(d) for d in durations]
        self.max_batch_seconds = float(max_batch_seconds)
        self.shuffle = shuffle
        self.sortagrad = sortagrad
        self.seed = seed
        self.jitter = jitter
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's batch list; ``start_batch`` skips batches already trained on."""
        self.epoch = epoch
        self.start_batch = start_batch

    def batches(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        keys = self.durations
        if self.shuffle:
            keys = [d * (1.0 + rng.uniform(-self.jitter, self.jitter)) for d in keys]
        order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0.0
        for i in order:
            new_longest = max(longest, self.durations[i])
            if current and (len(current) + 1) * new_longest > self.max_batch_seconds:
                batches.append(current)
                current, new_longest = [], self.durations[i]
            current.append(i)
            longest = new_longest
        if current:
            batches.append(current)
        if self.shuffle and not (self.sortagrad and epoch == 0):
            rng.shuffle(batches)
        if self.world_size > 1:
            batches = batches[: len(batches) - len(batches) % self.world_size][self.rank :: self.world_size]
        return batches

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.batches(self.epoch)[self.start_batch :]

    def __len__(self) -> int:
        return len(self.batches(self.epoch)) - self.start_batch


def make_loader(
    dataset: AsrDataset,
    sampler: DurationBucketSampler,
    num_workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader[Batch]:
    """Batches from ``sampler``, padded by :func:`collate`. The loader's own generator keeps
    the global RNG untouched, so resuming a run does not shift dropout randomness."""
    batches: torch.utils.data.Dataset[Any] = dataset  # items are Examples; collate makes Batches
    return torch.utils.data.DataLoader(
        batches,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=pin_memory,
    )


def inference_loader(
    dataset: AsrDataset, batch_seconds: float, num_workers: int = 0
) -> torch.utils.data.DataLoader[Batch]:
    """Every utterance once, in batches of similar duration (shortest first), for decoding."""
    durations = [u.duration for u in dataset.utterances]
    return make_loader(dataset, DurationBucketSampler(durations, batch_seconds, shuffle=False), num_workers)

"""Validation: manifest rows -> kept rows + rejected rows, each rejection with its reason.

Checks, in order: the audio file exists and its header reads; the duration is within
bounds; the normalised transcript is not empty; its characters are in the alphabet
(when one is given); and it is short enough for CTC to align it to the model's output
frames. Used by ``asr prep`` (bad rows go to ``<split>.rejected.jsonl``), ``asr validate``
and training (which reports, and keeps, what it cannot fix).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from asr.audio import SAMPLE_RATE, AudioError, audio_duration, check_samples
from asr.config import FeatureConfig, ModelConfig
from asr.features import num_frames
from asr.manifest import Utterance
from asr.model import output_length
from asr.text import Normalizer

ENGLISH_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz' ")


@dataclass(frozen=True)
class Limits:
    min_duration: float = 0.1  # seconds
    max_duration: float = 40.0
    alphabet: frozenset[str] | None = ENGLISH_ALPHABET  # None: any character
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig | None = field(default_factory=ModelConfig)  # None: skip the CTC check
    check_audio: bool = True  # read each file's header
    require_speaker: bool = False  # rows without a speaker are rejected (speaker-disjoint splits need one)


@dataclass
class ValidationReport:
    kept: list[Utterance]
    rejected: list[tuple[Utterance, str]]

    @property
    def hours(self) -> float:
        return sum(u.duration for u in self.kept) / 3600

    def reasons(self) -> Counter[str]:
        """Rejections counted by kind (the reason's text before any colon)."""
        return Counter(reason.split(":")[0] for _, reason in self.rejected)

    def summary(self, name: str) -> str:
        line = f"{name}: {len(self.kept)} kept ({self.hours:.2f} h), {len(self.rejected)} rejected"
        if self.rejected:
            line += " (" + ", ".join(f"{n} {kind}" for kind, n in self.reasons().most_common()) + ")"
        return line


def ctc_frames_needed(text: str) -> int:
    """Output frames CTC needs: one per character plus a blank between repeated ones.

    >>> ctc_frames_needed("hello")
    6
    """
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def ctc_infeasible(text: str, duration: float, features: FeatureConfig, model: ModelConfig) -> bool:
    frames = output_length(model, num_frames(int(duration * SAMPLE_RATE), features))
    return ctc_frames_needed(text) > frames


def problem(utt: Utterance, normalizer: Normalizer, limits: Limits) -> str | None:
    """The first reason to reject ``utt``, or None."""
    if limits.require_speaker and not utt.speaker:
        return "no speaker"
    if limits.check_audio:
        try:
            file_seconds = audio_duration(utt.audio_filepath)
            check_samples(utt.audio_filepath)
        except AudioError as err:
            return f"unreadable audio: {err.reason}"
        if utt.offset + utt.duration > file_seconds + 0.1:
            return (
                f"duration past the end of the file: {utt.offset + utt.duration:.2f} s > {file_seconds:.2f} s"
            )
    if utt.duration < limits.min_duration:
        return f"too short: {utt.duration:.2f} s"
    if utt.duration > limits.max_duration:
        return f"too long: {utt.duration:.2f} s"
    text = normalizer(utt.text)
    if not text:
        return "empty transcript"
    if limits.alphabet is not None:
        unknown = sorted(set(text) - limits.alphabet)
        if unknown:
            return "characters outside the alphabet: " + " ".join(repr(c) for c in unknown)
    if limits.model is not None and ctc_infeasible(text, utt.duration, limits.features, limits.model):
        return f"label too long for its audio: {ctc_frames_needed(text)} frames needed"
    return None


def validate(utterances: Iterable[Utterance], normalizer: Normalizer, limits: Limits) -> ValidationReport:
    kept: list[Utterance] = []
    rejected: list[tuple[Utterance, str]] = []
    for utt in utterances:
        reason = problem(utt, normalizer, limits)
        if reason is None:
            kept.append(utt)
        else:
            rejected.append((utt, reason))
    return ValidationReport(kept, rejected)


def format_rejections(rejected: Sequence[tuple[Utterance, str]], limit: int = 10) -> str:
    lines = [f"  {utt.id} ({utt.audio_filepath}): {reason}" for utt, reason in rejected[:limit]]
    if len(rejected) > limit:
        lines.append(f"  ... and {len(rejected) - limit} more")
    return "\n".join(lines)

"""What every preparer shares: validated manifest writing, group-safe splits, merging."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from asr.audio import AUDIO_SUFFIXES, AudioError, audio_duration, audio_files  # noqa: F401 (re-exported)
from asr.config import TextConfig
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.text import Normalizer
from asr.validate import Limits, ValidationReport, format_rejections, validate

OUT_DIR_HELP = "folder for the manifests (created)"

logger = logging.getLogger(__name__)
def probe_duration(path: Path) -> float:
    """Header duration in seconds, or 0.0 for a missing or unreadable file: such rows are
    then rejected by validation, which names the exact reason, instead of stopping the prep."""
    try:
        return audio_duration(path)
    except AudioError:
        return 0.0


def write_splits(
    splits: dict[str, list[Utterance]],
    out_dir: Path,
    limits: Limits | None = None,
    text: TextConfig | None = None,
) -> dict[str, Path]:
    """Validate each split, write the kept rows to ``<split>.jsonl`` and the rejected ones,
    each with its ``reason``, to ``<split>.rejected.jsonl``; log one summary line per split."""
    limits = limits or Limits()
    normalizer = Normalizer(text or TextConfig())
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, utterances in splits.items():
        report = validate(utterances, normalizer, limits)
        paths[name] = write_manifest(report.kept, out_dir / f"{name}.jsonl")
        _write_rejected(report, out_dir / f"{name}.rejected.jsonl")
        logger.info("%s", report.summary(f"{out_dir / name}.jsonl"))
        if report.rejected:
            logger.warning("rejected rows of %s:\n%s", name, format_rejections(report.rejected))
    return paths


def _write_rejected(report: ValidationReport, path: Path) -> None:
    if not report.rejected:
        path.unlink(missing_ok=True)
        return
    with path.open("w", encoding="utf-8") as handle:
        for utt, reason in report.rejected:
            row = {"id": utt.id, "audio_filepath": str(utt.audio_filepath), "duration": utt.duration,
                   "text": utt.text, "reason": reason}  # fmt: skip
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def speaker_of(utt: Utterance) -> str:
    if utt.speaker is None:
        raise ValueError(f"utterance {utt.id} has no speaker; split by chapter or utterance instead")
    return utt.speaker


def chapter_of(utt: Utterance) -> str:
    """The id without its last ``-`` field: ``LJ001-0001`` -> ``LJ001``, ``84-1211-0000`` -> ``84-1211``."""
    return utt.id.rsplit("-", 1)[0]


GROUPINGS: dict[str, Callable[[Utterance], str]] = {
    "speaker": speaker_of,
    "chapter": chapter_of,
    "utterance": lambda u: u.id,
}


def split_groups(
    utterances: Sequence[Utterance],
    by: str = "speaker",
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    valid_count: int | None = None,
    test_count: int | None = None,
    test_groups: Sequence[str] = (),
) -> dict[str, list[Utterance]]:
    """Train/valid/test with whole groups on one side: no speaker (or chapter) is in two splits.

    ``test_groups`` are named test groups; the rest of the test side and the valid side are drawn
    from the shuffled groups (``seed``): ``*_count`` groups each, or else ``*_fraction`` of the
    groups (at least one where the fraction is not zero).
    """
    key = GROUPINGS[by]
    groups = sorted({key(u) for u in utterances})
    unknown = sorted(set(test_groups) - set(groups))
    if unknown:
        raise ValueError(f"test {by}(s) {unknown} not in the manifest")
    drawn = [g for g in groups if g not in set(test_groups)]
    random.Random(seed).shuffle(drawn)

    def size(count: int | None, fraction: float) -> int:
        if count is not None:
            return count
        return max(1, round(fraction * len(groups))) if fraction > 0 else 0

    n_test = max(0, size(test_count, test_fraction) - len(test_groups))
    n_valid = size(valid_count, valid_fraction)
    if n_test + n_valid >= len(drawn):
        raise ValueError(f"{len(groups)} {by} groups are too few for the valid and test splits asked for")
    side = {g: "test" for g in [*test_groups, *drawn[:n_test]]}
    side.update({g: "valid" for g in drawn[n_test : n_test + n_valid]})
    splits: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for utt in utterances:
        splits[side.get(key(utt), "train")].append(utt)
    return splits


def merge_manifests(
    paths: Iterable[Path], out: Path, weights: Sequence[float] | None = None, seed: int = 0
) -> Path:
    """Concatenate manifests; ids must stay unique across them (a repeat is an error).

    ``weights`` (one per manifest, default 1) re-balance a mix without copying audio: 2 lists each
    row twice (the copy's id gets ``~rep1``), 0.5 keeps a seeded random half, 2.5 both."""
    paths = list(paths)
    weights = [1.0] * len(paths) if weights is None else list(weights)
    if len(weights) != len(paths) or any(w <= 0 for w in weights):
        raise ValueError(f"--weights needs one positive number per manifest ({len(paths)}), got {weights}")
    rng = random.Random(seed)
    merged: list[Utterance] = []
    seen: dict[str, Path] = {}
    for path, weight in zip(paths, weights):
        rows = read_manifest(path)
        for utt in rows:
            if utt.id in seen:
                raise ValueError(f"id {utt.id!r} is in both {seen[utt.id]} and {path}")
            seen[utt.id] = path
        whole, part = divmod(weight, 1.0)
        picked = [r for _ in range(int(whole)) for r in rows] + rng.sample(rows, round(part * len(rows)))
        counts: dict[str, int] = {}
        for utt in picked:
            n = counts[utt.id] = counts.get(utt.id, -1) + 1
            merged.append(utt if n == 0 else replace(utt, id=f"{utt.id}~rep{n}"))
    return write_manifest(merged, out)


def audio_file(folder: Path, stem: str, preferred: str = AUDIO_SUFFIXES[0]) -> Path:
    """``folder/stem`` with the first suffix we read that exists (``preferred`` first); the
    ``preferred`` name when none does, so validation reports the file as missing."""
    for suffix in (preferred, *(s for s in AUDIO_SUFFIXES if s != preferred)):
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    return folder / f"{stem}{preferred}"



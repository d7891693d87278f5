"""Free Spoken Digit Dataset: isolated English digits, 8 kHz wav.

Files are named ``{digit}_{speaker}_{index}.wav``; the transcript is the digit's
word. Splits: indices 0-4 of every speaker are ``test`` (the dataset's own
convention), 5-9 are ``valid``, the rest ``train``. For a speaker-independent
test, hold a speaker out with your own manifest filter.
"""

from __future__ import annotations

import re
from pathlib import Path

from asr.audio import audio_duration
from asr.manifest import Utterance, write_manifest

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")


def split_of(index: int) -> str:
    return "test" if index < 5 else "valid" if index < 10 else "train"


def prepare(corpus_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write ``{train,valid,test}.jsonl`` into ``out_dir`` for the wavs in ``corpus_dir``
    (searched recursively, so the repository's ``recordings/`` folder works too)."""
    rows: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    wavs = sorted(Path(corpus_dir).rglob("*.wav"))
    if not wavs:
        raise FileNotFoundError(f"no .wav files under {corpus_dir}")
    for wav in wavs:
        match = _NAME.match(wav.stem)
        if match is None:
            continue
        digit, speaker, index = int(match[1]), match[2], int(match[3])
        rows[split_of(index)].append(
            Utterance(
                id=wav.stem,
                audio_filepath=wav.resolve(),
                duration=audio_duration(wav),
                text=WORDS[digit],
                speaker=speaker,
            )
        )
    return {split: write_manifest(utts, Path(out_dir) / f"{split}.jsonl") for split, utts in rows.items()}

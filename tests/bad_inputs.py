"""The bad-input corpus: every kind of broken input, through every command, with its outcome.

Each kind is one bad item among good ones (tone-language clips from conftest). Each command
runs in-process through ``asr.cli.main`` on a fresh copy:

  prep        asr prep folder CORPUS OUT      (audio + same-named .txt transcripts)
  train       asr train (tiny model, 2 epochs) on a manifest holding the bad row
  evaluate    asr evaluate on a manifest holding the bad row
  transcribe  asr transcribe GOOD.wav BAD.wav

``python tests/bad_inputs.py`` prints the table in docs/deployment.md (Reliability);
tests/test_bad_inputs.py asserts every cell against EXPECTED below, so the table cannot drift
from what the code does.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from conftest import RATE, TINY_OVERRIDES, tone_speech  # noqa: E402

GOOD_TEXTS = ["abc", "cab", "bad", "dab cab"]
COMMANDS = ("prep", "train", "evaluate", "transcribe")


@dataclass
class Case:
    """One bad item: its audio file (absent = missing), transcript bytes, and manifest row."""

    audio: Path
    transcript: bytes = b"bad cab"
    row: str | None = None  # raw manifest line, when the row itself is the broken part
    duplicate_id: bool = False
    duration: float | None = None  # manifest duration when the header cannot give one
    not_applicable: tuple[str, ...] = ()


def _tone(path: Path, text: str = "bad cab", **kwargs: object) -> Path:
    soundfile.write(path, tone_speech(text), RATE, **kwargs)  # type: ignore[arg-type]
    return path


def _empty_file(d: Path) -> Case:
    (d / "bad.wav").write_bytes(b"")
    return Case(d / "bad.wav", duration=1.0)


def _zero_length(d: Path) -> Case:
    soundfile.write(d / "bad.wav", np.zeros(0, np.float32), RATE)
    return Case(d / "bad.wav", duration=1.0)


def _truncated_wav(d: Path) -> Case:
    data = _tone(d / "full.wav").read_bytes()
    (d / "bad.wav").write_bytes(data[: len(data) // 2])
    (d / "full.wav").unlink()
    return Case(d / "bad.wav")


def _truncated_flac(d: Path) -> Case:
    data = _tone(d / "full.flac", format="FLAC").read_bytes()
    (d / "bad.flac").write_bytes(data[: len(data) // 2])
    (d / "full.flac").unlink()
    return Case(d / "bad.flac", duration=1.0)


def _text_named_wav(d: Path) -> Case:
    (d / "bad.wav").write_text("this is not audio\n" * 20)
    return Case(d / "bad.wav", duration=1.0)


def _eight_bit(d: Path) -> Case:
    return Case(_tone(d / "bad.wav", subtype="PCM_U8"))


def _twenty_four_bit(d: Path) -> Case:
    return Case(_tone(d / "bad.wav", subtype="PCM_24"))


def _float_wav(d: Path) -> Case:
    return Case(_tone(d / "bad.wav", subtype="FLOAT"))


def _stereo_48k(d: Path) -> Case:
    mono = tone_speech("bad cab", rate=48000)
    soundfile.write(d / "bad.wav", np.stack([mono, 0.5 * mono], axis=1), 48000)
    return Case(d / "bad.wav")


def _one_hour(d: Path) -> Case:
    """An hour of low noise (16-bit, 115 MB) written in blocks, never held in memory whole."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(d / "bad.wav", "w", RATE, 1, "PCM_16") as handle:
        for _ in range(60):
            handle.write((0.01 * rng.standard_normal(60 * RATE)).astype(np.float32))
    return Case(d / "bad.wav")


def _silence(d: Path) -> Case:
    soundfile.write(d / "bad.wav", np.zeros(RATE, np.float32), RATE)
    return Case(d / "bad.wav")


def _clipped(d: Path) -> Case:
    soundfile.write(d / "bad.wav", np.clip(20 * tone_speech("bad cab"), -1, 1), RATE)
    return Case(d / "bad.wav")


def _nan_samples(d: Path) -> Case:
    samples = tone_speech("bad cab")
    samples[100:200] = np.nan
    soundfile.write(d / "bad.wav", samples, RATE, subtype="FLOAT")
    return Case(d / "bad.wav")


def _unknown_characters(d: Path) -> Case:
    return Case(_tone(d / "bad.wav"), transcript="bad ж cab ü".encode(), not_applicable=("transcribe",))


def _empty_transcript(d: Path) -> Case:
    return Case(_tone(d / "bad.wav"), transcript=b"   ", not_applicable=("transcribe",))


def _non_utf8_transcript(d: Path) -> Case:
    return Case(_tone(d / "bad.wav"), transcript=b"ba\xff\xfed", not_applicable=("transcribe",))


def _missing_audio(d: Path) -> Case:
    return Case(d / "bad.wav", duration=1.0, not_applicable=("prep",))


def _ctc_infeasible(d: Path) -> Case:
    """Forty characters in 0.3 s: more labels than the model has output frames."""
    soundfile.write(d / "bad.wav", tone_speech("a")[: int(0.3 * RATE)], RATE)
    return Case(d / "bad.wav", transcript=b"abcdefgh" * 5)


def _duplicate_id(d: Path) -> Case:
    return Case(_tone(d / "bad.wav"), duplicate_id=True, not_applicable=("prep", "transcribe"))


def _not_json(d: Path) -> Case:
    return Case(
        _tone(d / "bad.wav"), row='{"id": "bad", "audio_filepath": ', not_applicable=("prep", "transcribe")
    )


KINDS: dict[str, Callable[[Path], Case]] = {
    "empty file (0 bytes)": _empty_file,
    "zero-length audio": _zero_length,
    "truncated wav": _truncated_wav,
    "truncated flac": _truncated_flac,
    "text file named .wav": _text_named_wav,
    "8-bit wav": _eight_bit,
    "24-bit wav": _twenty_four_bit,
    "float wav": _float_wav,
    "48 kHz stereo": _stereo_48k,
    "1-hour file": _one_hour,
    "pure silence": _silence,
    "clipped audio": _clipped,
    "NaN samples (float wav)": _nan_samples,
    "unknown characters": _unknown_characters,
    "empty transcript": _empty_transcript,
    "non-UTF-8 transcript": _non_utf8_transcript,
    "missing audio file": _missing_audio,
    "label longer than output frames": _ctc_infeasible,
    "duplicate utterance id": _duplicate_id,
    "manifest line not JSON": _not_json,
}


# What each command must do with each kind (prep, train, evaluate, transcribe). A broken
# manifest line fails the command: a manifest that is not what its writer meant may be cut
# short or shifted, and training on the rest without the user knowing is worse.
EXPECTED: dict[str, tuple[str, str, str, str]] = {
    "empty file (0 bytes)": ("skipped", "skipped", "skipped", "skipped"),
    "zero-length audio": ("skipped", "skipped", "skipped", "skipped"),
    "truncated wav": ("ok", "ok", "ok", "ok"),  # libsndfile reads the samples that are there
    "truncated flac": ("ok", "skipped", "skipped", "skipped"),  # prep reads headers only
    "text file named .wav": ("skipped", "skipped", "skipped", "skipped"),
    "8-bit wav": ("ok", "ok", "ok", "ok"),
    "24-bit wav": ("ok", "ok", "ok", "ok"),
    "float wav": ("ok", "ok", "ok", "ok"),
    "48 kHz stereo": ("ok", "ok", "ok", "ok"),
    "1-hour file": ("skipped", "skipped", "ok", "ok"),
    "pure silence": ("ok", "ok", "ok", "ok"),
    "clipped audio": ("ok", "ok", "ok", "ok"),
    "NaN samples (float wav)": ("skipped", "skipped", "skipped", "skipped"),
    "unknown characters": ("skipped", "warned", "ok", "n/a"),
    "empty transcript": ("skipped", "skipped", "ok", "n/a"),
    "non-UTF-8 transcript": ("skipped", "failed", "failed", "n/a"),
    "missing audio file": ("n/a", "skipped", "skipped", "skipped"),
    "label longer than output frames": ("skipped", "skipped", "ok", "ok"),
    "duplicate utterance id": ("n/a", "failed", "failed", "n/a"),
    "manifest line not JSON": ("n/a", "failed", "failed", "n/a"),
}


@dataclass
class Outcome:
    """What one command did with one kind: ``ok`` (used, silently), ``warned`` (used, with a
    warning naming it), ``skipped`` (left out, named, the rest processed), ``failed`` (non-zero
    exit), or ``n/a``; plus the first message about it."""

    result: str
    exit_code: int | None = None
    message: str = ""
    names_it: bool = True  # the message names the file, utterance or manifest line

    def cell(self) -> str:
        if self.result == "n/a":
            return "n/a"
        text = self.result if self.exit_code in (0, None) else f"{self.result} (exit {self.exit_code})"
        return f"{text}: {self.message}" if self.message else text


@dataclass
class Workspace:
    """Good clips, a checkpoint trained on them once, and a scratch folder per run."""

    root: Path
    checkpoint: Path | None = None
    good_rows: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        good = self.root / "good"
        good.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(GOOD_TEXTS):
            path = good / f"good{i}.wav"
            samples = tone_speech(text, seed=i)
            soundfile.write(path, samples, RATE)
            (good / f"good{i}.txt").write_text(text)
            self.good_rows.append({"id": f"good{i}", "audio_filepath": str(path),
                                   "duration": samples.size / RATE, "text": text})  # fmt: skip

    def config(self, manifest: Path, valid: Path, exp: Path, epochs: int) -> list[str]:
        """``asr train`` arguments: a YAML naming the experiment folder, the rest as --set."""
        exp.mkdir(parents=True, exist_ok=True)
        (exp.parent / "config.yaml").write_text(f"exp_dir: {exp}\n")
        sets = [*TINY_OVERRIDES, f"train.epochs={epochs}", f"data.train_manifest='{manifest}'",
                f"data.valid_manifest='{valid}'"]  # fmt: skip
        return [str(exp.parent / "config.yaml"), *("--set=" + s for s in sets)]

    def trained(self) -> Path:
        if self.checkpoint is None:
            manifest = self.root / "good.jsonl"
            manifest.write_text("".join(json.dumps(r) + "\n" for r in self.good_rows))
            code, _ = run_cli(["train", "-q", *self.config(manifest, manifest, self.root / "exp", 30)])
            assert code == 0, "training on the good clips failed"
            self.checkpoint = self.root / "exp" / "checkpoints" / "last.pt"
        return self.checkpoint


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``asr ARGV`` in this process: (exit code, everything it logged or printed)."""
    from asr.cli import main

    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse
            code = int(stop.code or 0)
    import logging

    for handler in list(logging.getLogger().handlers):  # drop the handler bound to our buffer
        if getattr(handler, "_asr", False):
            logging.getLogger().removeHandler(handler)
    return code, out.getvalue()


def _write_manifest(path: Path, case: Case, ws: Workspace) -> Path:
    """Good rows plus the bad one; a non-UTF-8 transcript goes in as raw bytes, as a broken
    exporter would write it."""
    lines = [json.dumps(r).encode() for r in ws.good_rows]
    if case.row is not None:
        lines.append(case.row.encode())
    else:
        duration = case.duration
        if duration is None:
            duration = soundfile.info(str(case.audio)).duration
        head = {"id": "good0" if case.duplicate_id else "bad", "audio_filepath": str(case.audio),
                "duration": duration}  # fmt: skip
        try:
            text = json.dumps(case.transcript.decode("utf-8"), ensure_ascii=False).encode()
        except UnicodeDecodeError:
            text = b'"' + case.transcript + b'"'
        lines.append(json.dumps(head)[:-1].encode() + b', "text": ' + text + b"}")
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _mentions(log: str, case: Case) -> bool:
    return any(key in log for key in (case.audio.name, "bad", "good0", ":5"))


def _first_line_about(log: str, *keys: str) -> str:
    for line in log.splitlines():
        if any(k in line for k in keys) and ("WARNING" in line or "ERROR" in line):
            return line.split(" ", 1)[1] if line.startswith(("WARNING", "ERROR")) else line
    return ""


def _short(message: str, root: Path) -> str:
    message = message.replace(str(root) + "/", "").replace(str(root), "")
    return message if len(message) <= 90 else message[:87] + "..."


def run_kind(kind: str, command: str, ws: Workspace) -> Outcome:
    with tempfile.TemporaryDirectory(dir=ws.root) as tmp:
        d = Path(tmp)
        case = KINDS[kind](d)
        if command in case.not_applicable:
            return Outcome("n/a")
        if command == "prep":
            corpus = d
            for i in range(len(GOOD_TEXTS)):
                shutil.copy(ws.root / "good" / f"good{i}.wav", corpus)
                shutil.copy(ws.root / "good" / f"good{i}.txt", corpus)
            case.audio.with_suffix(".txt").write_bytes(case.transcript)
            code, log = run_cli(["prep", "folder", str(corpus), str(d / "out")])
            out = d / "out" / "all.jsonl"
            kept = {json.loads(x)["id"] for x in out.read_text().splitlines()} if out.exists() else set()
            rejected = d / "out" / "all.rejected.jsonl"
            rejected_rows = (
                [json.loads(x) for x in rejected.read_text().splitlines()] if rejected.exists() else []
            )
            good_kept = sum(f"good{i}" in kept for i in range(len(GOOD_TEXTS)))
            if code != 0:
                return Outcome("failed", code, _short(_first_line_about(log, "ERROR"), d))
            if good_kept < len(GOOD_TEXTS):
                return Outcome("lost good rows", code)
            if any(r.get("id") == "bad" for r in rejected_rows):
                reason = next(r.get("reason", "") for r in rejected_rows if r.get("id") == "bad")
                return Outcome("skipped", 0, _short(f"{case.audio.name}: {reason}", d))
            warning = _first_line_about(log, case.audio.stem)
            if "bad" not in kept:
                return Outcome("skipped" if warning else "lost silently", 0, _short(warning, d))
            return Outcome("warned" if warning else "ok", 0, _short(warning, d))
        manifest = _write_manifest(d / "m.jsonl", case, ws)
        if command == "train":
            valid = d / "valid.jsonl"
            valid.write_text("".join(json.dumps(r) + "\n" for r in ws.good_rows))
            code, log = run_cli(["train", "-q", *ws.config(manifest, valid, d / "exp", 2)])
        elif command == "evaluate":
            code, log = run_cli(["evaluate", "-q", "--model", str(ws.trained()), "--manifest", str(manifest),
                                 "--out", str(d / "dec"), "--json"])  # fmt: skip
        else:
            good = ws.root / "good" / "good0.wav"
            code, log = run_cli(
                ["transcribe", "-q", "--model", str(ws.trained()), str(good), str(case.audio)]
            )
        message = _first_line_about(log, case.audio.name, '"bad"', "bad:", " bad", "m.jsonl", "good0")
        if code != 0:
            return Outcome(
                "failed", code, _short(message or log.strip().splitlines()[-1], d), _mentions(log, case)
            )
        if command == "evaluate":
            scored = json.loads(log.strip().splitlines()[-1])["utterances"]
            result = {5: "warned" if message else "ok", 4: "skipped"}.get(scored, f"{scored} scored")
        elif command == "transcribe":
            result = "skipped" if message else "ok"
        else:
            result = "skipped" if "left out" in message else "warned" if message else "ok"
        return Outcome(result, 0, _short(message, d))


def table(ws: Workspace, kinds: list[str] | None = None) -> str:
    lines = ["| input | " + " | ".join(f"asr {c}" for c in COMMANDS) + " |",
             "|---|" + "---|" * len(COMMANDS)]  # fmt: skip
    for kind in kinds or list(KINDS):
        cells = [run_kind(kind, c, ws).cell().replace("|", "\\|") for c in COMMANDS]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as root:
        print(table(Workspace(Path(root)), sys.argv[1:] or None))

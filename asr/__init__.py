"""asr: recurrent CTC speech recognition.

audio -> log-mel -> conv + Bi-GRU/LSTM -> CTC log-probs -> greedy decoding -> WER.

Python use::

    import asr
    model = asr.load_model("exp/checkpoints/best.pt")
    texts = [t.text for t in asr.transcribe(model, ["a.wav", "b.flac"])]
"""

from __future__ import annotations

from asr.config import DecodeConfig, ExperimentConfig, load_config
from asr.evaluate import evaluate
from asr.load import load_model
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.recognizer import Recognizer
from asr.stream import Streamer
from asr.train import train
from asr.transcribe import Transcript, transcribe
from asr.version import __version__

__all__ = [
    "DecodeConfig",
    "ExperimentConfig",
    "Recognizer",
    "Streamer",
    "Transcript",
    "Utterance",
    "__version__",
    "evaluate",
    "load_config",
    "load_model",
    "read_manifest",
    "train",
    "transcribe",
    "write_manifest",
]

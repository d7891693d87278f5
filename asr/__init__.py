"""asr: recurrent CTC speech recognition.

audio -> log-mel -> conv + Bi-GRU/LSTM -> CTC log-probs -> greedy decoding -> WER.

Python use::

    import asr
    model = asr.load_model("exp/checkpoints/best.pt")
    texts = [t.text for t in asr.transcribe(model, ["a.wav", "b.flac"])]
"""

from __future__ import annotations

__version__ = "0.1.0"

from asr.config import DecodeConfig, ExperimentConfig, load_config  # noqa: E402
from asr.evaluate import evaluate  # noqa: E402
from asr.load import load_model  # noqa: E402
from asr.manifest import Utterance, read_manifest, write_manifest  # noqa: E402
from asr.recognizer import Recognizer  # noqa: E402
from asr.stream import Streamer  # noqa: E402
from asr.train import train  # noqa: E402
from asr.transcribe import Transcript, transcribe  # noqa: E402

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

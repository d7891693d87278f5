"""asr: recurrent CTC speech recognition.

audio -> log-mel -> conv + Bi-GRU/LSTM -> CTC log-probs -> greedy or beam decoding -> WER.

Python use::

    import asr
    model = asr.load_model("exp/checkpoints/best.pt")
    texts = [t.text for t in asr.transcribe(model, ["a.wav", "b.flac"])]

The names below, with the ``asr.lm`` wing's, are the public API: benchmarks/ uses nothing else
(tests/test_benchmarks.py), and every other module is free to change.
"""

from __future__ import annotations

from asr.audio import SAMPLE_RATE, load_audio, load_utterance
from asr.augment import add_noise, reverberate, room_impulse_response, telephone
from asr.checkpoint import read_checkpoint
from asr.config import (
                        ONSET_FIELDS,
                        AuxPhonesConfig,
                        DecodeConfig,
                        DistillHeadConfig,
                        ExperimentConfig,
                        FeatureConfig,
                        ModelConfig,  # fmt: skip
                        TextConfig,
                        load_config,
)
from asr.data import Batch
from asr.decode import make_decoder, writes_words
from asr.evaluate import evaluate
from asr.export import export_graph
from asr.features import FeatureExtractor
from asr.load import load_model
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.metrics import ErrorReport, paired_bootstrap, score
from asr.model import AcousticModel, ModelOutput, count_parameters
from asr.precision import cpu_has_bf16
from asr.recognizer import Recognizer
from asr.stream import Streamer
from asr.text import Normalizer
from asr.train import train
from asr.trainstep import ctc_loss, distill_loss, phone_ctc_loss, training_loss
from asr.transcribe import Transcript, transcribe
from asr.version import __version__

__all__ = [
    "ONSET_FIELDS",
    "SAMPLE_RATE",
    "AcousticModel",
    "AuxPhonesConfig",
    "Batch",
    "DecodeConfig",
    "DistillHeadConfig",
    "ErrorReport",
    "ExperimentConfig",
    "FeatureConfig",
    "FeatureExtractor",
    "ModelConfig",
    "ModelOutput",
    "Normalizer",
    "Recognizer",
    "Streamer",
    "TextConfig",
    "Transcript",
    "Utterance",
    "__version__",
    "add_noise",
    "count_parameters",
    "cpu_has_bf16",
    "ctc_loss",
    "distill_loss",
    "evaluate",
    "export_graph",
    "load_audio",
    "load_config",
    "load_model",
    "load_utterance",
    "make_decoder",
    "writes_words",
    "paired_bootstrap",
    "phone_ctc_loss",
    "read_checkpoint",
    "read_manifest",
    "reverberate",
    "room_impulse_response",
    "score",
    "telephone",
    "train",
    "training_loss",
    "transcribe",
    "write_manifest",
]

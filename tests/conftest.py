"""Shared fixtures: everything is generated under tmp paths; nothing is downloaded.

The "speech" is a tone language: each character is a short sine at its own pitch,
characters are separated by short gaps and words by silence, so a tiny model can
learn it in seconds on a CPU.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.config import ExperimentConfig, load_config

# Scripts run by tests, not test modules: --doctest-modules must not import them.
collect_ignore = ["ddp_driver.py", "bad_inputs.py", "data"]
RATE = 16000
PITCH = {ch: 300.0 + 350.0 * i for i, ch in enumerate("abcdefgh")}
TONE_S, GAP_S, SPACE_S, EDGE_S = 0.10, 0.03, 0.10, 0.08
TINY_TEXTS = ["abc", "cab", "bad", "dab cab", "a b", "cd", "bead", "face"]


def shared_data() -> Path | None:
    """The project's real speech: ``$ASR_SHARED_DATA``, else ``shared/data`` beside the repository
    or beside any folder above it (where a session, and CI's clean clone, find it)."""
    if os.environ.get("ASR_SHARED_DATA"):
        return Path(os.environ["ASR_SHARED_DATA"])
    repo = Path(__file__).resolve().parent.parent
    return next((p / "shared" / "data" for p in repo.parents if (p / "shared" / "data").is_dir()), None)


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


def write_tone_corpus(folder: Path, texts: list[str], name: str = "train.jsonl") -> Path:
    """Write one wav per text and a manifest with relative paths; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    lines = []
    for i, text in enumerate(texts):
        wave = tone_speech(text, seed=i)
        path = folder / "wav" / f"utt{i}.wav"
        soundfile.write(path, wave, RATE)
        lines.append(
            {
                "id": f"utt{i}",
                "audio_filepath": f"wav/utt{i}.wav",
                "duration": wave.size / RATE,
                "text": text.upper(),
            }
        )
    manifest = folder / name
    manifest.write_text("".join(json.dumps(row) + "\n" for row in lines))
    return manifest


TINY_OVERRIDES = [
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
    "train.plots=False",  # tests/test_report.py draws them; here they would only cost time
    "train.device='cpu'",
]


def tiny_config(manifest: Path, exp_dir: Path, *extra: str) -> ExperimentConfig:
    return load_config(
        None,
        [
            *TINY_OVERRIDES,
            f"data.train_manifest='{manifest}'",
            f"data.valid_manifest='{manifest}'",
            f"exp_dir='{exp_dir}'",
            *extra,
        ],
    )


# The skip budget (.ci/run sets ASR_SKIP_BUDGET=1): the only skips CI accepts. Anything else that
# skips there (a voice, chromium, KenLM's build_binary or ../shared/data missing) fails the run.
ALLOWED_SKIPS = ("needs CUDA",)


def _unexpected_skips(config: pytest.Config) -> list[str]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    return [f"{r.nodeid}: {r.longrepr[2] if isinstance(r.longrepr, tuple) else r.longrepr}"
            for r in skipped if not any(reason in str(r.longrepr) for reason in ALLOWED_SKIPS)]  # fmt: skip


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("ASR_SKIP_BUDGET") and _unexpected_skips(session.config) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("ASR_SKIP_BUDGET") and (unexpected := _unexpected_skips(terminalreporter.config)):
        terminalreporter.section("skips over the budget (tests/conftest.py ALLOWED_SKIPS)", red=True)
        for line in unexpected:
            terminalreporter.line(line)
        terminalreporter.line(f"{len(unexpected)} skipped tests over the budget: failing the run", red=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tone_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("tones"), TINY_TEXTS)


@pytest.fixture(scope="session")
def trained_checkpoint(tone_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained once per session on the tone corpus (best.pt)."""
    from asr.train import train

    summary = train(tiny_config(tone_manifest, tmp_path_factory.mktemp("exp")), show_progress=False)
    assert summary.best_checkpoint is not None
    return summary.best_checkpoint


@pytest.fixture(scope="session")
def streaming_checkpoint(tone_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny unidirectional model (lookahead 3, global statistics) trained on the tone corpus."""
    from asr.train import train

    cfg = tiny_config(tone_manifest, tmp_path_factory.mktemp("stream_exp"), "model.bidirectional=false",
                      "model.lookahead=3", "features.normalize='global'")  # fmt: skip
    summary = train(cfg, show_progress=False)
    assert summary.best_checkpoint is not None
    return summary.best_checkpoint


def tone_stream(texts: list[str], pause: float = 0.6) -> np.ndarray:
    """The training utterances of ``texts`` (same noise seeds) with ``pause`` seconds after each:
    a model trained on eight utterances is only sure of those."""
    silence = np.zeros(int(pause * RATE), np.float32)
    seeds = [TINY_TEXTS.index(t) for t in texts]
    return np.concatenate([part for t, s in zip(texts, seeds) for part in (tone_speech(t, seed=s), silence)])

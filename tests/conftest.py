"""Shared fixtures: everything is generated under tmp paths; nothing is downloaded.

The "speech" is a tone language: each character is a short sine at its own pitch,
characters are separated by short gaps and words by silence, so a tiny model can
learn it in seconds on a CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from asr.config import ExperimentConfig, load_config
from data_prep.tones import PITCH, RATE, TINY_TEXTS, tone_speech, write_tone_corpus
from data_prep.tones import TINY_MODEL as TINY_OVERRIDES

# Scripts run by tests, not test modules: --doctest-modules must not import them.
collect_ignore = ["ddp_driver.py", "bad_inputs.py", "data"]
# Scripts run by tests import these from here too
__all__ = ["PITCH", "RATE", "TINY_OVERRIDES", "TINY_TEXTS", "tiny_config", "tone_speech", "write_tone_corpus"]


def shared_data() -> Path | None:
    """The project's real speech: ``$ASR_SHARED_DATA``, else ``shared/data`` beside the repository
    or beside any folder above it (where a session, and CI's clean clone, find it)."""
    if os.environ.get("ASR_SHARED_DATA"):
        return Path(os.environ["ASR_SHARED_DATA"])
    repo = Path(__file__).resolve().parent.parent
    return next((p / "shared" / "data" for p in repo.parents if (p / "shared" / "data").is_dir()), None)


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

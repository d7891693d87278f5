"""Every recipe's config loads under the strict config rules, and its run script parses."""

import subprocess
from pathlib import Path

import pytest

from asr.config import load_config

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.mark.parametrize(
    "config", sorted(RECIPES.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_config_loads(config):
    cfg = load_config(config)
    assert cfg.data.train_manifest and cfg.data.valid_manifest


@pytest.mark.parametrize("script", sorted(RECIPES.glob("*/run.sh")), ids=lambda p: p.parent.name)
def test_run_script_parses(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert "set -euo pipefail" in script.read_text()

"""Every kind of bad input through prep, train, evaluate and transcribe (see bad_inputs.py):
the outcome in docs/deployment.md's table, a message naming the file, utterance or manifest line,
and the good items processed."""

from pathlib import Path

import pytest
from bad_inputs import COMMANDS, EXPECTED, KINDS, Workspace, run_kind

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(Path(tmp_path_factory.mktemp("bad_inputs")))


def test_every_kind_has_an_expectation():
    assert set(EXPECTED) == set(KINDS) and len(KINDS) >= 20


@pytest.mark.parametrize("kind", list(KINDS))
def test_bad_input(kind, workspace):
    for command, expected in zip(COMMANDS, EXPECTED[kind], strict=True):
        outcome = run_kind(kind, command, workspace)
        assert outcome.result == expected, f"{command}: {outcome.cell()}"
        if expected in ("skipped", "warned", "failed"):
            assert outcome.message and outcome.names_it, f"{command}: {outcome.cell()}"
        assert (outcome.exit_code not in (0, None)) == (expected == "failed"), f"{command}: {outcome.cell()}"

"""Hands each committed stack's declared resources, computed once under Pulumi mocks, to the infra tests."""

import sys
from pathlib import Path

import pytest

# The Pulumi program's package `infra` lives at the repository root, beside customer360.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infra_harness import STACKS, StackRun, run_stack  # noqa: E402


@pytest.fixture(params=STACKS, scope="session")
def stack_run(request) -> StackRun:
    return run_stack(request.param)

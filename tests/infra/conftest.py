"""Hands each committed stack's declared resources, computed once under Pulumi mocks, to the infra tests."""

import pytest
from infra_harness import STACKS, StackRun, run_stack


@pytest.fixture(params=STACKS, scope="session")
def stack_run(request) -> StackRun:
    return run_stack(request.param)

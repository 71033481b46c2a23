"""Runs the Pulumi program once per committed stack under mocks; helpers shared by the infra tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from customer360 import plan
from infra.settings import Settings
from worker_shared import computed_once

STACKS = plan.committed_stacks()


@dataclass(frozen=True)
class StackRun:
    stack: str
    settings: Settings
    captured: dict

    @property
    def resources(self) -> list[dict]:
        """Custom (cloud) resources, each with type, name, inputs (camelCase), protect, parent, dependencies."""
        return [r for r in self.captured["resources"] if r["custom"]]

    @property
    def components(self) -> list[dict]:
        return [r for r in self.captured["resources"] if not r["custom"]]

    def of_type(self, *types: str) -> list[dict]:
        return [r for r in self.resources if r["type"] in types]


def stack_settings(stack: str) -> Settings:
    return plan.stack_settings(stack)


# The program's own capture, bound here: tests replace plan.capture with run_stack's to test the commands
# that call it, and run_stack must not end up calling itself.
_capture = plan.capture


@cache
def run_stack(stack: str) -> StackRun:
    """The stack's resources. The Pulumi runtime runs one program per process, so each stack runs
    in a subprocess once per test session, shared by the pytest-xdist workers of that session."""
    return StackRun(stack, stack_settings(stack), computed_once(f"stack-{stack}", lambda: _capture(stack)))


def name(resource: dict) -> str:
    return f"{resource['type']} {resource['name']}"

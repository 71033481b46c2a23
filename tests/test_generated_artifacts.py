"""Every committed generated file matches what the code renders now; a stale one names itself and the fix."""

from __future__ import annotations

import difflib

from infra_harness import run_stack

from customer360 import artifacts, plan


def _excerpt(artifact: artifacts.Artifact, current: str, limit: int = 12) -> str:
    committed = artifact.committed()
    if committed is None:
        return "    (missing)"
    if artifact.describe is not None:
        lines = artifact.describe(committed, current)
    else:
        diff = difflib.unified_diff(committed.splitlines(), current.splitlines(), lineterm="", n=0)
        lines = [line for line in diff if not line.startswith(("---", "+++"))]
    return "\n".join(f"    {line}" for line in lines[:limit]) + (f"\n    ... {len(lines) - limit} more" if len(lines) > limit else "")


def test_every_committed_generated_file_is_up_to_date(monkeypatch):
    # The stack inventories render from the same program on the same tree as the infra tests' captures:
    # reuse those (a capture runs the Pulumi program in a subprocess, some seconds a stack).
    monkeypatch.setattr(plan, "capture", lambda stack: run_stack(stack).captured)
    stale = artifacts.stale()
    assert not stale, (
        f"stale generated files; rewrite them with `{artifacts.REGENERATE_COMMAND}` (or `make generated`), "
        "review the diff and commit:\n"
        + "\n".join(f"  {artifact.label} ({artifact.what}):\n{_excerpt(artifact, content)}"
                    for artifact, content in stale)
    )


def test_regenerate_rewrites_a_stale_file_and_only_it(tmp_path):
    current = tmp_path / "current.txt"
    outdated = tmp_path / "outdated.txt"
    current.write_text("same\n", encoding="utf-8")
    outdated.write_text("old\n", encoding="utf-8")
    registry = (
        artifacts.Artifact(current, lambda: "same\n", "an up-to-date file"),
        artifacts.Artifact(outdated, lambda: "new\n", "a stale file"),
        artifacts.Artifact(tmp_path / "sub" / "missing.txt", lambda: "made\n", "a missing file"),
    )
    assert [a.what for a, _ in artifacts.stale(registry)] == ["a stale file", "a missing file"]
    assert [a.what for a in artifacts.regenerate(registry)] == ["a stale file", "a missing file"]
    assert outdated.read_text(encoding="utf-8") == "new\n"
    assert (tmp_path / "sub" / "missing.txt").read_text(encoding="utf-8") == "made\n"
    assert artifacts.stale(registry) == []


def test_registry_holds_every_generated_file_the_repository_commits():
    labels = {artifact.label for artifact in artifacts.artifacts()}
    assert {"docs/tables.md", "scheduled_queries/daily_pipeline.sql", "scheduled_queries/missing_deliveries.sql"} <= labels, labels
    assert any(label.startswith("tests/infra/fixtures/inventory_") for label in labels), labels

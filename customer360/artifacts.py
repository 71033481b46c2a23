"""Every committed file generated from the code, in one registry: `c360 regenerate` rewrites them all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from customer360 import contract

REGENERATE_COMMAND = ".venv/bin/c360 regenerate"  # also `make generated`


class RegenerationRefused(RuntimeError):
    """A generated file was not rewritten, because the change it records would lose data."""


@dataclass(frozen=True)
class Artifact:
    """A committed file and the function that renders its content from the code as it is now."""

    path: Path
    render: Callable[[], str]
    what: str
    # What changed between the committed content and the rendered one, in the file's own terms (default: a diff).
    describe: Callable[[str, str], list[str]] | None = None
    # Why the rendered content must not replace the committed one (a reviewed fixture is never rewritten
    # over a change that loses data without a declared migration); empty when it may.
    refuse: Callable[[str, str], list[str]] | None = None

    @property
    def label(self) -> str:
        return str(self.path.relative_to(contract.REPO_ROOT))

    def committed(self) -> str | None:
        return self.path.read_text(encoding="utf-8") if self.path.exists() else None


def _data_dictionary() -> str:
    from customer360 import docs

    return docs.render()


def _daily_script() -> str:
    from customer360 import bigquery_script

    return bigquery_script.daily_script()


def _missing_deliveries_script() -> str:
    from customer360 import bigquery_script

    return bigquery_script.missing_deliveries_script()


def inventory_differences(expected: dict, actual: dict) -> list[str]:
    """Each change between two stack inventories, naming the resource (and setting) it touches."""
    lines = []
    for type_ in sorted(set(expected["counts"]) | set(actual["counts"])):
        before, after = expected["counts"].get(type_, 0), actual["counts"].get(type_, 0)
        if before != after:
            lines.append(f"count of {type_}: {before} -> {after}")
    for key in sorted(set(expected["resources"]) | set(actual["resources"])):
        before, after = expected["resources"].get(key), actual["resources"].get(key)
        if before is None:
            lines.append(f"added {key}")
        elif after is None:
            lines.append(f"removed {key}")
        elif before != after:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            lines += [f"{key}: {k}: {before.get(k)!r} -> {after.get(k)!r}" for k in changed]
    for key in sorted(set(expected["outputs"]) | set(actual["outputs"])):
        if expected["outputs"].get(key) != actual["outputs"].get(key):
            lines.append(f"output {key}: {expected['outputs'].get(key)!r} -> {actual['outputs'].get(key)!r}")
    return lines


def _describe_inventory(committed: str, rendered: str) -> list[str]:
    return inventory_differences(json.loads(committed), json.loads(rendered))


def unplanned_data_loss(committed: str, rendered: str) -> list[str]:
    """Replacements and deletions of data-holding resources from one inventory to the next, without a migration."""
    from customer360 import plan_diff

    fixture, actual = json.loads(committed), json.loads(rendered)
    result = plan_diff.compare(
        plan_diff.inventory_resource_map(fixture),
        plan_diff.inventory_resource_map(actual),
        stack=actual["stack"],
        before_label="fixture",
        after_label="program",
    )
    return [
        f"{change.op} {change.label} ({change.table_ref}): {'; '.join(change.data_loss)}; "
        + ("; ".join(f"{f.key}: {f.rule}" for f in change.fields if f.replaces) or "removed from the program")
        for change in result.unplanned
    ]


def _inventory(stack: str) -> Callable[[], str]:
    def render() -> str:
        from customer360 import plan

        return json.dumps(plan.inventory(plan.capture(stack)), indent=1, sort_keys=True) + "\n"

    return render


def artifacts() -> tuple[Artifact, ...]:
    """The registry. A new generated file is one entry here; the staleness test and the command follow."""
    from customer360 import bigquery_script, docs, plan

    registry = [
        Artifact(docs.DOCS_PATH, _data_dictionary, "data dictionary, from the contract"),
        Artifact(bigquery_script.RENDERED_PATH, _daily_script, "daily scheduled-query script, from the pipeline"),
        Artifact(bigquery_script.RENDERED_FRESHNESS_PATH, _missing_deliveries_script,
                 "missing-deliveries check script, from the contract's expected sources"),
    ]
    fixtures = contract.REPO_ROOT / "tests" / "infra" / "fixtures"
    for stack in plan.committed_stacks():
        registry.append(
            Artifact(fixtures / f"inventory_{stack}.json", _inventory(stack),
                     f"resource inventory of stack {stack}, from the Pulumi program under mocks",
                     _describe_inventory, unplanned_data_loss)
        )
    return tuple(registry)


def stale(registry: tuple[Artifact, ...] | None = None) -> list[tuple[Artifact, str]]:
    """(artifact, its content now) for every artifact whose committed file differs or is missing."""
    found = []
    for artifact in artifacts() if registry is None else registry:
        content = artifact.render()
        if artifact.committed() != content:
            found.append((artifact, content))
    return found


def regenerate(registry: tuple[Artifact, ...] | None = None) -> list[Artifact]:
    """Rewrite every stale artifact; returns the ones rewritten."""
    rewritten = []
    for artifact, content in stale(registry):
        committed = artifact.committed()
        refused = artifact.refuse(committed, content) if artifact.refuse and committed is not None else []
        if refused:
            raise RegenerationRefused(
                f"not rewriting {artifact.label}: it would lose data with no migration declared: " + "; ".join(refused)
            )
        artifact.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = artifact.path.with_name(f".{artifact.path.name}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(artifact.path)
        rewritten.append(artifact)
    return rewritten

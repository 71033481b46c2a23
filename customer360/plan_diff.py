"""`c360 plan --diff REF`: what a change does to a stack, resource by resource, offline, with data loss marked.

Both sides run under the same mocks (customer360/pulumi_capture.py): the working tree, and REF
checked out in a temporary `git worktree` that is removed afterwards; the user's checkout is
never touched. Update against replace follows the provider's rules (customer360/provider_rules.py).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from customer360 import migrations as declared_migrations
from customer360 import cache, plan, provider_rules
from customer360.contract import REPO_ROOT

CREATE, UPDATE, REPLACE, DELETE = "+", "~", "+-", "-"
OPERATIONS = (CREATE, UPDATE, REPLACE, DELETE)
OPERATION_NAMES = {CREATE: "create", UPDATE: "update in place", REPLACE: "replace", DELETE: "delete"}
EXIT_DATA_LOSS = 4
# Text shown as a unified diff rather than as a value: SQL bodies, the scheduled script, views, docs.
_TEXT_KEYS = ("definitionBody", "params.query", "view.query", "documentation.content", "dashboardJson")
MAX_VALUE_CHARS = 120
COLUMN_ORDER = "schema (column order)"


class DiffError(RuntimeError):
    """A bad REF, a checkout that is not a git repository, or a program that fails at REF (exit 2)."""


@dataclass
class Change:
    op: str
    type: str
    name: str
    urn: str
    fields: list[provider_rules.FieldChange] = field(default_factory=list)
    text_diffs: dict[str, list[str]] = field(default_factory=dict)
    data_loss: list[str] = field(default_factory=list)  # why data is lost; empty when none is
    notes: list[str] = field(default_factory=list)
    table_ref: str | None = None  # logical table (silver.stores) for tables
    migration: declared_migrations.Migration | None = None

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"

    @property
    def unplanned_data_loss(self) -> bool:
        return bool(self.data_loss) and self.migration is None

    def as_json(self) -> dict:
        return {
            "op": self.op,
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "table": self.table_ref,
            "fields": [
                {"key": f.key, "before": f.before, "after": f.after, "replaces": f.replaces, "rule": f.rule}
                for f in self.fields
            ],
            "text_diffs": {key: "\n".join(lines) for key, lines in self.text_diffs.items()},
            "data_loss": self.data_loss,
            "unplanned_data_loss": self.unplanned_data_loss,
            "notes": self.notes,
            "migration": (
                {"id": self.migration.id, "path": self.migration.display_path(), "reason": self.migration.reason,
                 "sql": self.migration.select_sql}
                if self.migration
                else None
            ),
        }


@dataclass
class StackDiff:
    stack: str
    before_label: str
    after_label: str
    changes: list[Change]

    def of(self, op: str) -> list[Change]:
        return [c for c in self.changes if c.op == op]

    @property
    def unplanned(self) -> list[Change]:
        return [c for c in self.changes if c.unplanned_data_loss]

    @property
    def exit_code(self) -> int:
        return EXIT_DATA_LOSS if self.unplanned else 0


# ---------------------------------------------------------------------------
# Comparing two captures
# ---------------------------------------------------------------------------


def _by_column(flat: dict[str, str]) -> dict[str, str]:
    """A table's `schema.NN.<column>` keys as `schema.<column>`, so an inserted column moves nothing else."""
    keyed, order = {}, []
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "schema" and parts[1].isdigit():
            keyed[f"schema.{parts[2]}"] = value
            order.append((int(parts[1]), parts[2]))
        else:
            keyed[key] = value
    if order:
        keyed[COLUMN_ORDER] = ", ".join(name for _, name in sorted(order))
    return keyed


def resource_map(captured: dict | None, full_text: bool = True) -> dict[str, dict]:
    """URN -> {type, name, inputs (raw), flat (display strings)} for every custom resource."""
    resources = {}
    for resource in (captured or {}).get("resources", []):
        if not resource["custom"]:
            continue
        flat = plan.flatten(resource["inputs"], digest_long=not full_text)
        if resource["protect"]:
            flat[provider_rules.PROTECT_KEY] = "true"
        resources[resource["urn"]] = {
            "type": resource["type"],
            "name": resource["name"],
            "inputs": resource["inputs"],
            "flat": _by_column(flat),
        }
    return resources


def _only_columns_added_or_dropped(change: provider_rules.FieldChange) -> bool:
    """A column-order change that only reflects added or dropped columns (those are shown themselves)."""
    if change.key != COLUMN_ORDER or change.before is None or change.after is None:
        return False
    before, after = change.before.split(", "), change.after.split(", ")
    return [c for c in before if c in after] == [c for c in after if c in before]


def _table_ref(resource: dict) -> str | None:
    if resource["type"] != provider_rules.TABLE:
        return None
    layer = (resource["inputs"].get("labels") or {}).get("layer")
    table_id = resource["inputs"].get("tableId")
    return f"{layer}.{table_id}" if layer and table_id else None


def _text(key: str, value: str | None) -> list[str]:
    if value is None:
        return []
    if key == "dashboardJson":
        with contextlib.suppress(ValueError):
            value = json.dumps(json.loads(value), indent=2, sort_keys=True)
    return value.splitlines()


def _is_text(key: str, before: str | None, after: str | None) -> bool:
    return key in _TEXT_KEYS or "\n" in (before or "") or "\n" in (after or "")


def compare(
    old: dict[str, dict],
    new: dict[str, dict],
    *,
    stack: str,
    before_label: str,
    after_label: str,
    migrations: dict[str, declared_migrations.Migration] | None = None,
) -> StackDiff:
    """Every created, updated, replaced and deleted resource between two resource maps (see `resource_map`)."""
    migrations = declared_migrations.declared() if migrations is None else migrations
    changes: list[Change] = []
    for urn in sorted(set(old) | set(new)):
        was, now = old.get(urn), new.get(urn)
        resource = now or was
        change = Change(op="", type=resource["type"], name=resource["name"], urn=urn, table_ref=_table_ref(resource))
        if was is None:
            change.op = CREATE
            change.fields = [provider_rules.FieldChange(k, None, v, False, None) for k, v in sorted(now["flat"].items())]
        elif now is None:
            change.op = DELETE
            if provider_rules.is_data_holding(was["type"], was["flat"]):
                change.data_loss.append("deleted with its data")
        else:
            if was["flat"] == now["flat"]:
                continue
            classified = provider_rules.classify(resource["type"], was["flat"], now["flat"])
            change.fields = [f for f in classified.fields if not _only_columns_added_or_dropped(f)]
            change.op = REPLACE if classified.replaces else UPDATE
            holds_data = provider_rules.is_data_holding(resource["type"], now["flat"])
            if change.op == REPLACE:
                delete_first = provider_rules.DELETE_BEFORE_REPLACE.get(resource["type"])
                if delete_first:
                    change.notes.append(f"replaced delete-first ({delete_first})")
                if holds_data:
                    change.data_loss.append("replaced: the new one starts empty")
                if was["flat"].get(provider_rules.PROTECT_KEY) and now["flat"].get(provider_rules.PROTECT_KEY):
                    change.notes.append("protected: `pulumi up` refuses to replace it while `protect` is set")
            elif holds_data and classified.dropped_columns:
                change.data_loss.append(
                    f"drops column(s) {', '.join(classified.dropped_columns)} in place, with their data"
                )
        for field_change in change.fields:
            if change.op != CREATE and _is_text(field_change.key, field_change.before, field_change.after):
                change.text_diffs[field_change.key] = list(
                    difflib.unified_diff(
                        _text(field_change.key, field_change.before),
                        _text(field_change.key, field_change.after),
                        before_label,
                        after_label,
                        lineterm="",
                        n=3,
                    )
                )
        if change.data_loss and change.table_ref:
            change.migration = migrations.get(change.table_ref)
        changes.append(change)
    order = {op: index for index, op in enumerate(OPERATIONS)}
    changes.sort(key=lambda c: (order[c.op], c.type, c.name))
    return StackDiff(stack, before_label, after_label, changes)


# ---------------------------------------------------------------------------
# REF in a temporary worktree
# ---------------------------------------------------------------------------


def _git(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def resolve(ref: str, repo: Path = REPO_ROOT) -> str:
    """REF's commit id; DiffError when the checkout is not a repository or REF names no commit."""
    if _git("rev-parse", "--git-dir", cwd=repo).returncode != 0:
        raise DiffError(f"{repo} is not a git checkout; --diff needs one")
    if ref.startswith("-"):
        raise DiffError(f"--diff {ref!r} is not a git ref")
    result = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", cwd=repo)
    if result.returncode != 0:
        raise DiffError(f"--diff {ref!r} names no commit in {repo} (fetch it first, e.g. `git fetch origin main`)")
    return result.stdout.strip()


@contextlib.contextmanager
def worktree(commit: str, repo: Path = REPO_ROOT) -> Iterator[Path]:
    """A detached temporary worktree at COMMIT, removed (and pruned) afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="c360-plan-"))
    path = parent / "checkout"
    added = _git("worktree", "add", "--detach", "--quiet", str(path), commit, cwd=repo)
    if added.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise DiffError(f"cannot check out {commit[:12]} in a temporary worktree: {added.stderr.strip()}")
    try:
        yield path
    finally:
        _git("worktree", "remove", "--force", str(path), cwd=repo)
        shutil.rmtree(parent, ignore_errors=True)
        _git("worktree", "prune", cwd=repo)


# A commit's capture depends only on its files, its stack config, the capturing script and the installed
# packages, so it is kept on disk under a digest of all four: reviewing a branch against the same base
# again captures only the working tree.
CAPTURES_KEPT = 16


def _capture_key(commit: str, stack: str, env: dict) -> str:
    digest = hashlib.sha256()
    installed = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    # PULUMI_CONFIG (the commit's stack files) and any PULUMI_CONFIG_<KEY> override set in the environment.
    pulumi_env = sorted(f"{name}={value}" for name, value in env.items() if name.startswith("PULUMI_"))
    for part in (commit, stack, sys.version, plan.CAPTURE_SCRIPT.read_text(encoding="utf-8"), *pulumi_env,
                 *installed):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def _captures_folder() -> Path:
    return cache.cache_dir() / "plan-captures"


def _is_capture(text: str) -> bool:
    """Whether TEXT is what the capturing script prints: an object with a list of resources."""
    try:
        captured = json.loads(text)
    except ValueError:
        return False
    return isinstance(captured, dict) and isinstance(captured.get("resources"), list)


def _kept_capture(key: str) -> tuple[str, str] | None:
    path = _captures_folder() / f"{key}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    if not _is_capture(text):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return text, ""


def _keep_capture(key: str, stdout: str) -> None:
    if not _is_capture(stdout):
        return
    folder = _captures_folder()
    # A read-only or full disk only costs the next diff the time to capture again.
    if not cache.write_atomically(folder / f"{key}.json", stdout):
        return
    try:
        kept = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in kept[CAPTURES_KEPT:]:
            old.unlink(missing_ok=True)
        # Left by a diff killed while writing (the folder's own writers finish within seconds).
        for stale in folder.glob(".*.tmp"):
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
    except OSError:
        pass


def diff_against(stack: str, ref: str, repo: Path = REPO_ROOT) -> StackDiff:
    """The stack's diff from REF to the working tree; both captures run at the same time."""
    commit = resolve(ref, repo)
    after_command, after_env = plan.capture_command(stack, repo)
    outputs: dict[str, tuple[str, str]] = {}
    results: dict[str, int] = {}
    before_key = None
    with worktree(commit, repo) as checkout:
        before_exists = (checkout / f"Pulumi.{stack}.yaml").exists()
        processes = {"after": subprocess.Popen(after_command, env=after_env, cwd=repo, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True)}
        if before_exists:
            before_command, before_env = plan.capture_command(stack, checkout)
            before_key = _capture_key(commit, stack, before_env)
            kept = _kept_capture(before_key)
            if kept is not None:
                outputs["before"], results["before"] = kept, 0
                before_key = None
            else:
                processes["before"] = subprocess.Popen(before_command, env=before_env, cwd=checkout,
                                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outputs.update({side: process.communicate() for side, process in processes.items()})
        results.update({side: process.returncode for side, process in processes.items()})
    if before_key is not None and results["before"] == 0:
        _keep_capture(before_key, outputs["before"][0])  # kept even when the working tree's program fails
    captured = {}
    for side, (stdout, stderr) in outputs.items():
        try:
            captured[side] = plan.capture_result(stack, results[side], stdout, stderr)
        except plan.PlanError as error:
            where = f"at {ref}" if side == "before" else "in the working tree"
            raise DiffError(f"the program fails {where}: {error}") from None
    return compare(
        resource_map(captured.get("before")),
        resource_map(captured["after"]),
        stack=stack,
        before_label=f"{ref} ({commit[:12]})",
        after_label="working tree",
    )


# ---------------------------------------------------------------------------
# Rendering: text, markdown (a pull-request comment), JSON
# ---------------------------------------------------------------------------


def _short(value: str | None) -> str:
    if value is None:
        return "(none)"
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 3] + "..."


def summary(diff: StackDiff) -> str:
    counts = ", ".join(f"{len(diff.of(op))} to {OPERATION_NAMES[op]}" for op in OPERATIONS)
    losing = [c for c in diff.changes if c.data_loss]
    if not diff.changes:
        return "no changes"
    loss = ""
    if losing:
        planned = len(losing) - len(diff.unplanned)
        loss = f"; DATA LOSS on {len(losing)} ({len(diff.unplanned)} without a migration, {planned} planned)"
    return counts + loss


def _change_lines(change: Change, indent: str = "    ") -> list[str]:
    lines = []
    for item in change.fields:
        if item.key in change.text_diffs:
            lines.append(f"{indent}{item.key}:")
            lines += [f"{indent}  {line}" for line in change.text_diffs[item.key]]
        elif change.op == CREATE:
            lines.append(f"{indent}{item.key}  {_short(item.after)}")
        else:
            lines.append(f"{indent}{item.key}: {_short(item.before)} -> {_short(item.after)}")
        if item.replaces:
            lines.append(f"{indent}  forces replacement: {item.rule}")
    lines += [f"{indent}note: {note}" for note in change.notes]
    if change.data_loss:
        if change.migration:
            m = change.migration
            lines.append(f"{indent}planned by migration {m.id} ({m.display_path()}): {m.reason}")
            lines += [f"{indent}  | {line}" for line in m.select_sql.splitlines()]
        else:
            lines.append(
                f"{indent}no migration declared for {change.table_ref or 'this resource'}"
                + (": add migrations/NNNN_<words>.sql (README, \"Changing a table's schema\")" if change.table_ref else "")
            )
    return lines


def render_text(diff: StackDiff) -> str:
    lines = [f"c360 plan --diff: stack {diff.stack}, {diff.before_label} -> {diff.after_label}: {summary(diff)}"]
    for op in OPERATIONS:
        for change in diff.of(op):
            marker = "  DATA LOSS" + (" (planned)" if change.migration else "") if change.data_loss else ""
            lines += ["", f"{op} {change.label}{marker}"]
            lines += [f"    data loss: {reason}" for reason in change.data_loss]
            lines += _change_lines(change)
    return "\n".join(lines) + "\n"


def render_markdown(diff: StackDiff) -> str:
    lines = [
        f"### `c360 plan --diff` for stack `{diff.stack}`",
        "",
        f"{diff.before_label} → {diff.after_label}: **{summary(diff)}**",
    ]
    if diff.unplanned:
        lines += ["", f"> **DATA LOSS without a migration** on {len(diff.unplanned)} resource(s): "
                      + ", ".join(f"`{c.name}`" for c in diff.unplanned)]
    if diff.changes:
        lines += ["", "| | resource | changed | data |", "|---|---|---|---|"]
        for change in diff.changes:
            keys = ", ".join(sorted({f.key.split(".")[0] for f in change.fields})) if change.op != CREATE else ""
            data = ("**DATA LOSS**" + (" (planned)" if change.migration else "")) if change.data_loss else ""
            lines.append(f"| `{change.op}` | `{change.label}` | {keys} | {data} |")
        for change in diff.changes:
            if change.op == CREATE:
                continue
            lines += ["", f"<details><summary><code>{change.op} {change.label}</code></summary>", "", "```diff"]
            lines += [f"  data loss: {reason}" for reason in change.data_loss]
            lines += [line.replace("```", "` ` `") for line in _change_lines(change, indent="  ")]
            lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"


def render_json(diff: StackDiff) -> str:
    return json.dumps(
        {
            "stack": diff.stack,
            "before": diff.before_label,
            "after": diff.after_label,
            "summary": {OPERATION_NAMES[op]: len(diff.of(op)) for op in OPERATIONS}
            | {"data_loss": sum(1 for c in diff.changes if c.data_loss), "unplanned_data_loss": len(diff.unplanned)},
            "exit_code": diff.exit_code,
            "changes": [c.as_json() for c in diff.changes],
        },
        indent=2,
        sort_keys=True,
    ) + "\n"


# ---------------------------------------------------------------------------
# The guard: the reviewed inventory fixtures against the program
# ---------------------------------------------------------------------------


def inventory_resource_map(listing: dict) -> dict[str, dict]:
    """A reviewed inventory (tests/infra/fixtures/inventory_<stack>.json) as a resource map for `compare`.

    The inventory's keys are `<type> <name>` and its settings are already flattened (long text as
    digests); labels are their `k=v, ...` string, read back here for the table's logical name.
    """
    resources = {}
    for key, settings in listing["resources"].items():
        resource_type, name = key.split(" ", 1)
        labels = dict(pair.split("=", 1) for pair in settings.get("labels", "").split(", ") if "=" in pair)
        resources[key] = {
            "type": resource_type,
            "name": name,
            "inputs": {"labels": labels, "tableId": settings.get("tableId")},
            "flat": _by_column(settings),
        }
    return resources

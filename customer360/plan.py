"""Runs the Pulumi program offline under mocks and lists every resource a stack would declare."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from customer360.contract import REPO_ROOT
from customer360.pulumi_capture import ERROR_MARKER

# Strings longer than this (and any multi-line string: SQL, JSON) are shown as a digest.
MAX_SHOWN_CHARS = 160
_DIGESTED_KEYS = ("definitionBody", "params.query", "view.query", "dashboardJson", "documentation.content")


class PlanError(RuntimeError):
    """The program could not be run for the stack (bad configuration, failing program)."""


# ---------------------------------------------------------------------------
# Configuration, as the Pulumi engine would pass it
# ---------------------------------------------------------------------------


def _config_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def stack_config(stack: str, root: Path = REPO_ROOT) -> dict[str, str]:
    """`namespace:key` -> string for the stack: Pulumi.yaml defaults overlaid by Pulumi.<stack>.yaml."""
    import yaml

    project_file = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise PlanError(f"no stack file {stack_file.name}; committed stacks: {', '.join(stacks) or 'none'}")
    project = project_file["name"]
    config: dict[str, str] = {}
    for key, declaration in (project_file.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[f"{project}:{key}"] = _config_value(declaration["default"])
    for key, value in ((yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}).get("config") or {}).items():
        config[key if ":" in key else f"{project}:{key}"] = _config_value(value)
    return config


def stack_settings(stack: str):
    """The stack's validated infra.settings.Settings, read from the committed stack files (no cloud access)."""
    if str(REPO_ROOT) not in sys.path:
        # The Pulumi program's package `infra` sits at the repository root, beside customer360.
        sys.path.insert(0, str(REPO_ROOT))
    from infra.settings import NAMESPACE, SettingsError, settings_from_values

    prefix = f"{NAMESPACE}:"
    values = {k[len(prefix):]: v for k, v in stack_config(stack).items() if k.startswith(prefix)}
    try:
        return settings_from_values(values, stack)
    except SettingsError as error:
        raise PlanError(str(error)) from None


def committed_stacks(root: Path = REPO_ROOT) -> list[str]:
    """The stacks with a Pulumi.<stack>.yaml in ROOT."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


# ---------------------------------------------------------------------------
# Running the program under mocks (in a fresh process: the runtime runs once per process)
# ---------------------------------------------------------------------------

CAPTURE_SCRIPT = Path(__file__).resolve().with_name("pulumi_capture.py")


def capture_command(stack: str, root: Path = REPO_ROOT, config: dict[str, str] | None = None) -> tuple[list[str], dict]:
    """The command and environment that capture ROOT's program for STACK (config: ROOT's stack files)."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(stack_config(stack, root) if config is None else config)
    return [sys.executable, str(CAPTURE_SCRIPT), str(root), stack], env


def capture_result(stack: str, returncode: int, stdout: str, stderr: str) -> dict:
    if returncode != 0:
        raise PlanError(_error_summary(stderr) or f"the program failed for stack {stack}")
    return json.loads(stdout)


def capture(stack: str, config: dict[str, str] | None = None, root: Path = REPO_ROOT) -> dict:
    """Every resource and stack output ROOT's program declares for the stack, computed offline."""
    command, env = capture_command(stack, root, config)
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    return capture_result(stack, result.returncode, result.stdout, result.stderr)


def _error_summary(stderr: str) -> str:
    """The program's error as reported by the capturing process, else the end of its stderr."""
    if ERROR_MARKER in stderr:
        return stderr[stderr.rindex(ERROR_MARKER) + len(ERROR_MARKER):].strip()
    return "\n".join(stderr.rstrip().splitlines()[-5:])


# ---------------------------------------------------------------------------
# A stable, human-readable listing
# ---------------------------------------------------------------------------


def digest(text: str) -> str:
    return f"sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]} ({len(text.splitlines())} lines)"


def _schema_columns(schema: str) -> dict[str, str]:
    """One entry per column, in table order: type, mode and description."""
    return {
        f"schema.{position:02d}.{field['name']}": f"{field['type']} {field.get('mode', 'NULLABLE')}: {field.get('description', '')}"
        for position, field in enumerate(json.loads(schema), start=1)
    }


def flatten(value: Any, prefix: str = "", digest_long: bool = True) -> dict[str, str]:
    """Dotted key -> display string; long or multi-line text becomes a digest when digest_long."""
    flat: dict[str, str] = {}
    if isinstance(value, dict):
        if value and all(not isinstance(v, (dict, list)) for v in value.values()) and prefix.endswith(("labels", "Labels")):
            flat[prefix] = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
            return flat
        for key in sorted(value):
            flat.update(flatten(value[key], f"{prefix}.{key}" if prefix else key, digest_long))
        return flat
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            flat[prefix] = ", ".join(str(v) for v in value)
            return flat
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{index}]", digest_long))
        return flat
    if prefix == "schema" and isinstance(value, str):
        flat.update(_schema_columns(value))
    elif digest_long and isinstance(value, str) and (prefix in _DIGESTED_KEYS or "\n" in value or len(value) > MAX_SHOWN_CHARS):
        flat[prefix] = digest(value)
    elif isinstance(value, bool):
        flat[prefix] = "true" if value else "false"
    else:
        flat[prefix] = str(value)
    return flat


def resource_settings(resource: dict) -> dict[str, str]:
    settings = flatten(resource["inputs"])
    if resource["protect"]:
        settings["(protect)"] = "true"
    return settings


def inventory(captured: dict) -> dict:
    """Counts by type and the settings of every resource: the reviewable fixture of a stack."""
    custom = [r for r in captured["resources"] if r["custom"]]
    return {
        "stack": captured["stack"],
        "counts": dict(sorted(Counter(r["type"] for r in custom).items())),
        "resources": {
            f"{r['type']} {r['name']}": resource_settings(r) for r in sorted(custom, key=lambda r: (r["type"], r["name"]))
        },
        "outputs": flatten(captured["outputs"], digest_long=False),
    }


def render(captured: dict) -> str:
    listing = inventory(captured)
    components = sorted({r["type"] for r in captured["resources"] if not r["custom"]})
    lines = [
        f"c360 plan: stack {listing['stack']}: {sum(listing['counts'].values())} resources "
        f"in {len(components)} components ({', '.join(components)})",
        "",
        "Resources by type:",
    ]
    width = max(len(t) for t in listing["counts"]) if listing["counts"] else 0
    lines += [f"  {t.ljust(width)}  {n:>3}" for t, n in listing["counts"].items()]
    for key, settings in listing["resources"].items():
        lines += ["", key]
        key_width = max((len(k) for k in settings), default=0)
        lines += [f"    {k.ljust(key_width)}  {v}" for k, v in settings.items()]
    lines += ["", "Stack outputs:"]
    key_width = max((len(k) for k in listing["outputs"]), default=0)
    lines += [f"    {k.ljust(key_width)}  {v}" for k, v in listing["outputs"].items()]
    return "\n".join(lines) + "\n"

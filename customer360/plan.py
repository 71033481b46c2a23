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

PROGRAM_DIR = REPO_ROOT / "infra"
PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"
# What the mocked Google APIs answer; fixed so that the plan is reproducible.
MOCK_PROJECT_NUMBER = "123456789012"
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


def committed_stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


# ---------------------------------------------------------------------------
# Running the program under mocks (in a fresh process: the runtime runs once per process)
# ---------------------------------------------------------------------------


def capture(stack: str, config: dict[str, str] | None = None) -> dict:
    """Every resource and stack output the program declares for the stack, computed offline."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(stack_config(stack) if config is None else config)
    result = subprocess.run(
        [sys.executable, "-m", "customer360.plan", "--capture", stack],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    if result.returncode != 0:
        raise PlanError(_error_summary(result.stderr) or f"the program failed for stack {stack}")
    return json.loads(result.stdout)


_ERROR_MARKER = "plan failed: "


def _error_summary(stderr: str) -> str:
    """The program's error as reported by the capturing process, else the end of its stderr."""
    if _ERROR_MARKER in stderr:
        return stderr[stderr.rindex(_ERROR_MARKER) + len(_ERROR_MARKER):].strip()
    return "\n".join(stderr.rstrip().splitlines()[-5:])


def _plain(value: Any) -> Any:
    """JSON-ready values; protobuf numbers arrive as floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_REGISTERED: list[dict] = []


def _run_program(stack: str) -> dict:
    import runpy

    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import rpc
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    registered = _REGISTERED

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            return f"{args.name}-id", {**args.inputs, **_computed_outputs(args.typ, args.name, args.inputs)}

        def call(self, args: pulumi.runtime.MockCallArgs):
            return _invoke_result(args.token, args.args)

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object) if request.custom else {}
                registered.append(
                    {
                        "type": request.type,
                        "name": request.name,
                        "urn": response.urn,
                        "parent": request.parent,
                        "custom": bool(request.custom),
                        "protect": bool(request.protect) if request.HasField("protect") else False,
                        "dependencies": sorted(request.dependencies),
                        "inputs": _plain(inputs),
                    }
                )
            return response

    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="customer360", stack=stack, preview=False, monitor=RecordingMonitor(mocks))
    outputs: dict = {}

    def program():
        runpy.run_path(str(PROGRAM_DIR), run_name="__main__")
        stack_outputs = pulumi.runtime.get_root_resource().outputs
        return _sync_await(pulumi.Output.from_input(stack_outputs).future())

    def run():
        outputs.update(program() or {})

    _sync_await(run_pulumi_func(run))
    return {"stack": stack, "resources": registered, "outputs": _plain(outputs)}


def _computed_outputs(typ: str, name: str, inputs: dict) -> dict:
    """The output properties the program reads that Google would compute."""
    project = inputs.get("project", "project")
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/{project}/serviceAccounts/{email}", "member": f"serviceAccount:{email}"}
    if typ == "gcp:storage/bucket:Bucket":
        return {"url": f"gs://{inputs['name']}"}
    if typ == "gcp:bigquery/dataTransferConfig:DataTransferConfig":
        return {"name": f"projects/{MOCK_PROJECT_NUMBER}/locations/{inputs.get('location')}/transferConfigs/{name}-id"}
    if typ == "gcp:monitoring/notificationChannel:NotificationChannel":
        return {"name": f"projects/{project}/notificationChannels/{name}-id"}
    if typ == "gcp:monitoring/alertPolicy:AlertPolicy":
        return {"name": f"projects/{project}/alertPolicies/{name}-id"}
    return {}


def _invoke_result(token: str, args: dict) -> dict:
    number = MOCK_PROJECT_NUMBER
    if token == "gcp:organizations/getProject:getProject":
        return {"number": number, "projectId": args.get("projectId")}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"
        return {"emailAddress": email, "member": f"serviceAccount:{email}"}
    if token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
        email = f"bq-{number}@bigquery-encryption.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}"}
    raise NotImplementedError(f"the plan's mocks do not answer the invoke {token}; add it to customer360/plan.py")


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--capture":
        try:
            captured = _run_program(args[1])
        except Exception as error:  # noqa: BLE001 - reported whole to the parent process
            import traceback

            traceback.print_exc()
            print(
                f"{_ERROR_MARKER}{type(error).__module__}.{type(error).__name__}: {error}\n"
                f"resources declared before the error: {sum(r['custom'] for r in _REGISTERED)}",
                file=sys.stderr,
            )
            return 1
        json.dump(captured, sys.stdout, sort_keys=True)
        return 0
    print("usage: python -m customer360.plan --capture STACK (use `c360 plan --stack STACK`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Runs a checkout's Pulumi program under mocks and prints every declared resource as JSON (a script: stdlib and pulumi only).

Run by path, not as a module, so that the program of any checkout (the working tree, or a git
ref's temporary worktree) imports that checkout's own `customer360` and `infra` while answering
the same mocked Google APIs:

    python customer360/pulumi_capture.py ROOT STACK    (configuration in PULUMI_CONFIG)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# What the mocked Google APIs answer; fixed so that the plan is reproducible.
MOCK_PROJECT_NUMBER = "123456789012"
ERROR_MARKER = "plan failed: "


def _plain(value):
    """JSON-ready values; protobuf numbers arrive as floats."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def computed_outputs(typ: str, name: str, inputs: dict) -> dict:
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
    if typ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        return {"name": f"projects/{project}/roles/{inputs['roleId']}"}
    if typ == "gcp:projects/serviceIdentity:ServiceIdentity":
        agent = inputs["service"].split(".")[0]
        email = f"service-{MOCK_PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}"}
    return {}


def invoke_result(token: str, args: dict) -> dict:
    number = MOCK_PROJECT_NUMBER
    if token == "gcp:organizations/getProject:getProject":
        return {"number": number, "projectId": args.get("projectId")}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"
        return {"emailAddress": email, "member": f"serviceAccount:{email}"}
    if token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
        email = f"bq-{number}@bigquery-encryption.iam.gserviceaccount.com"
        return {"email": email, "member": f"serviceAccount:{email}"}
    raise NotImplementedError(f"the plan's mocks do not answer the invoke {token}; add it to customer360/pulumi_capture.py")


def run_program(root: Path, stack: str, registered: list[dict]) -> dict:
    """Every resource (type, name, urn, parent, protect, dependencies, inputs) and the stack outputs."""
    import runpy

    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import rpc

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            return f"{args.name}-id", {**args.inputs, **computed_outputs(args.typ, args.name, args.inputs)}

        def call(self, args: pulumi.runtime.MockCallArgs):
            return invoke_result(args.token, args.args)

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

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(root / "infra"), run_name="__main__")
        stack_outputs = pulumi.Output.from_input(pulumi.runtime.get_root_resource().outputs)
        return stack_outputs.apply(outputs.update)

    program()
    return {"stack": stack, "resources": registered, "outputs": _plain(outputs)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python customer360/pulumi_capture.py ROOT STACK", file=sys.stderr)
        return 2
    root, stack = Path(argv[0]).resolve(), argv[1]
    # Run by path, this file's folder is first on sys.path: the checkout's root must be instead.
    sys.path[0] = str(root)
    registered: list[dict] = []
    try:
        captured = run_program(root, stack, registered)
    except Exception as error:  # noqa: BLE001 - reported whole to the parent process
        import traceback

        traceback.print_exc()
        print(
            f"{ERROR_MARKER}{type(error).__module__}.{type(error).__name__}: {error}\n"
            f"resources declared before the error: {sum(r['custom'] for r in registered)}",
            file=sys.stderr,
        )
        return 1
    json.dump(captured, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

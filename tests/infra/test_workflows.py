"""The GitHub workflows: valid against GitHub's schema, clean under a security linter, and wired as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from customer360 import plan
from customer360.contract import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def steps_using(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]


def test_the_workflows_validate_against_githubs_workflow_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files, "no workflow files"
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_pass_zizmor_offline_with_the_auditor_persona():
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", "auditor", "--no-progress", str(WORKFLOWS)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit():
    for path in WORKFLOWS.glob("*.yml"):
        for job_name, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for step in job["steps"]:
                if "uses" in step:
                    ref = step["uses"].split("@", 1)[1]
                    assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), (
                        f"{path.name} job {job_name}: {step['uses']} is not pinned to a commit"
                    )


def test_pull_requests_get_the_tests_the_offline_diff_and_a_preview_per_stack():
    jobs = workflow("pull-request.yml")["jobs"]
    offline = "\n".join(step.get("run", "") for step in jobs["offline"]["steps"])
    assert "bash .ci/run" in offline, "the pull-request job must run the project's tests"
    assert 'c360 plan --stack "$stack" --diff "origin/$BASE_REF" --format markdown >> "$GITHUB_STEP_SUMMARY"' in offline
    assert "Pulumi.*.yaml" in offline, "the offline diff must cover every committed stack"
    preview = jobs["preview"]
    assert preview["strategy"]["matrix"]["stack"] == plan.committed_stacks(), "preview every committed stack"
    (pulumi,) = steps_using(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["diff"] is True, pulumi
    assert pulumi["with"]["comment-on-pr"] is True, "the preview is posted on the pull request"
    guarded = [step for step in preview["steps"] if "id" not in step]
    assert all(step.get("if") == "steps.credentials.outputs.configured == 'true'" for step in guarded), (
        "without cloud credentials every cloud step must be skipped"
    )
    assert "pulumi preview skipped" in preview["steps"][0]["run"], "the skip leaves a clear note"


def test_cloud_jobs_authenticate_with_workload_identity_federation_only():
    for name in ("pull-request.yml", "deploy.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            for step in steps_using(job, "google-github-actions/auth"):
                assert set(step["with"]) == {"workload_identity_provider", "service_account"}, f"{name} {job_name}"
                assert job["permissions"].get("id-token") == "write", f"{name} {job_name} cannot mint OIDC tokens"
    text = "".join(p.read_text(encoding="utf-8") for p in WORKFLOWS.glob("*.yml"))
    assert "credentials_json" not in text, "no JSON service-account keys"


def test_main_deploys_dev_then_prod_behind_its_protected_environment_migrations_first():
    deploy = workflow("deploy.yml")
    assert deploy[True] == {"push": {"branches": ["main"]}}, "deploys run on merge to main"
    jobs = deploy["jobs"]
    assert jobs["deploy-dev"]["environment"] == "dev"
    assert jobs["deploy-prod"]["environment"] == "prod" and jobs["deploy-prod"]["needs"] == "deploy-dev"
    for job_name, stack in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        steps = jobs[job_name]["steps"]
        migrate = next(i for i, s in enumerate(steps) if s.get("run") == f".venv/bin/c360 migrate --stack {stack}")
        up = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@"))
        assert migrate < up, f"{job_name}: migrations must run before pulumi up"
        settings = steps[up]["with"]
        assert (settings["command"], settings["stack-name"], settings["refresh"]) == ("up", stack, True), settings

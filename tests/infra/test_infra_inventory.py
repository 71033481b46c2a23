"""Per-stack inventory fixtures: resource counts by type and the settings of every resource, reviewed in diffs.

The fixtures tests/infra/fixtures/inventory_<stack>.json are generated files: after an intended change to
the program, the contract or the SQL, `.venv/bin/c360 regenerate` rewrites them (test_generated_artifacts
names the stale ones); review the diff and commit.
"""

import json
from pathlib import Path

from infra_harness import STACKS, run_stack
from typer.testing import CliRunner

from customer360 import plan, plan_diff
from customer360.artifacts import REGENERATE_COMMAND as REGENERATE
from customer360.artifacts import inventory_differences as describe_differences
from customer360.artifacts import unplanned_data_loss
from customer360.cli import app

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_path(stack: str) -> Path:
    return FIXTURES / f"inventory_{stack}.json"


def data_loss_against(fixture: dict, actual: dict) -> list[str]:
    """Every replacement or deletion of a data-holding resource from the fixture to the program, without a migration."""
    return unplanned_data_loss(json.dumps(fixture), json.dumps(actual))


def test_the_program_loses_no_data_against_the_reviewed_fixture(stack_run):
    path = fixture_path(stack_run.stack)
    assert path.exists(), f"no fixture {path.name}; create it with `{REGENERATE}`"
    losses = data_loss_against(json.loads(path.read_text(encoding="utf-8")), plan.inventory(stack_run.captured))
    assert not losses, (
        f"stack {stack_run.stack}: against {path.name}, these changes replace or delete data-holding resources "
        "and no migration is declared (README, \"Changing a table's schema\"):\n  " + "\n  ".join(losses)
    )


def test_every_committed_stack_has_a_fixture():
    fixtures = sorted(p.name for p in FIXTURES.glob("inventory_*.json"))
    assert fixtures == [fixture_path(s).name for s in STACKS], fixtures


def test_differences_name_the_changed_resource():
    before = {"counts": {"T": 1}, "resources": {"T a": {"x": "1"}}, "outputs": {}}
    after = {"counts": {"T": 2}, "resources": {"T a": {"x": "2"}, "T b": {}}, "outputs": {}}
    assert describe_differences(before, after) == ["count of T: 1 -> 2", "T a: x: '1' -> '2'", "added T b"]


def test_plan_lists_every_resource_in_a_stable_order():
    run = run_stack("dev")
    first = plan.render(run.captured)
    shuffled = dict(run.captured, resources=list(reversed(run.captured["resources"])))
    assert plan.render(shuffled) == first, "the listing depends on registration order"
    listed = [line for line in first.splitlines() if line.startswith("gcp:")]
    assert len(listed) == len(run.resources), "a resource is missing from the listing"
    assert listed == sorted(listed)


def test_plan_shows_a_sql_change_as_a_changed_digest():
    run = run_stack("dev")
    changed = json.loads(json.dumps(run.captured))
    routine = next(r for r in changed["resources"] if r["type"] == "gcp:bigquery/routine:Routine")
    routine["inputs"]["definitionBody"] += "\n-- changed"
    differences = describe_differences(plan.inventory(run.captured), plan.inventory(changed))
    assert differences == [
        f"{routine['type']} {routine['name']}: definitionBody: "
        f"{plan.digest(routine['inputs']['definitionBody'][: -len(chr(10) + '-- changed')])!r} -> "
        f"{plan.digest(routine['inputs']['definitionBody'])!r}"
    ], differences


def test_c360_plan_prints_the_listing(monkeypatch):
    # The capture itself is the one the other tests use; this checks the command's wiring.
    monkeypatch.setattr(plan, "capture", lambda stack: run_stack(stack).captured)
    result = CliRunner().invoke(app, ["plan", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert result.output == plan.render(run_stack("dev").captured)
    assert result.output.startswith("c360 plan: stack dev: ")


def test_c360_plan_rejects_an_unknown_stack():
    result = CliRunner().invoke(app, ["plan", "--stack", "staging"])
    assert result.exit_code == 2
    assert "no stack file Pulumi.staging.yaml" in result.output


def test_plan_shows_a_contract_change_on_the_changed_column():
    run = run_stack("dev")
    changed = json.loads(json.dumps(run.captured))
    table = next(r for r in changed["resources"] if r["name"] == "warehouse-silver-stores")
    schema = json.loads(table["inputs"]["schema"])
    schema[1]["description"] = "Shop sign."
    table["inputs"]["schema"] = json.dumps(schema)
    differences = describe_differences(plan.inventory(run.captured), plan.inventory(changed))
    assert differences == [
        "gcp:bigquery/table:Table warehouse-silver-stores: schema.02.store_name: "
        "'STRING NULLABLE: Display name of the store.' -> 'STRING NULLABLE: Shop sign.'"
    ], differences


def test_the_guard_names_the_table_and_the_provider_rule():
    run = run_stack("dev")
    fixture = plan.inventory(run.captured)
    changed = json.loads(json.dumps(run.captured))
    table = next(r for r in changed["resources"] if r["name"] == "warehouse-gold-customer_360")
    schema = json.loads(table["inputs"]["schema"])
    schema[0]["type"] = "INT64"
    table["inputs"]["schema"] = json.dumps(schema)
    (loss,) = data_loss_against(fixture, plan.inventory(changed))
    assert loss.startswith("+- gcp:bigquery/table:Table warehouse-gold-customer_360 (gold.customer_360)"), loss
    assert "resource_bigquery_table.go" in loss and "column customer_key changes type STRING -> INT64" in loss, loss

"""`c360 plan --diff`: create, update, replace and delete classified by the provider's rules, data loss marked, SQL as diffs."""

from __future__ import annotations

import json

import pytest
from infra_harness import STACKS, run_stack

from customer360 import migrations, plan, plan_diff, provider_rules

SILVER_STORES = "warehouse-silver-stores"


def copy(captured: dict) -> dict:
    return json.loads(json.dumps(captured))


def resource(captured: dict, name: str) -> dict:
    (found,) = [r for r in captured["resources"] if r["name"] == name]
    return found


def edit_schema(captured: dict, name: str, edit) -> dict:
    changed = copy(captured)
    table = resource(changed, name)
    schema = json.loads(table["inputs"]["schema"])
    edit(schema)
    table["inputs"]["schema"] = json.dumps(schema)
    return changed


def diff(before: dict, after: dict, declared: dict | None = None) -> plan_diff.StackDiff:
    return plan_diff.compare(
        plan_diff.resource_map(before),
        plan_diff.resource_map(after),
        stack="dev",
        before_label="before",
        after_label="after",
        migrations={} if declared is None else declared,
    )


def only(result: plan_diff.StackDiff, name: str) -> plan_diff.Change:
    (change,) = [c for c in result.changes if c.name == name]
    return change


def column(name: str, kind: str, mode: str) -> dict:
    return {"name": name, "type": kind, "mode": mode, "description": f"{name}."}


@pytest.fixture(scope="module")
def dev() -> dict:
    return run_stack("dev").captured


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_resource_type_has_provider_rules(stack):
    types = {r["type"] for r in run_stack(stack).resources}
    missing = sorted(types - set(provider_rules.FORCE_NEW))
    assert not missing, f"no ForceNew rules in customer360/provider_rules.py for {missing}"


def test_the_same_program_shows_no_changes(dev):
    result = diff(dev, copy(dev))
    assert result.changes == [] and result.exit_code == 0
    assert plan_diff.summary(result) == "no changes"


def test_an_added_nullable_column_is_an_update_without_data_loss(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s.append(column("region_code", "STRING", "NULLABLE")))
    result = diff(dev, after)
    change = only(result, SILVER_STORES)
    assert change.op == plan_diff.UPDATE and not change.data_loss, change
    assert [f.key for f in change.fields] == ["schema.region_code"], change.fields
    assert result.exit_code == 0


def test_an_added_required_column_replaces_the_table_delete_first_with_data_loss(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s.append(column("region_code", "STRING", "REQUIRED")))
    result = diff(dev, after)
    change = only(result, SILVER_STORES)
    assert change.op == plan_diff.REPLACE and change.data_loss, change
    (field,) = [f for f in change.fields if f.replaces]
    assert "resource_bigquery_table.go" in field.rule and "new column region_code is REQUIRED" in field.rule, field
    assert any("DeleteBeforeReplace" in note for note in change.notes), change.notes
    assert result.exit_code == plan_diff.EXIT_DATA_LOSS
    text = plan_diff.render_text(result)
    assert f"+- gcp:bigquery/table:Table {SILVER_STORES}  DATA LOSS" in text, text
    assert "no migration declared for silver.stores" in text, text


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda s: s[4].update(type="INT64"), "column region changes type STRING -> INT64"),
        (lambda s: s[4].update(mode="REQUIRED"), "column region changes mode NULLABLE -> REQUIRED"),
        (lambda s: s[4].update(name="sales_region"), "drops region while adding sales_region"),
    ],
    ids=["type change", "nullable to required", "rename"],
)
def test_breaking_schema_changes_replace_the_table(dev, edit, reason):
    result = diff(dev, edit_schema(dev, SILVER_STORES, edit))
    change = only(result, SILVER_STORES)
    assert change.op == plan_diff.REPLACE and change.data_loss, change
    assert any(reason in (f.rule or "") for f in change.fields), [f.rule for f in change.fields]
    assert result.exit_code == plan_diff.EXIT_DATA_LOSS


def test_relaxing_required_to_nullable_and_legacy_type_names_are_in_place(dev):
    def edit(schema):
        schema[0]["mode"] = "NULLABLE"  # store_id, REQUIRED in the contract
        schema[5]["type"] = "date"  # case-insensitive type names

    change = only(diff(dev, edit_schema(dev, SILVER_STORES, edit)), SILVER_STORES)
    assert change.op == plan_diff.UPDATE and not change.data_loss, change


def test_a_dropped_column_is_in_place_but_loses_its_data(dev):
    change = only(diff(dev, edit_schema(dev, SILVER_STORES, lambda s: s.pop(4))), SILVER_STORES)
    assert change.op == plan_diff.UPDATE, change
    assert change.data_loss == ["drops column(s) region in place, with their data"], change.data_loss


def test_a_declared_migration_makes_the_data_loss_planned_and_is_printed(dev, tmp_path):
    path = tmp_path / "0001_silver_stores_region_code.sql"
    path.write_text(
        "-- table: silver.stores\n-- reason: region_code is required; derived from region.\n"
        "select store_id, store_name, city, state, region, opened_date, _delivery_date from silver.stores\n",
        encoding="utf-8",
    )
    migration = migrations.parse(path)
    after = edit_schema(dev, SILVER_STORES, lambda s: s[4].update(type="INT64"))
    result = diff(dev, after, {"silver.stores": migration})
    change = only(result, SILVER_STORES)
    assert change.op == plan_diff.REPLACE and change.data_loss and change.migration is migration
    assert result.exit_code == 0, "a planned data loss must not fail the plan"
    text = plan_diff.render_text(result)
    assert "DATA LOSS (planned)" in text and "planned by migration 0001_silver_stores_region_code" in text, text
    assert "  | select store_id" in text, text


def test_a_sql_change_is_a_unified_diff_of_the_body(dev):
    after = copy(dev)
    routine = resource(after, "transform-procedure-step_gold_customer_360")
    lines = routine["inputs"]["definitionBody"].splitlines()
    middle = len(lines) // 2
    original = lines[middle]
    lines[middle] = original + "  -- reviewed"
    routine["inputs"]["definitionBody"] = "\n".join(lines)
    result = diff(dev, after)
    assert [c.name for c in result.changes] == ["transform-procedure-step_gold_customer_360"], result.changes
    change = result.changes[0]
    assert change.op == plan_diff.UPDATE and not change.data_loss
    lines = change.text_diffs["definitionBody"]
    assert lines[0] == "--- before" and lines[1] == "+++ after", lines[:2]
    assert f"-{original}" in lines and f"+{original}  -- reviewed" in lines, lines
    assert len([line for line in lines if line.startswith(("-", "+"))]) == 4, "only the changed line differs"
    assert "sha256:" not in plan_diff.render_text(result), "SQL must be shown as a diff, not a digest"


def test_deleting_a_table_loses_data_and_deleting_a_view_does_not(dev):
    after = copy(dev)
    after["resources"] = [r for r in after["resources"] if r["name"] not in (SILVER_STORES, "monitoring-view-freshness")]
    result = diff(dev, after)
    assert only(result, SILVER_STORES).op == plan_diff.DELETE and only(result, SILVER_STORES).data_loss
    assert only(result, "monitoring-view-freshness").op == plan_diff.DELETE
    assert not only(result, "monitoring-view-freshness").data_loss
    assert result.exit_code == plan_diff.EXIT_DATA_LOSS


def test_a_new_encryption_key_replaces_every_table(dev):
    after = copy(dev)
    for table in after["resources"]:
        if table["type"] == provider_rules.TABLE and "view" not in table["inputs"]:
            table["inputs"]["encryptionConfiguration"] = {"kmsKeyName": "projects/p/locations/europe/keyRings/r/cryptoKeys/k"}
    result = diff(dev, after)
    replaced = result.of(plan_diff.REPLACE)
    assert replaced and all(c.type == provider_rules.TABLE and c.data_loss for c in replaced), replaced
    assert all("resource_bigquery_table.go" in c.fields[0].rule for c in replaced)


def test_a_new_transfer_path_replaces_the_transfer_without_data_loss(dev):
    after = copy(dev)
    transfer = resource(after, "load-customers")
    transfer["inputs"]["params"]["data_path_template"] += "x"
    change = only(diff(dev, after), "load-customers")
    assert change.op == plan_diff.REPLACE and not change.data_loss
    assert "ParamsCustomizeDiffFunc" in change.fields[0].rule


def test_a_protected_replacement_is_noted():
    prod = run_stack("prod").captured
    after = edit_schema(prod, SILVER_STORES, lambda s: s[4].update(type="INT64"))
    change = only(diff(prod, after), SILVER_STORES)
    assert any("protect" in note for note in change.notes), change.notes


def test_groups_come_in_create_update_replace_delete_order(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s[4].update(type="INT64"))
    routine = resource(after, "transform-procedure-step_gold_customer_360")
    routine["inputs"]["description"] += " Changed."
    extra = copy(resource(after, "monitoring-view-freshness"))
    extra.update(name="monitoring-view-extra", urn=extra["urn"] + "-extra")
    after["resources"].append(extra)
    after["resources"] = [r for r in after["resources"] if r["name"] != "monitoring-view-run_history"]
    result = diff(dev, after)
    assert [c.op for c in result.changes] == ["+", "~", "+-", "-"], [(c.op, c.name) for c in result.changes]
    text = plan_diff.render_text(result)
    positions = [text.index(f"\n{op} gcp:") for op in ("+", "~", "+-", "-")]
    assert positions == sorted(positions), text


def test_markdown_and_json_carry_the_same_diff(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s.append(column("region_code", "STRING", "REQUIRED")))
    result = diff(dev, after)
    markdown = plan_diff.render_markdown(result)
    assert markdown.startswith("### `c360 plan --diff` for stack `dev`"), markdown
    assert f"| `+-` | `gcp:bigquery/table:Table {SILVER_STORES}` | schema | **DATA LOSS** |" in markdown, markdown
    assert "**DATA LOSS without a migration**" in markdown and "```diff" in markdown, markdown
    parsed = json.loads(plan_diff.render_json(result))
    assert parsed["exit_code"] == 4 and parsed["summary"]["unplanned_data_loss"] == 1, parsed["summary"]
    (table,) = [c for c in parsed["changes"] if c["name"] == SILVER_STORES]
    assert table["op"] == "+-" and table["table"] == "silver.stores" and table["unplanned_data_loss"], table


# ---------------------------------------------------------------------------
# The guard: the reviewed fixtures against the program
# ---------------------------------------------------------------------------


def guard(before_listing: dict, after_listing: dict) -> plan_diff.StackDiff:
    return plan_diff.compare(
        plan_diff.inventory_resource_map(before_listing),
        plan_diff.inventory_resource_map(after_listing),
        stack=after_listing["stack"],
        before_label="fixture",
        after_label="program",
    )


def test_the_guard_reads_a_data_losing_change_from_the_inventories(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s.append(column("region_code", "STRING", "REQUIRED")))
    result = guard(plan.inventory(dev), plan.inventory(after))
    (change,) = result.unplanned
    assert change.name == SILVER_STORES and change.table_ref == "silver.stores", change
    assert any("new column region_code is REQUIRED" in (f.rule or "") for f in change.fields), change.fields


def test_the_guard_passes_an_added_nullable_column_and_a_new_table(dev):
    after = edit_schema(dev, SILVER_STORES, lambda s: s.append(column("region_code", "STRING", "NULLABLE")))
    extra = copy(resource(after, SILVER_STORES))
    extra.update(name="warehouse-ops-ledger", urn=extra["urn"].replace(SILVER_STORES, "warehouse-ops-ledger"))
    extra["inputs"]["tableId"] = "ledger"
    after["resources"].append(extra)
    result = guard(plan.inventory(dev), plan.inventory(after))
    assert not result.unplanned, [c.label for c in result.unplanned]
    assert {c.op for c in result.changes} == {"+", "~"}, [(c.op, c.name) for c in result.changes]

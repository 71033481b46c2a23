"""The BigQuery cost estimate: columns read, partition pruning, DML targets, growth with history, the command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from customer360 import contract, cost
from customer360.cli import app
from customer360.cost_model import Retailer
from customer360.zeta import Catalog
from customer360.zeta.reads import script_reads
from zeta_harness import reference  # noqa: F401  (a fixture)

DEMO = Retailer(cost.demo_rows_per_day())


@pytest.fixture(scope="module")
def analyse(reference):  # noqa: F811
    catalog = Catalog.from_contract()

    def reads(sql: str):
        return script_reads(sql, catalog, parameters={**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS})

    return reads


@pytest.fixture(scope="session")
def pipeline_reads():
    """Every step's statements analysed once (the slow part of `c360 cost`)."""
    return cost.step_reads()


def bytes_on(day: int, found, retailer: Retailer = DEMO) -> list[float]:
    estimate = cost.DayEstimate(retailer, day)
    return [estimate.statement("test", statement).bytes for statement in found]


def column_bytes(ref: str, *columns: str) -> float:
    return sum(DEMO.column_bytes(ref, c) for c in columns)


def test_a_statement_reading_two_columns_costs_exactly_those_two_columns(analyse):
    (found,) = analyse("select customer_id, email from silver.customers")
    (cost_day_1,) = bytes_on(1, [found])
    expected = DEMO.rows("silver.customers", 1) * column_bytes("silver.customers", "customer_id", "email")
    assert cost_day_1 == pytest.approx(expected), f"silver.customers read costs {cost_day_1}, expected {expected}"
    assert found.reads[0].columns == ("customer_id", "email")


def test_a_column_used_only_in_the_filter_is_read_too(analyse):
    (found,) = analyse("select count(*) from silver.customers where city = 'Austin'")
    (bytes_read,) = bytes_on(1, [found])
    assert bytes_read == pytest.approx(DEMO.rows("silver.customers", 1) * column_bytes("silver.customers", "city"))


def test_a_table_referenced_twice_is_billed_once_for_the_union_of_its_columns(analyse):
    (found,) = analyse(
        "select a.customer_id from silver.customers as a join silver.customers as b on a.email = b.phone"
    )
    (bytes_read,) = bytes_on(1, [found])
    expected = DEMO.rows("silver.customers", 1) * column_bytes("silver.customers", "customer_id", "email", "phone")
    assert bytes_read == pytest.approx(expected)


def test_a_filter_on_the_partition_column_by_a_parameter_prunes_to_its_days(analyse):
    (found,) = analyse("select customer_id from raw.customers where _PARTITIONDATE in unnest(@delivery_dates)")
    (scan,) = cost.statement_scans(found)
    assert scan.partitions == cost.PARAMETER_DAYS["delivery_dates"], f"raw.customers scan not pruned: {scan}"
    (bytes_read,) = bytes_on(365, [found])
    assert bytes_read == pytest.approx(DEMO.partition_rows("raw.customers") * column_bytes("raw.customers", "customer_id"))


def test_a_pruned_read_does_not_grow_with_history(analyse):
    found = analyse("select order_id, quantity from raw.online_orders where _PARTITIONDATE = @run_date")
    assert bytes_on(1, found) == bytes_on(365, found)


def test_pruning_is_refused_when_the_filter_is_not_on_the_partition_column(analyse):
    (found,) = analyse("select source from ops.run_partitions where delivery_date in unnest(@delivery_dates)")
    (scan,) = cost.statement_scans(found)
    assert scan.partitions is None, f"ops.run_partitions is partitioned by run_date, yet pruned: {scan}"
    assert scan.unpruned_filter.startswith("delivery_date")
    (bytes_read,) = bytes_on(30, [found])
    read = column_bytes("ops.run_partitions", "source", "delivery_date")  # the filter's column too
    expected = DEMO.rows("ops.run_partitions", 30) * read
    assert bytes_read == pytest.approx(expected)


def test_the_ledger_derived_days_prune_a_silver_table_partitioned_by_delivery_day(analyse):
    lines = contract.table("silver.online_order_lines")
    assert lines.partition_by == contract.DELIVERY_DATE_COLUMN
    held = cost.HELD_DAYS["online_orders"]
    for variable, days in (("holder_dates", held), ("replaced_dates", 1 + held), ("online_orders_days", 1 + held)):
        (found,) = analyse(f"select order_id from silver.online_order_lines where _delivery_date in unnest(@{variable})")
        (scan,) = cost.statement_scans(found)
        assert scan.partitions == days, f"silver.online_order_lines filtered by @{variable}: {scan}"
        assert bytes_on(60, [found]) == bytes_on(365, [found]), f"a read pruned by @{variable} grows with history"


def test_a_filter_on_an_unpartitioned_table_scans_it_whole(analyse):
    (found,) = analyse("select customer_id from raw.customers where customer_id = 'C1'")
    (scan,) = cost.statement_scans(found)
    assert scan.partitions is None


def test_a_history_sized_read_grows_with_history_and_a_bounded_one_does_not(analyse):
    lines = analyse("select order_id, line_revenue from silver.online_order_lines")
    first, last = bytes_on(1, lines)[0], bytes_on(365, lines)[0]
    assert last > 100 * first, f"silver.online_order_lines read: day 1 {first}, day 365 {last}"
    slots = analyse("select channel, revenue from gold.channel_activity_trends")
    assert bytes_on(100, slots) == bytes_on(365, slots), "the slot table is bounded by its slots"


def test_rows_scale_with_rows_per_day(analyse):
    lines = analyse("select order_id from silver.online_order_lines")
    double = Retailer(2 * DEMO.rows_per_day)
    assert bytes_on(30, lines, double)[0] == pytest.approx(2 * bytes_on(30, lines)[0])


def test_a_delete_also_costs_every_column_of_the_partitions_it_modifies(analyse):
    (found,) = analyse("delete from ops.rejected_rows where delivery_date in unnest(@delivery_dates) and source = 'x'")
    (bytes_read,) = bytes_on(10, [found])
    table = contract.table("ops.rejected_rows")
    partition = DEMO.partition_rows("ops.rejected_rows")
    referenced = column_bytes("ops.rejected_rows", "source", "delivery_date")
    every_column = column_bytes("ops.rejected_rows", *table.column_names)
    assert bytes_read == pytest.approx(partition * (referenced + every_column))


def test_an_insert_costs_only_its_query(analyse):
    (found,) = analyse("insert into silver.stores (store_id) select store_id from raw.stores where _PARTITIONDATE = @run_date")
    (bytes_read,) = bytes_on(10, [found])
    assert bytes_read == pytest.approx(DEMO.partition_rows("raw.stores") * column_bytes("raw.stores", "store_id"))


def test_a_temporary_table_holds_the_rows_of_what_creates_it(analyse):
    found = analyse(
        "create temp table todays as select order_id, quantity from raw.online_orders "
        "where _PARTITIONDATE in unnest(@delivery_dates);\n"
        "select order_id from todays"
    )
    estimate = cost.DayEstimate(DEMO, 200)
    create, select = (estimate.statement("test", s) for s in found)
    assert estimate.temp_rows["todays"] == pytest.approx(DEMO.partition_rows("raw.online_orders"))
    assert select.bytes == pytest.approx(DEMO.partition_rows("raw.online_orders") * column_bytes("raw.online_orders", "order_id"))


def test_an_unanalysable_statement_is_reported_with_keep_going(reference):  # noqa: F811
    found = script_reads("select 1;\nselect no_such_column from silver.customers", Catalog.from_contract(), keep_going=True)
    assert [f.kind for f in found] == ["select", "unanalysed"]
    assert "no_such_column" in found[1].error


def test_every_step_of_the_pipeline_is_estimated(pipeline_reads):
    result = cost.estimate(cost.demo_rows_per_day(), 365, pipeline_reads)
    missing = [s.name for s in contract.PIPELINE if result.step_bytes(s.name, 0) <= 0]
    assert not missing, f"steps with no bytes on day 1: {missing}"


def test_the_command_prints_day_1_and_day_365_for_the_demo_retailer(pipeline_reads, monkeypatch):
    monkeypatch.setattr(cost, "step_reads", lambda steps=None: pipeline_reads)
    result = CliRunner().invoke(app, ["cost"])
    assert result.exit_code == 0, result.output
    assert "day 1" in result.output and "day 365" in result.output
    for step in contract.PIPELINE:
        assert step.name in result.output, f"step {step.name} missing from c360 cost"
    assert "Reads that grow with history" in result.output


def test_the_command_prints_json_with_both_days(pipeline_reads, monkeypatch):
    monkeypatch.setattr(cost, "step_reads", lambda steps=None: pipeline_reads)
    result = CliRunner().invoke(app, ["cost", "--rows-per-day", "100000", "--history-days", "30", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["days"] == [1, 30] and figures["rows_per_day"] == 100000
    assert {s["step"] for s in figures["steps"]} == {s.name for s in contract.PIPELINE}
    assert all(s["day_30_bytes"] >= s["day_1_bytes"] for s in figures["steps"])
    total = sum(s["day_30_bytes"] for s in figures["steps"])
    split = figures["stored_tables"]["day_30_bytes"] + figures["temporary_tables"]["day_30_bytes"]
    assert abs(split - total) <= len(figures["steps"]), f"stored + temporary {split} != total {total}"


def test_the_silver_steps_read_only_the_delivery_days_that_hold_their_keys(pipeline_reads):
    # From day 30 on (past the days whose keys a regular day delivers again) to day 365.
    result = cost.estimate(cost.demo_rows_per_day(), 365, pipeline_reads, first_day=30)
    growing = result.growing_reads()
    by_day = [s.silver for s in contract.SOURCES if s.silver.partition_by == contract.DELIVERY_DATE_COLUMN]
    assert by_day, "no silver table is partitioned by delivery day"
    for table in by_day:
        step = contract.STEPS_BY_NAME[table.name]
        grown = [f"line {g.statement.line}: {g.reason}" for g in growing if g.step == step.name and g.table == table.ref]
        assert not grown, f"step {step.name} reads {table.ref} more with history: {grown}"
    reasons = {(g.statement.target, g.table): g.reason for g in growing}
    reason = reasons.get(("previous_order_products", "silver.order_products"))
    assert reason is not None and "not partitioned" in reason, (
        f"the read of the unpartitioned silver.order_products is not listed as growing: {reason}"
    )
    flat = [g for g in growing if g.table.startswith("raw.")]
    assert not flat, f"reads of the day's raw partitions listed as growing: {[(g.step, g.table) for g in flat]}"


def test_bounded_tables_stop_at_their_bound():
    assert DEMO.rows("silver.slot_totals", 365) <= contract_slots()
    assert DEMO.rows("silver.agent_totals", 365) <= DEMO.rows("silver.support_agents", 365)
    assert DEMO.rows("silver.customer_metrics", 365) <= DEMO.rows("gold.customer_360", 365)
    assert DEMO.rows("ops.raw_partitions", 365) == Retailer(10 * DEMO.rows_per_day).rows("ops.raw_partitions", 365), (
        "the ledger holds a row per source and day, whatever the volume"
    )


def contract_slots() -> int:
    from customer360.cost_model import SLOTS

    return SLOTS


README_ROWS = {"silver + identity": "silver", "quality checks": "quality", "intermediates": "intermediate", "gold": "gold"}


def test_the_readme_shows_the_figures_the_command_prints(pipeline_reads):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What a day costs in BigQuery", 1)[1].split("\n## ", 1)[0]
    result = cost.estimate(cost.demo_rows_per_day(), 365, pipeline_reads)
    expected = {
        label: (result.group_bytes(group, 0), result.group_bytes(group, 1)) for label, group in README_ROWS.items()
    }
    expected["total"] = (result.total_bytes(0), result.total_bytes(1))
    for label, (first, last) in expected.items():
        row = f"| {label} | {cost.format_bytes(first)} | {cost.format_bytes(last)} | {cost.ratio(first, last)} |"
        assert row in section, f"README 'What a day costs in BigQuery' lacks {row!r}: rerun `c360 cost` and update it"


def test_the_command_says_how_silver_and_gold_compare_with_the_flat_target(pipeline_reads, monkeypatch):
    monkeypatch.setattr(cost, "step_reads", lambda steps=None: pipeline_reads)
    result = CliRunner().invoke(app, ["cost", "--history-days", "30"])
    assert result.exit_code == 0, result.output
    estimate = cost.estimate(cost.demo_rows_per_day(), 30, pipeline_reads)
    silver = cost.ratio(estimate.group_bytes("silver", 0), estimate.group_bytes("silver", 1))
    assert f"Day 30 against day 1: silver {silver}, gold " in result.output, result.output


def test_the_command_prints_one_step_statement_by_statement(pipeline_reads, monkeypatch):
    monkeypatch.setattr(cost, "step_reads", lambda steps=None: {s.name: pipeline_reads[s.name] for s in steps})
    result = CliRunner().invoke(app, ["cost", "--step", "stores"])
    assert result.exit_code == 0, result.output
    assert "raw.stores (" in result.output and "1 partition(s)" in result.output, result.output
    assert "online_order_lines" not in result.output, "--step stores printed another step"


def test_an_unknown_step_is_one_line_and_exit_code_2():
    result = CliRunner().invoke(app, ["cost", "--step", "no_such_step"])
    assert result.exit_code == 2
    assert "--step 'no_such_step' is not a step of the pipeline" in result.output


def test_a_cached_analysis_reads_back_equal_to_the_analysis(reference):  # noqa: F811
    import dataclasses

    from customer360 import sqlgen

    step = contract.STEPS_BY_NAME["order_products"]
    variables = {contract.procedure_argument(p): t for p, t in contract.QUERY_PARAMETERS.items()}
    analysed = script_reads(sqlgen.procedure_body(step), Catalog.from_contract(), variables=variables, keep_going=True)
    stored = json.loads(json.dumps([dataclasses.asdict(s) for s in analysed]))
    assert [cost._statement_reads(data) for data in stored] == analysed


def test_the_changes_of_one_table_size_a_temporary_table_read_from_the_change_feed(analyse):
    found = analyse(
        "create temp table changed_lines as select changes.key_value, products.category\n"
        "from ops.run_changes as changes left join silver.products as products on changes.key_value = products.product_id\n"
        "where changes.table_name = 'silver.online_order_lines'"
    )
    estimate = cost.DayEstimate(DEMO, 30)
    estimate.statement("test", found[0])
    assert estimate.temp_rows["changed_lines"] == pytest.approx(DEMO.partition_rows("raw.online_orders"))
    assert DEMO.changes_rows("silver.online_order_lines") < DEMO.rows("ops.run_changes", 30)


def test_an_inner_join_keeps_at_most_its_smaller_side(analyse):
    found = analyse(
        "create temp table members as select m.loyalty_card_id from silver.loyalty_members as m\n"
        "inner join silver.support_agents as a on m.customer_id = a.agent_id"
    )
    estimate = cost.DayEstimate(DEMO, 30)
    estimate.statement("test", found[0])
    assert estimate.temp_rows["members"] == pytest.approx(DEMO.rows("silver.support_agents", 30))

"""`c360 run --select` runs exactly the steps it names, over the whole warehouse; `c360 check` runs only the checks."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from customer360 import contract, engine, generate, lineage
from customer360.cli import app
from pipeline_harness import snapshot, without_run_ids, write_delivery
from zeta_harness import reference  # noqa: F401  (a fixture)

runner = CliRunner()


@pytest.fixture(scope="module")
def held(tmp_path_factory) -> Path:
    """A warehouse that processed two generated delivery days."""
    root = tmp_path_factory.mktemp("held")
    generate.generate(root / "data", days=2, scale=0.05, seed=5)
    warehouse = root / "warehouse.duckdb"
    for day in sorted(p for p in (root / "data").iterdir() if p.is_dir()):
        result = runner.invoke(app, ["run", "--data", str(day), "--warehouse", str(warehouse)])
        assert result.exit_code == 0, result.output
    return warehouse


@pytest.fixture
def warehouse(held, tmp_path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(held, copy)
    return copy


def query(warehouse: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def latest_run_steps(warehouse: Path) -> list[str]:
    run_id = query(warehouse, "SELECT run_id FROM ops.pipeline_runs ORDER BY started_at DESC LIMIT 1")[0][0]
    return [row[0] for row in query(
        warehouse, f"SELECT step FROM ops.pipeline_runs WHERE run_id = '{run_id}' AND step != 'run' ORDER BY started_at"
    )]


def step_lines(output: str) -> list[str]:
    return re.findall(r"^\s*\d+/\d+ \w+\s+\w+ (\w+)", output, flags=re.MULTILINE)


def run_selected(warehouse: Path, expression: str, *extra: str):
    return runner.invoke(app, ["run", "--select", expression, "--warehouse", str(warehouse), "--run-date", "2026-01-06",
                               *extra])


def test_select_step_plus_runs_exactly_the_step_and_what_depends_on_it_and_says_which(warehouse):
    result = run_selected(warehouse, "customer_segments+")
    assert result.exit_code == 0, result.output
    assert "Selected 2 of 26 steps: customer_segments, customer_360" in result.output, result.output
    assert step_lines(result.output) == ["customer_segments", "customer_360"], result.output
    assert latest_run_steps(warehouse) == ["customer_segments", "customer_360"]
    assert "PASS=2 WARN=0 ERROR=0 SKIP=0" in result.output, result.output


def test_select_plus_step_runs_exactly_the_step_and_what_it_depends_on(warehouse):
    result = run_selected(warehouse, "+customer_orders")
    assert result.exit_code == 0, result.output
    expected = ["customers", "online_order_lines", "store_sale_lines", "loyalty_members", "support_tickets",
                "customer_identity", "customer_orders"]
    assert expected == list(lineage.graph().select("+customer_orders"))
    assert step_lines(result.output) == expected, result.output
    assert latest_run_steps(warehouse) == expected


def test_an_unknown_step_is_one_line_listing_close_names_and_nothing_runs(warehouse):
    before = snapshot(warehouse)
    result = run_selected(warehouse, "customer_segment+")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: --select: no step named 'customer_segment'; did you mean customer_segments, "
                     "customer_metrics, customer_identity?"], result.output
    assert snapshot(warehouse) == before


def test_select_and_full_refresh_together_are_refused(warehouse):
    result = run_selected(warehouse, "customers", "--full-refresh")
    assert result.exit_code == 2 and "either --select or --full-refresh" in result.output, result.output


def test_a_selected_recompute_of_every_step_leaves_every_table_as_it_was(warehouse):
    before = without_run_ids(snapshot(warehouse))
    everything = ",".join(s.name for s in contract.PIPELINE)
    result = run_selected(warehouse, everything)
    assert result.exit_code == 0, result.output
    assert step_lines(result.output) == [s.name for s in contract.PIPELINE], result.output
    after = without_run_ids(snapshot(warehouse))
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"a selected full recompute changed {changed}"


def test_a_selected_silver_step_processes_every_raw_partition_of_its_source_again(warehouse):
    result = run_selected(warehouse, "customers")
    assert result.exit_code == 0, result.output
    run_id = query(warehouse, "SELECT max(run_id) FROM ops.run_partitions WHERE reason = 'selected'")[0][0]
    processed = query(warehouse, f"SELECT source, delivery_date FROM ops.run_partitions WHERE run_id = '{run_id}' "
                                 "ORDER BY delivery_date")
    held = query(warehouse, "SELECT source, delivery_date FROM ops.raw_partitions WHERE source = 'customers' "
                            "ORDER BY delivery_date")
    assert processed == held and len(held) == 2, processed


def test_a_selected_intermediate_recomputes_every_entity_and_restores_lost_rows(warehouse):
    expected = query(warehouse, "SELECT * FROM silver.customer_metrics ORDER BY customer_key")
    connection = duckdb.connect(str(warehouse))
    connection.execute("DELETE FROM silver.customer_metrics WHERE customer_key IN "
                       "(SELECT customer_key FROM silver.customer_metrics ORDER BY customer_key LIMIT 5)")
    connection.close()
    result = run_selected(warehouse, "customer_metrics")
    assert result.exit_code == 0, result.output
    assert query(warehouse, "SELECT * FROM silver.customer_metrics ORDER BY customer_key") == expected


def test_a_selection_without_its_upstream_leaves_pending_days_for_the_next_run(warehouse, tmp_path):
    generate.generate(tmp_path / "more", days=3, scale=0.05, seed=5)
    load = runner.invoke(app, ["load", "--data", str(tmp_path / "more" / "2026-01-07"), "--warehouse", str(warehouse)])
    assert load.exit_code == 0, load.output
    selected = run_selected(warehouse, "customer_360")
    assert selected.exit_code == 0, selected.output
    full = runner.invoke(app, ["run", "--warehouse", str(warehouse), "--run-date", "2026-01-07"])
    assert full.exit_code == 0, full.output
    assert "partitions=8" in full.output, "the days loaded before the selection were still pending"


def test_a_selected_silver_step_leaves_the_steps_reading_it_to_the_next_run(tmp_path):
    """A selected silver step takes in a day only loaded so far; the steps that read its table were not selected,
    so the next full run must bring them up to date, although no raw partition is pending any more."""
    from pipeline_harness import customer, order_line

    warehouse = tmp_path / "warehouse.duckdb"
    first = write_delivery(tmp_path / "2026-01-05", {"customers": [customer("C1")],
                                                      "online_orders": [order_line("O-1", customer_id="C1")]})
    second = write_delivery(tmp_path / "2026-01-06", {"online_orders": [order_line("O-2", customer_id="C1")]})
    assert runner.invoke(app, ["run", "--data", str(first), "--warehouse", str(warehouse)]).exit_code == 0
    loaded = runner.invoke(app, ["load", "--data", str(second), "--warehouse", str(warehouse)])
    assert loaded.exit_code == 0, loaded.output
    selected = run_selected(warehouse, "online_order_lines")
    assert selected.exit_code == 0, selected.output
    assert query(warehouse, "SELECT order_id FROM silver.online_order_lines ORDER BY 1") == [("O-1",), ("O-2",)]
    full = runner.invoke(app, ["run", "--warehouse", str(warehouse), "--run-date", "2026-01-06"])
    assert full.exit_code == 0, full.output
    for ref in ("silver.order_products", "silver.customer_orders"):
        orders = query(warehouse, f"SELECT DISTINCT order_id FROM {ref} ORDER BY 1")
        assert orders == [("O-1",), ("O-2",)], (
            f"{ref} holds orders {orders} after the next full run: O-2, which the selected online_order_lines "
            f"took in, never reached it\n{full.output}"
        )


# ---------------------------------------------------------------------------
# c360 check
# ---------------------------------------------------------------------------


def test_check_runs_only_the_checks_and_records_them_under_a_run_id_of_their_own(warehouse):
    results_before = query(warehouse, "SELECT count(*) FROM ops.data_quality_results")[0][0]
    runs_before = query(warehouse, "SELECT count(*) FROM ops.pipeline_runs")[0][0]
    result = runner.invoke(app, ["check", "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    checks = [s.name for s in contract.PIPELINE if s.kind == "quality"]
    assert step_lines(result.output) == checks, result.output
    assert re.search(r"PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", result.output), result.output
    run_id = re.search(r"Checks (check-\S+) recorded", result.output).group(1)
    recorded = query(warehouse, f"SELECT DISTINCT check_name FROM ops.data_quality_results WHERE run_id = '{run_id}'")
    assert sorted(r[0] for r in recorded) == sorted(checks)
    added = query(warehouse, "SELECT count(*) FROM ops.data_quality_results")[0][0] - results_before
    assert added == len(checks) - 1 + len(contract.SOURCES), "one row per check, one per source for deliveries_arrived"
    assert query(warehouse, "SELECT count(*) FROM ops.pipeline_runs")[0][0] == runs_before, "a check is not a run"
    judged = query(warehouse, f"SELECT DISTINCT run_date FROM ops.data_quality_results WHERE run_id = '{run_id}'")
    assert [str(r[0]) for r in judged] == ["2026-01-06"], "freshness is judged on the newest delivery day held"


def _corrupt(warehouse: Path, sql: str) -> None:
    connection = duckdb.connect(str(warehouse))
    try:
        connection.execute(sql)
    finally:
        connection.close()


@pytest.mark.parametrize("corruption, check", [
    ("INSERT INTO silver.customers SELECT * FROM silver.customers LIMIT 1", "silver_keys_unique_and_present"),
    ("UPDATE silver.online_order_lines SET channel = 'fax' WHERE order_id = "
     "(SELECT min(order_id) FROM silver.online_order_lines)", "silver_accepted_values"),
    ("UPDATE ops.processed_partitions SET accepted_rows = accepted_rows + 1 WHERE source = 'stores'", "conservation"),
    ("UPDATE silver.customer_identity SET customer_key = 'C-nobody' WHERE source = 'support_tickets' AND source_id = "
     "(SELECT min(source_id) FROM silver.customer_identity WHERE source = 'support_tickets')",
     "identity_resolves_to_identities"),
])
def test_check_finds_what_no_run_wrote_and_a_blocking_failure_records_nothing(warehouse, tmp_path, corruption,
                                                                              check):
    _corrupt(warehouse, corruption)
    before = snapshot(warehouse)
    result = runner.invoke(app, ["check", "--warehouse", str(warehouse)])
    assert result.exit_code == 3, result.output
    assert re.search(rf"ERROR\s+quality {check} ", result.output), result.output
    assert f"checks rolled back, warehouse unchanged: blocking data-quality check failed: {check}" in result.output
    assert "ERROR=1" in result.output, result.output
    assert snapshot(warehouse) == before, "a failed check wrote to the warehouse"
    # A pipeline run's checks look only at what the run writes: a delivery of one new store passes them.
    folder = write_delivery(tmp_path / "2026-01-07", {"stores": [{"store_id": "S-new", "store_name": "New"}]})
    day = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)])
    assert day.exit_code == 0 and "ERROR=0" in day.output, day.output


def test_a_selected_check_looks_at_the_whole_warehouse(warehouse):
    _corrupt(warehouse, "INSERT INTO silver.customers SELECT * FROM silver.customers LIMIT 1")
    before = snapshot(warehouse)
    result = run_selected(warehouse, "silver_keys_unique_and_present")
    assert result.exit_code == 3, result.output
    assert "data-quality check silver_keys_unique_and_present failed" in result.output, result.output
    assert snapshot(warehouse) == before


def test_check_of_a_missing_warehouse_is_one_line(tmp_path):
    result = runner.invoke(app, ["check", "--warehouse", str(tmp_path / "nowhere.duckdb")])
    assert result.exit_code == 2, result.output
    assert [line for line in result.output.splitlines() if line.strip()] == [
        f"error: {tmp_path / 'nowhere.duckdb'}: no such warehouse"], result.output
    assert not (tmp_path / "nowhere.duckdb").exists()


def test_engine_check_judges_freshness_on_the_day_given(warehouse):
    result = engine.check(warehouse, as_of=dt.date(2026, 1, 12))
    arrived = next(s for s in result.steps if s.step == "deliveries_arrived")
    assert arrived.check_status == "warn" and "missing 2026-01-07" in (arrived.detail or ""), arrived


def test_the_warehouse_scope_queries_are_valid_bigquery_that_carries_to_duckdb(reference):
    from customer360 import sqlgen, validate
    from customer360.sqlgen import derived

    targets = []
    for step in contract.PIPELINE:
        if step.kind == "quality":
            targets.append(validate.Target(f"<warehouse-scope check {step.name}>", text=sqlgen.step_query(step, "warehouse"),
                                           transpile=True))
        elif step.intermediate is not None:
            targets.append(validate.Target(f"<every entity of {step.name}>", text=derived.every_entity(step),
                                           transpile=True))
    problems = validate.validate(targets, use_cache=False)
    assert not problems, "\n".join(map(str, problems))
    scoped = [t.text for t in targets if "check" in t.label]
    assert not any("ops.run_changes" in text.lower() or "@run_id" in text for text in scoped), \
        "a warehouse-scope check reads what the run wrote"


def test_the_key_check_accepts_a_key_both_written_and_removed_by_a_run_present_or_not():
    """A cloud full refresh lists a kept identifier count as added and a silver step may then remove it: such a key
    may end present or absent, while a key only written must be present once and one only removed absent."""
    import duckdb

    from customer360 import dialect, warehouse as layout
    from customer360.sqlgen import checks

    connection = duckdb.connect()
    for dataset in contract.DATASETS:
        connection.execute(f"CREATE SCHEMA {dataset}")
    for table in contract.ALL_TABLES:
        connection.execute(layout.create_table_sql(table))
    ref = "silver.order_line_customer_ids"
    changes = {"C1": ("added", "removed"), "C2": ("added", "removed"), "C3": ("added",), "C4": ("removed",),
               "C5": ("added", "updated")}
    for value, kinds in changes.items():
        for kind in kinds:
            connection.execute("INSERT INTO ops.run_changes (run_id, table_name, key_value, change) VALUES ('r', ?, ?, ?)",
                               [ref, value, kind])
    for value in ("C2", "C4"):
        connection.execute(f"INSERT INTO {ref} (customer_id, row_count) VALUES (?, 1)", [value])
    violations = connection.execute(dialect.transpile_one(checks._check_keys())).fetchall()
    flagged = sorted((row[1], row[3], row[4]) for row in violations)
    assert flagged == [("C3", "added", 0), ("C4", "removed", 1), ("C5", "written", 0)], (
        f"the key check flagged {flagged} of {ref}: expected the key only added but absent (C3), the key only removed "
        f"but present (C4) and the key added and updated but absent (C5), not the keys written and removed (C1, C2)"
    )


def test_a_warehouse_gaining_derived_tables_refuses_a_selection_until_a_full_run_fills_them(tmp_path):
    """A warehouse from before the identifier counts existed gets them empty: a --select over them would drop every
    order and sale identity, so it is refused in one line, and the next full run fills them from silver."""
    from pipeline_harness import customer, member, order_line, sale_line

    warehouse = tmp_path / "warehouse.duckdb"
    first = write_delivery(tmp_path / "2026-01-05", {"customers": [customer("C1")], "loyalty_members": [member("L1")],
                                                      "online_orders": [order_line("O-1", customer_id="C1")],
                                                      "store_sales": [sale_line("T-1", loyalty_card_id="L1")]})
    assert runner.invoke(app, ["run", "--data", str(first), "--warehouse", str(warehouse)]).exit_code == 0
    identity = query(warehouse, "SELECT * FROM silver.customer_identity ORDER BY ALL")
    connection = duckdb.connect(str(warehouse))
    for table in contract.IDENTIFIER_COUNT_TABLES:
        connection.execute(f"DROP TABLE {table.ref}")  # as a warehouse written before they existed
    connection.close()
    refused = run_selected(warehouse, "customer_identity")
    assert refused.exit_code == 2, refused.output
    lines = refused.output.strip().splitlines()
    assert lines[-1].startswith("error:") and "run c360 run without --select" in lines[-1], refused.output
    assert query(warehouse, "SELECT * FROM silver.customer_identity ORDER BY ALL") == identity
    full = runner.invoke(app, ["run", "--warehouse", str(warehouse), "--run-date", "2026-01-05"])
    assert full.exit_code == 0, full.output
    assert query(warehouse, "SELECT * FROM silver.order_line_customer_ids") == [("C1", 1)], full.output
    assert query(warehouse, "SELECT * FROM silver.sale_line_card_ids") == [("L1", 1)], full.output
    assert query(warehouse, "SELECT * FROM silver.customer_identity ORDER BY ALL") == identity
    assert run_selected(warehouse, "customer_identity").exit_code == 0
    assert query(warehouse, "SELECT * FROM silver.customer_identity ORDER BY ALL") == identity

"""The local run as a whole: conservation, idempotence, atomicity, fatal input errors and the CLI."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customer360 import contract, engine
from customer360.cli import app
from pipeline_harness import (
    DAY1,
    DAY2,
    customer,
    member,
    order_line,
    sale_line,
    snapshot,
    ticket,
    without_run_ids,
    write_delivery,
)

MIXED_DELIVERY = {
    "customers": [customer("C1", email="a@x.com"), customer("C1", email="b@x.com"), customer("", first_name="x")],
    "loyalty_members": [member("L1", customer_id="C1"), member("L1", customer_id="C1"), member(" ")],
    "online_orders": [order_line("O1"), order_line("O1"), order_line("O2", quantity="0"), order_line("O3", channel="?")],
    "store_sales": [sale_line("T1", loyalty_card_id="L1"), sale_line("T2", unit_price="-1")],
    "support_tickets": [ticket("K1", customer_id="C1"), ticket("K2", status="lost")],
    "support_agents": [{"agent_id": "A1", "agent_name": "Ada"}, {"agent_id": "", "agent_name": "Nobody"}],
    "products": [{"product_id": "P1", "product_name": "Mug"}],
    "stores": [{"store_id": "S1", "store_name": "Main"}],
}


@pytest.fixture(scope="module")
def first_day(tmp_path_factory) -> tuple[Path, Path]:
    """MIXED_DELIVERY run once as day 1: its delivery folder and the warehouse it left."""
    root = tmp_path_factory.mktemp("first-day")
    folder = write_delivery(root / "day1", MIXED_DELIVERY)
    engine.run_delivery(folder, DAY1, root / "warehouse.duckdb")
    return folder, root / "warehouse.duckdb"


@pytest.fixture
def after_first_day(pipeline, first_day):
    """The pipeline's warehouse as MIXED_DELIVERY's day-1 run left it (a copy of the file: the run committed
    and checkpointed, so the file is the whole warehouse)."""
    shutil.copy(first_day[1], pipeline.warehouse)
    return pipeline


def test_conservation_raw_rows_equal_accepted_plus_rejected_for_every_source(pipeline):
    result = pipeline.run(MIXED_DELIVERY)
    for source in contract.SOURCES:
        raw = pipeline.query(f"SELECT count(*) FROM raw.{source.name} WHERE _PARTITIONDATE = ?", [DAY1])[0][0]
        rejected = pipeline.query(
            "SELECT count(*) FROM ops.rejected_rows WHERE source = ? AND delivery_date = ?", [source.name, DAY1]
        )[0][0]
        step = next(s for s in result.steps if s.step == source.silver.name)
        assert raw == len(MIXED_DELIVERY[source.name]), f"raw.{source.name} lost rows on load"
        assert raw == step.rows_out + rejected, f"{source.name}: {raw} raw != {step.rows_out} accepted + {rejected}"
    assert pipeline.query("SELECT status FROM ops.data_quality_results WHERE check_name = 'conservation'") == [("pass",)]


def test_rerunning_the_same_delivery_changes_no_table(after_first_day, first_day):
    pipeline, folder = after_first_day, first_day[0]
    before = snapshot(pipeline.warehouse)
    again = engine.run_delivery(folder, DAY1, pipeline.warehouse)
    assert again.skipped, "an identical delivery is recognised by its fingerprint"
    assert snapshot(pipeline.warehouse) == before


def test_forced_rerun_recomputes_identical_data(after_first_day, first_day):
    pipeline, folder = after_first_day, first_day[0]
    before = snapshot(pipeline.warehouse)
    forced = engine.run_delivery(folder, DAY1, pipeline.warehouse, force=True)
    assert not forced.skipped
    after = snapshot(pipeline.warehouse)
    assert without_run_ids(after) == without_run_ids(before)
    assert len(after["ops.pipeline_runs"]) == 2 * len(before["ops.pipeline_runs"]), "each run is logged"


def test_a_changed_delivery_for_the_same_day_replaces_its_raw_partition(pipeline):
    pipeline.run({"online_orders": [order_line("O1"), order_line("O2")]}, DAY1)
    pipeline.run({"online_orders": [order_line("O3")]}, DAY2)
    pipeline.run({"online_orders": [order_line("O1", quantity="4")]}, DAY1)
    assert pipeline.query("SELECT _PARTITIONDATE, count(*) FROM raw.online_orders GROUP BY 1 ORDER BY 1") == [
        (DAY1, 1),
        (DAY2, 1),
    ]


@pytest.mark.parametrize("step", [s.name for s in contract.PIPELINE])
def test_a_failure_after_any_step_leaves_the_warehouse_as_before(after_first_day, tmp_path, step):
    pipeline = after_first_day
    before = snapshot(pipeline.warehouse)
    folder = write_delivery(tmp_path / "day2", {"online_orders": [order_line("O9")], "customers": [customer("C9")]})
    with pytest.raises(engine.PipelineError, match=f"after step {step}"):
        engine.run_delivery(folder, DAY2, pipeline.warehouse, fail_after_step=step)
    assert snapshot(pipeline.warehouse) == before, f"failure after {step} left changes behind"
    engine.run_delivery(folder, DAY2, pipeline.warehouse)
    assert pipeline.query("SELECT count(*) FROM silver.online_order_lines WHERE order_id = 'O9'") == [(1,)]


def test_a_failing_blocking_check_rolls_back_the_run(after_first_day, tmp_path, monkeypatch):
    pipeline = after_first_day
    before = snapshot(pipeline.warehouse)
    # A key check that can never pass stands in for corrupted data.
    from customer360 import sqlgen
    from customer360.sqlgen import checks

    real = sqlgen.step_statements

    def broken(step, scope="run"):
        if step.name == "silver_keys_unique_and_present":
            return tuple(checks.quality_statements(step, "select 1 as violation"))
        return real(step, scope)

    monkeypatch.setattr(sqlgen, "step_statements", broken)
    folder = write_delivery(tmp_path / "day2", {"customers": [customer("C7")]})
    with pytest.raises(engine.PipelineError, match="silver_keys_unique_and_present failed"):
        engine.run_delivery(folder, DAY2, pipeline.warehouse)
    assert snapshot(pipeline.warehouse) == before


def _header_cases(tmp_path: Path) -> dict[str, tuple[str, str]]:
    columns = list(contract.SOURCES_BY_NAME["customers"].column_names)
    swapped = columns.copy()
    swapped[1], swapped[2] = swapped[2], swapped[1]
    return {
        "reordered": (",".join(swapped), r"columns out of order: column 2 is 'last_name', expected 'first_name'"),
        "missing column": (",".join(columns[:-1]), r"missing updated_at"),
        "extra column": (",".join(columns + ["loyalty"]), r"unexpected loyalty"),
        "renamed column": (",".join(["id"] + columns[1:]), r"missing customer_id; unexpected id"),
        "semicolons": (";".join(columns), r"';' as delimiter"),
        "empty file": ("", r"empty file"),
    }


@pytest.mark.parametrize("case", ["reordered", "missing column", "extra column", "renamed column", "semicolons", "empty file"])
def test_a_wrong_header_fails_naming_the_file_and_changes_nothing(after_first_day, tmp_path, case):
    pipeline = after_first_day
    before = snapshot(pipeline.warehouse)
    header, expected = _header_cases(tmp_path)[case]
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "customers.csv").write_text(header + ("\nC5,Ann,Lee,,,,,,,,\n" if header else ""), encoding="utf-8")
    with pytest.raises(engine.InputError) as raised:
        engine.run_delivery(folder, DAY2, pipeline.warehouse)
    message = str(raised.value)
    assert "customers.csv" in message and re.search(expected, message), message
    assert "\n" not in message
    assert snapshot(pipeline.warehouse) == before


def test_a_malformed_csv_fails_and_leaves_a_new_warehouse_uncreated(tmp_path):
    folder = write_delivery(tmp_path / "day1", {"customers": [customer("C1")]})
    with (folder / "customers.csv").open("a", encoding="utf-8") as handle:
        handle.write('C2,"unterminated,Lee,,,,,,,,\n')
    warehouse = tmp_path / "new.duckdb"
    with pytest.raises(engine.InputError, match=r"customers\.csv: malformed CSV"):
        engine.run_delivery(folder, DAY1, warehouse)
    assert not warehouse.exists(), "a failed first run must not leave a warehouse file behind"


def test_an_unknown_file_in_the_delivery_is_refused(tmp_path):
    folder = write_delivery(tmp_path / "day1", {"customers": [customer("C1")]})
    shutil.copy(folder / "customers.csv", folder / "customer.csv")
    with pytest.raises(engine.InputError, match=r"customer\.csv: 'customer' is not a source"):
        engine.run_delivery(folder, DAY1, tmp_path / "w.duckdb")


def test_sources_may_be_delivered_as_folders_of_files(pipeline, tmp_path):
    folder = tmp_path / "day1"
    write_delivery(folder / "parts", {"online_orders": [order_line("O1")]})
    (folder / "online_orders").mkdir()
    shutil.move(folder / "parts" / "online_orders.csv", folder / "online_orders" / "part-1.csv")
    write_delivery(folder / "parts", {"online_orders": [order_line("O2")]})
    shutil.move(folder / "parts" / "online_orders.csv", folder / "online_orders" / "part-2.csv")
    shutil.rmtree(folder / "parts")
    result = engine.run_delivery(folder, DAY1, pipeline.warehouse)
    assert result.raw_rows == {"online_orders": 2}


runner = CliRunner()


def test_cli_run_prints_a_line_per_step_and_totals_and_is_a_no_op_the_second_time(tmp_path):
    folder = write_delivery(tmp_path / "day1", MIXED_DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    args = ["run", "--data", str(folder), "--run-date", "2026-01-05", "--warehouse", str(warehouse)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    total = len(contract.PIPELINE)
    for step in contract.PIPELINE:
        assert f" {step.kind} {step.name} " in first.output, f"no progress line for step {step.name}"
    assert f"{total}/{total} OK" in first.output, first.output
    assert "PASS=" in first.output and "WARN=" in first.output and "ERROR=0" in first.output, first.output
    assert "Rows by source" not in first.output, "the detailed tables belong behind --summary"
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "Nothing to do" in second.output, second.output


def test_cli_run_summary_prints_the_detailed_tables(tmp_path):
    folder = write_delivery(tmp_path / "day1", MIXED_DELIVERY)
    result = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(tmp_path / "w.duckdb"),
                                 "--run-date", "2026-01-05", "--summary"])
    assert result.exit_code == 0, result.output
    for heading in ("Rows by source", "Rejected rows", "Identity match rate", "Data-quality checks"):
        assert heading in result.output, f"summary lacks {heading!r}"
    # The whole-warehouse figures are read for --summary only (they scan all of silver): here they are filled in.
    rates = result.output[result.output.index("Identity match rate"):result.output.index("Data-quality checks")]
    for source in ("loyalty_members", "online_orders", "store_sales", "support_tickets"):
        assert re.search(rf"{source}\s.*\d%", rates), f"no match rate for {source} in the summary:\n{rates}"


def test_cli_reports_bad_input_in_one_line_with_exit_code_2(tmp_path):
    folder = tmp_path / "day1"
    folder.mkdir()
    (folder / "stores.csv").write_text("store_id,store_name\nS1,Main\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--data", str(folder), "--run-date", "2026-01-05",
                                 "--warehouse", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "stores.csv" in lines[0] and "header does not match" in lines[0], result.output
    assert "Traceback" not in result.output


def test_cli_rejects_a_malformed_run_date(tmp_path):
    result = runner.invoke(app, ["run", "--data", str(tmp_path), "--run-date", "05/01/2026",
                                 "--warehouse", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_cli_demo_generates_runs_every_day_and_writes_the_dashboard(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--days", "2", "--scale", "0.1"])
    assert result.exit_code == 0, result.output
    for day in ("2026-01-05", "2026-01-06"):
        assert f"{day}:" in result.output, f"demo did not report the {day} run"
    for highlight in ("Average order value by store", "Customer segments", "Peak hours per channel",
                      "Top support agents", "Top customers"):
        assert highlight in result.output, f"demo highlights lack {highlight!r}"
    dashboard = tmp_path / "dashboard.html"
    assert dashboard.exists() and dashboard.stat().st_size > 100_000, "demo did not write the dashboard"
    assert str(dashboard) in result.output.replace("\n", "")
    runs = snapshot(tmp_path / "warehouse.duckdb")["ops.pipeline_runs"]
    assert {row[1] for row in runs} == {DAY1, DAY2}


def test_cli_names_a_warehouse_that_cannot_be_opened(tmp_path):
    folder = write_delivery(tmp_path / "day1", {"customers": [customer("C1")]})
    not_a_database = tmp_path / "notes.duckdb"
    not_a_database.write_text("these are notes, not a DuckDB file\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--data", str(folder), "--run-date", "2026-01-05",
                                 "--warehouse", str(not_a_database)])
    assert result.exit_code == 2, result.output
    assert "notes.duckdb: a text file" in result.output and "not a DuckDB warehouse" in result.output, result.output
    assert "Traceback" not in result.output
    assert not_a_database.read_text(encoding="utf-8") == "these are notes, not a DuckDB file\n"

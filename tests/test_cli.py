"""The command line as a user meets it: help, --version, dates, choices, piped output, c360 sql and a safe demo."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from customer360 import contract
from customer360.cli import app, parse_date
from dashboard_warehouse import KNOWN_CUSTOMER, make_warehouse

runner = CliRunner()


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{result.output}"
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("cli") / "sample.duckdb")


# ---------------------------------------------------------------------------
# Help, version, choices
# ---------------------------------------------------------------------------


def test_version_prints_the_installed_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"c360 {version('customer360')}\n", result.output


def command_names() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", ["", *command_names()])
def test_help_shows_no_bool_placeholder_after_flags(command):
    result = runner.invoke(app, [*([command] if command else []), "--help"])
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output, f"c360 {command} --help shows <bool>:\n{result.output}"


@pytest.mark.parametrize("command, choices", [
    (["export", "--out", "gold"], ("csv", "parquet")),
    (["sql", "select 1"], ("table", "csv", "json")),
])
def test_fixed_sets_of_values_are_choices_refused_before_anything_runs(command, choices, warehouse, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "--warehouse", str(warehouse), "--format", "xlsx"])
    said = " ".join(result.output.replace("\u2502", " ").split())
    assert result.exit_code == 2, result.output
    expected = ", ".join(f"'{c}'" for c in choices)
    assert f"Invalid value for '--format'" in said and f"'xlsx' is not one of {expected}" in said, result.output
    assert not any(tmp_path.iterdir()), "a refused --format wrote something"


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

BAD_DATES = ["20260105", "2026-02-30", "2026-1-5", "05/01/2026", "2026-01-05T00:00", "2026-13-01", " 2026-01-05",
             "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0665"]  # the last in Arabic-Indic digits


@pytest.mark.parametrize("value", BAD_DATES)
@pytest.mark.parametrize("command, option", [
    (["run", "--data", "nowhere", "--warehouse", "w.duckdb"], "--run-date"),
    (["generate", "--out", "data"], "--start"),
])
def test_every_bad_date_gets_the_same_one_line_message_naming_its_option(command, option, value, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, option, value])
    assert result.exit_code == 2, result.output
    assert one_line(result) == f"error: {option} {value!r} is not a date in the form YYYY-MM-DD (e.g. 2026-01-05)"
    assert not any(tmp_path.iterdir()), f"{command[0]} wrote something after a bad {option}"


@pytest.mark.parametrize("value", ["2026-01-05", "2024-02-29", "0001-01-01", "9999-12-31"])
def test_a_calendar_day_in_the_form_yyyy_mm_dd_is_read(value):
    assert parse_date(value, "--run-date").isoformat() == value


# ---------------------------------------------------------------------------
# Piped output
# ---------------------------------------------------------------------------


def c360_piped(*arguments: str) -> subprocess.CompletedProcess:
    """The real program with stdout and stderr going to pipes, in an 80-column terminal."""
    return subprocess.run(
        [sys.executable, "-c", "from customer360.cli import main; main()", *arguments],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "TERM": "xterm"},
    )


def test_piped_output_is_not_wrapped_at_80_columns(warehouse):
    long_name = "Maximilian Alexander Bartholomew-Featherstonehaugh of Cholmondeley"
    result = c360_piped("sql", f"select '{long_name}' as customer_name, 'and then the last column' as note",
                        "--warehouse", str(warehouse))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if long_name[:10] in line)
    assert long_name in row and "and then the last column" in row and len(row) > 80, result.stdout


def test_piped_errors_are_one_unwrapped_line(tmp_path):
    missing = tmp_path / ("a-warehouse-with-a-rather-long-name-" * 3 + ".duckdb")
    result = c360_piped("sql", "select 1", "--warehouse", str(missing))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(missing) in result.stderr, result.stderr


# ---------------------------------------------------------------------------
# c360 sql
# ---------------------------------------------------------------------------


def test_sql_prints_a_table_of_the_rows(warehouse):
    result = runner.invoke(app, ["sql", "select customer_key, email, lifetime_revenue from gold.customer_360 "
                                        "where customer_key = 'C003'", "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    assert re.search(r"C003\s+.*grace\.hopper@example\.com\s+.*89\.99", result.output), result.output
    assert "1 row in" in result.output


def test_sql_translates_bigquery_sql_as_the_engine_does(warehouse):
    # BigQuery counts DAYOFWEEK from 1 = Sunday and COUNTIF over no rows is 0; plain DuckDB says 0 and NULL.
    result = runner.invoke(app, ["sql", "select extract(dayofweek from date '2024-06-02') as day_number, "
                                        "countif(segment = 'nobody') as none from gold.customer_segments where false",
                                 "--warehouse", str(warehouse), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"day_number": 1, "none": 0}]


def test_sql_csv_has_plain_decimals_and_utc_timestamps(warehouse):
    result = runner.invoke(app, ["sql", "select customer_key, lifetime_revenue, store_revenue, first_order_at, "
                                        "loyalty_tier from gold.customer_360 where customer_key in ('C001', 'C003') "
                                        "order by customer_key", "--warehouse", str(warehouse), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.output))) == [
        ["customer_key", "lifetime_revenue", "store_revenue", "first_order_at", "loyalty_tier"],
        ["C001", "2200.50", "880.00", "2024-01-05T10:00:00Z", "Platinum"],
        ["C003", "89.99", "0.00", "2024-01-07T10:00:00Z", ""],
    ]


def test_sql_json_keeps_money_exact_as_text(warehouse):
    result = runner.invoke(app, ["sql", f"select customer_key, lifetime_revenue, points_balance, last_order_at "
                                        f"from gold.customer_360 where customer_key = '{KNOWN_CUSTOMER['customer_key']}'",
                                 "--warehouse", str(warehouse), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"customer_key": "C003", "lifetime_revenue": "89.99", "points_balance": None,
                                          "last_order_at": "2024-05-22T15:00:00Z"}]


@pytest.mark.parametrize("query, problem", [
    ("selec customer_key from gold.customer_360", "cannot parse the query: Invalid expression / Unexpected token at line 1"),
    ("select * from gold.customer_360 where", "cannot parse the query: the WHERE clause is incomplete"),
    ("select * from gold.no_such_table", "Catalog Error: Table with name no_such_table does not exist!"),
    ("select no_such_column from gold.customer_360", 'Binder Error: Referenced column "no_such_column" not found'),
    ("select * from gold.customer_360 where customer_key = @key", "query parameter @key has no value"),
    ("select 1; select 2", "expected one statement, found 2"),
    ("", "expected one statement, found 0"),
])
def test_a_bad_query_is_one_line_naming_the_problem(query, problem, warehouse):
    result = runner.invoke(app, ["sql", query, "--warehouse", str(warehouse)])
    assert result.exit_code == 2, result.output
    assert one_line(result).startswith(f"error: {problem}"), result.output


def test_sql_opens_the_warehouse_read_only(warehouse):
    def rows() -> int:
        connection = duckdb.connect(str(warehouse), read_only=True)
        try:
            return connection.execute("select count(*) from gold.customer_360").fetchone()[0]
        finally:
            connection.close()

    before = rows()
    for statement in ("delete from gold.customer_360 where true", "drop table gold.customer_360",
                      "create table gold.scratch as select 1 as x"):
        result = runner.invoke(app, ["sql", statement, "--warehouse", str(warehouse)])
        assert result.exit_code == 2 and "read-only mode" in one_line(result), result.output
    assert rows() == before


# ---------------------------------------------------------------------------
# c360 demo never deletes what it did not create
# ---------------------------------------------------------------------------


def readme_build_folder(root: Path) -> dict[Path, bytes]:
    """What the README's own examples leave in build/: generated data, a warehouse, and the make demo folder."""
    files = {
        root / "data" / "2026-01-05" / "customers.csv": b"customer_id,first_name\nC1,Ann\n",
        root / "warehouse.duckdb": b"not really a warehouse, but the user's file",
        root / "demo" / "notes.txt": b"mine\n",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    files = readme_build_folder(tmp_path / "build")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "build"), "--days", "1", "--scale", "0.01"])
    assert result.exit_code == 2, result.output
    message = one_line(result)
    assert "is not empty (data, demo, warehouse.duckdb) and holds no earlier demo" in message, message
    assert "choose a new or empty folder" in message, message
    assert {path: path.read_bytes() for path in files} == files


def test_demo_with_force_still_never_replaces_what_it_did_not_write(tmp_path):
    build = tmp_path / "build"
    files = readme_build_folder(build)
    result = runner.invoke(app, ["demo", "--out", str(build), "--days", "1", "--scale", "0.01", "--force"])
    assert result.exit_code == 2, result.output
    message = one_line(result)
    assert f"{build / 'data'}, {build / 'warehouse.duckdb'} were not written by c360 demo" in message, message
    assert {path: path.read_bytes() for path in files} == files
    assert sorted(p.name for p in build.iterdir()) == ["data", "demo", "warehouse.duckdb"]


def test_demo_again_needs_force_which_replaces_only_the_earlier_demo(tmp_path):
    out = tmp_path / "demo"
    first = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01"])
    assert first.exit_code == 0, first.output
    (out / "my-notes.txt").write_text("keep me\n", encoding="utf-8")

    again = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01"])
    assert again.exit_code == 2, again.output
    message = one_line(again)
    assert (f"holds an earlier demo: --force replaces exactly {out / 'data'}, {out / 'warehouse.duckdb'}, "
            f"{out / 'dashboard.html'} and leaves everything else") in message, message

    forced = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Replaced the earlier demo's" in forced.output
    assert (out / "my-notes.txt").read_text(encoding="utf-8") == "keep me\n"
    assert (out / "warehouse.duckdb").is_file() and (out / "dashboard.html").is_file()


def test_a_bad_c360_threads_stops_demo_force_before_it_replaces_the_earlier_demo(tmp_path, monkeypatch):
    out = tmp_path / "demo"
    first = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01"])
    assert first.exit_code == 0, first.output
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file()}
    monkeypatch.setenv("C360_THREADS", "many")
    again = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01", "--force"])
    assert again.exit_code == 2, again.output
    assert "C360_THREADS='many': expected a whole number, 1 or more" in one_line(again)
    after = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.is_file()}
    assert after == before, f"the refused demo changed {sorted(set(after.items()) ^ set(before.items()))}"


def test_demo_counts_the_steps_the_dashboard_counts(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--days", "1", "--scale", "0.01"])
    assert result.exit_code == 0, result.output
    printed = re.search(r"2026-01-05: .* (\d+) steps in", result.output)
    shown = re.search(r"all (\d+) steps succeeded", (out / "dashboard.html").read_text(encoding="utf-8"))
    assert printed and shown, result.output
    connection = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    recorded = connection.execute("select count(*) from ops.pipeline_runs where step_kind != 'run'").fetchone()[0]
    connection.close()
    # The load and every step of the contract, as ops.pipeline_runs holds them.
    assert int(printed.group(1)) == int(shown.group(1)) == recorded == len(contract.PIPELINE) + 1

"""What may be given as --warehouse: only a DuckDB warehouse of this project at a layout this code understands.

Everything else ends with one line and exit code 2 before any step runs, and the file given is left byte for
byte as it was: another kind of file, an unrelated or truncated DuckDB file, a newer layout, tables that
drifted from the contract, a read-only folder. An older layout is migrated forward inside the run's
transaction. A warehouse held by another process is its own message (naming the process) and exit code 5.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from customer360 import contract, engine, warehouse
from pipeline_harness import (
    DAY1,
    DAY2,
    customer,
    member,
    order_line,
    snapshot,
    ticket,
    without_run_ids,
    write_delivery,
)
from process_harness import assert_one_line_error, c360, invoke, step_lines

LAYOUT1_SCHEMA = Path(__file__).with_name("fixtures") / "layout1_schema.sql"

DELIVERY = {
    "customers": [customer("C1", email="ann@x.com"), customer("C2")],
    "loyalty_members": [member("L1", customer_id="C1", tier="gold")],
    "online_orders": [order_line("O1", customer_id="C1"), order_line("O2", quantity="0")],
    "support_tickets": [ticket("K1", customer_id="C1", status="resolved", resolved_at="2026-01-05 12:30:00")],
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse-files")
    day1 = write_delivery(root / "day1", DELIVERY)
    day2 = write_delivery(root / "day2", {"customers": [customer("C3")], "online_orders": [order_line("O3")]})
    good = root / "good.duckdb"
    engine.run_delivery(day1, DAY1, good)
    return {"root": root, "day1": day1, "day2": day2, "good": good}


def altered(world, tmp_path: Path, *statements: str) -> Path:
    """A copy of the good warehouse with STATEMENTS applied (outside c360)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["good"], path)
    connection = duckdb.connect(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return path


@dataclass(frozen=True)
class NotOurs:
    id: str
    make: Callable  # (world, tmp_path) -> the path given as --warehouse
    message: str  # the line must hold this


def _sqlite(world, tmp_path):
    path = tmp_path / "crm.db"
    connection = sqlite3.connect(path)
    connection.execute("create table customers (id text)")
    connection.commit()
    connection.close()
    return path


def _parquet(world, tmp_path):
    path = tmp_path / "export.parquet"
    duckdb.connect().execute(f"copy (select 1 as id) to '{path}' (format parquet)")
    return path


def _truncated(world, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(world["good"].read_bytes()[: 200_000])
    return path


def _unrelated(world, tmp_path):
    path = tmp_path / "analytics.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute("create table visits as select range as id from range(10)")
    connection.close()
    return path


def _folder(world, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    path.mkdir()
    return path


def _csv(world, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes((world["day1"] / "customers.csv").read_bytes())
    return path


def _empty(world, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(b"")
    return path


NEWER = warehouse.LAYOUT_VERSION + 1
NOT_OURS = [
    NotOurs("a-csv-file", _csv, "customers.csv: a text file (a CSV?), not a DuckDB warehouse"),
    NotOurs("a-parquet-file", _parquet, "export.parquet: a Parquet file, not a DuckDB warehouse"),
    NotOurs("a-sqlite-file", _sqlite, "crm.db: a SQLite database, not a DuckDB warehouse"),
    NotOurs("an-unrelated-duckdb-file", _unrelated, "a DuckDB database that is not a customer360 warehouse (it holds main.visits)"),
    NotOurs("a-truncated-duckdb-file", _truncated, "cannot open the warehouse"),
    NotOurs("an-empty-file", _empty, "an empty file, not a DuckDB warehouse"),
    NotOurs("a-folder", _folder, "not a file"),
    NotOurs("a-newer-layout", lambda w, t: altered(
        w, t, f"update ops.warehouse_info set value = '{NEWER}' where name = 'layout_version'"),
        f"layout version {NEWER} is newer than this version of customer360 understands ({warehouse.LAYOUT_VERSION})"),
    # A missing NULLABLE column is not drift: it is how a column added to the contract looks, and is added.
    NotOurs("a-missing-required-column", lambda w, t: altered(w, t, "alter table gold.customer_360 drop column segment"),
            "warehouse table gold.customer_360 does not match the contract (segment is new and REQUIRED)"),
    NotOurs("an-extra-column", lambda w, t: altered(w, t, "alter table gold.customer_360 add column nickname varchar"),
            "warehouse table gold.customer_360 does not match the contract (nickname is no longer in the contract)"),
    NotOurs("a-changed-type", lambda w, t: altered(
        w, t, "alter table gold.customer_segments alter column order_count type varchar"),
        "gold.customer_segments does not match the contract (order_count is VARCHAR in the warehouse, BIGINT in the "
        "contract)"),
]


@pytest.mark.parametrize("case", NOT_OURS, ids=[c.id for c in NOT_OURS])
def test_a_warehouse_that_is_not_ours_is_one_line_exit_2_before_any_step_and_left_as_it_was(world, tmp_path, case):
    path = case.make(world, tmp_path)
    before = digest(path)
    run = invoke(["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)])
    assert_one_line_error(run, 2, case.message)
    assert not step_lines(run), f"{case.id}: steps ran before the warehouse was refused:\n{run.stdout}"
    assert digest(path) == before, f"{case.id}: {path.name} was changed"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name + "."))
    assert not leftovers, f"{case.id}: the refused run left {leftovers} behind"


def test_a_sqlite_file_never_makes_duckdb_reach_for_an_extension(world, tmp_path):
    """DuckDB opens a SQLite file through its sqlite extension, downloading it when allowed; never here."""
    sqlite_file = _sqlite(world, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    probe = ("import sys; from pathlib import Path; from customer360 import warehouse\n"
             "try:\n    warehouse.connect(Path(sys.argv[1]))\n"
             "except warehouse.WarehouseError as error:\n    print(error)\n")
    opened = subprocess.run([sys.executable, "-c", probe, str(sqlite_file)], env={"HOME": str(home), "PATH": ""},
                            capture_output=True, text=True, timeout=120)
    assert "cannot open the warehouse" in opened.stdout, opened.stdout + opened.stderr
    assert "download" not in opened.stdout.lower() and "http" not in opened.stdout.lower(), (
        f"DuckDB tried to download an extension: {opened.stdout}"
    )
    assert not list(home.rglob("*.duckdb_extension*")), "an extension was installed under HOME"
    run = c360(["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(sqlite_file)],
               cwd=tmp_path, env={"HOME": str(home)})
    assert_one_line_error(run, 2, "a SQLite database, not a DuckDB warehouse")
    assert not list(home.rglob("*.duckdb_extension*")), "c360 run installed an extension under HOME"


def test_a_read_only_folder_is_one_line_exit_2(world, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a tmpfs to make read-only (needs root): {error}")
    try:
        shutil.copy(world["good"], folder / "warehouse.duckdb")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        before = digest(folder / "warehouse.duckdb")
        for name in ("warehouse.duckdb", "new.duckdb"):
            run = invoke(["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(),
                          "--warehouse", str(folder / name)])
            assert_one_line_error(run, 2, f"{name}: cannot write in folder", "(read-only)")
        assert digest(folder / "warehouse.duckdb") == before
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True)


# ---------------------------------------------------------------------------
# The older layout
# ---------------------------------------------------------------------------


def layout1_warehouse(world, path: Path) -> Path:
    """A warehouse as the layout-1 code left it: its tables, the raw days, stale silver and gold, history."""
    connection = duckdb.connect(str(path))
    connection.execute(LAYOUT1_SCHEMA.read_text(encoding="utf-8"))
    connection.execute(f"attach '{world['good']}' as source (read_only)")
    for source in contract.SOURCES:
        columns = ", ".join([*source.column_names, contract.RAW_PARTITION_COLUMN])
        connection.execute(f"insert into raw.{source.name} select {columns} from source.raw.{source.name}")
    connection.execute("insert into silver.customers (customer_id, first_name, _delivery_date) values ('STALE', 'Old', DATE '2026-01-01')")
    connection.execute(
        "insert into gold.customer_360 (customer_key, online_order_count, online_revenue, store_transaction_count, "
        "store_revenue, lifetime_revenue, support_ticket_count, open_ticket_count, segment) "
        "values ('STALE', 1, 1, 0, 0, 1, 0, 0, 'Prospects')"
    )
    connection.execute(
        "insert into ops.pipeline_runs (run_id, run_date, step, step_kind, started_at, status, engine) "
        "values ('20251231-old', DATE '2025-12-31', 'run', 'run', TIMESTAMPTZ '2025-12-31 06:00:00+00', 'succeeded', 'duckdb')"
    )
    connection.execute("detach source")
    connection.close()
    return path


DERIVED = tuple(t.ref for t in contract.ALL_TABLES if t.dataset in ("raw", "silver", "gold"))


def test_an_older_layout_is_migrated_in_the_runs_transaction_and_fully_refreshed(world, tmp_path):
    path = layout1_warehouse(world, tmp_path / "layout1.duckdb")
    run = invoke(["run", "--warehouse", str(path), "--run-date", DAY2.isoformat()])
    assert run.returncode == 0 and not run.traceback, run.stdout + run.stderr
    assert "migrated the warehouse from layout 1 to 2" in run.stdout
    migrated, fresh = snapshot(path), snapshot(world["good"])
    for ref in DERIVED:
        assert migrated[ref] == fresh[ref], f"{ref} after the migration differs from a warehouse built by this code"
    connection = duckdb.connect(str(path), read_only=True)
    try:
        version = connection.execute("select value from ops.warehouse_info where name = 'layout_version'").fetchone()
        history = connection.execute("select count(*) from ops.pipeline_runs where run_id = '20251231-old'").fetchone()
    finally:
        connection.close()
    assert version == (str(warehouse.LAYOUT_VERSION),)
    assert history == (1,), "the migration lost the run history"


def test_a_migration_whose_run_fails_leaves_the_older_layout_as_it_was(world, tmp_path):
    path = layout1_warehouse(world, tmp_path / "layout1.duckdb")
    before = snapshot(path)
    with pytest.raises(engine.PipelineError, match="injected failure"):
        engine.run(path, DAY2, fail_after_step="customer_360")
    assert snapshot(path) == before, "a failed migrating run changed the layout-1 warehouse"


# ---------------------------------------------------------------------------
# Another process
# ---------------------------------------------------------------------------

HOLD = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


def test_a_warehouse_held_by_another_process_is_exit_5_naming_it_and_left_as_it_was(world, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["good"], path)
    before = snapshot(path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        run = invoke(["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)])
        assert_one_line_error(run, 5, "in use by another process", f"PID {holder.pid}")
    finally:
        holder.communicate("", timeout=60)
    assert snapshot(path) == before


RUN_AND_HOLD = """
import datetime as dt, sys
from pathlib import Path
from customer360 import engine

def progress(step, index, total):
    if step == "customers":
        print("holding", flush=True)
        sys.stdin.readline()

engine.run_delivery(Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3]), progress=progress)
print("committed", flush=True)
"""


def test_a_second_run_refused_by_the_lock_leaves_the_first_runs_files_alone(world, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["good"], path)
    reference = tmp_path / "reference.duckdb"
    shutil.copy(world["good"], reference)
    engine.run_delivery(world["day2"], DAY2, reference)
    first = subprocess.Popen([sys.executable, "-c", RUN_AND_HOLD, str(world["day2"]), DAY2.isoformat(), str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "holding"
        marker = warehouse.marker_path(path)
        assert marker.exists(), "the first run keeps no marker of its size"
        recorded = marker.read_text(encoding="utf-8")
        second = invoke(["run", "--data", str(world["day1"]), "--run-date", DAY1.isoformat(), "--force",
                         "--warehouse", str(path)])
        assert_one_line_error(second, 5, "in use by another process", f"PID {first.pid}")
        assert marker.exists() and marker.read_text(encoding="utf-8") == recorded, (
            "the refused run rewrote or removed the first run's marker"
        )
        out, _ = first.communicate("go\n", timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0 and "committed" in out
    assert without_run_ids(snapshot(path)) == without_run_ids(snapshot(reference)), "the first run's result was harmed"

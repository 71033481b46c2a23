"""The same deliveries give byte-identical silver and gold, whatever the thread count and however many times they run.

Rows are compared exactly, as multisets, floats included (no rounding, unlike pipeline_harness.comparable). DuckDB
only works in parallel on tables of more than one row group (122,880 rows), so the deliveries hold a
support_tickets file of TICKETS rows whose resolution times make a floating-point mean depend on the order
it is summed in, besides two generated days of every source.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from customer360 import contract, engine
from customer360.generate import generate
from customer360.warehouse import Resources
from pipeline_harness import RUN_COLUMNS

pytestmark = pytest.mark.long

TICKETS = 250_000  # three row groups of 122,880 rows, so up to three threads aggregate them in parallel
COMPARED = tuple(t.ref for t in contract.ALL_TABLES if t.dataset in ("silver", "gold")) + (
    "ops.rejected_rows", "ops.processed_partitions")


def tickets_file(folder: Path) -> None:
    """support_tickets.csv: TICKETS resolved tickets of 7 agents, resolution times from seconds to weeks."""
    header = ",".join(contract.SOURCES_BY_NAME["support_tickets"].column_names) + "\n"
    created = dt.datetime(2026, 1, 1)
    with (folder / "support_tickets.csv").open("w", encoding="utf-8") as handle:
        handle.write(header)
        for start in range(0, TICKETS, 50_000):
            lines = []
            for i in range(start, min(start + 50_000, TICKETS)):
                seconds = (i * 2654435761 % 1_000_003) * (1 + (i % 97 == 0) * 600) + i % 7
                resolved = created + dt.timedelta(seconds=seconds, microseconds=i % 1_000_000)
                lines.append(f"K{i},C{i % 500},,A{i % 7},chat,billing,{created.isoformat(sep=' ')},"
                             f"{resolved.isoformat(sep=' ')},resolved,{1 + i % 5}\n")
            handle.write("".join(lines))


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    report = generate(root / "data", days=2, scale=0.5, seed=11, dirty_rate=0.05)
    tickets_file(report.day_dirs[0])
    return report.day_dirs


def exact(value):
    """A value as its bytes: 0.1 + 0.2 and 0.30000000000000004 differ here, and so do -0.0 and 0.0."""
    return struct.pack("<d", value) if isinstance(value, float) else value


def warehouse_after(deliveries, path: Path, threads: int) -> dict[str, Counter]:
    """The compared tables after running DELIVERIES into a new warehouse: each a multiset of exact rows,
    without the columns naming the run (pipeline_harness.RUN_COLUMNS). Counted, not sorted: the tables hold
    some 300,000 rows each, and sorting them took longer than the runs."""
    for folder in deliveries:
        engine.run_delivery(folder, dt.date.fromisoformat(folder.name), path, resources=Resources.default(threads=threads))
    connection = duckdb.connect(str(path), read_only=True)
    try:
        tables = {}
        for ref in COMPARED:
            columns = [c for c in contract.table(ref).column_names if c not in RUN_COLUMNS.get(ref, ())]
            rows = connection.execute(f"SELECT {', '.join(columns)} FROM {ref}").fetchall()
            tables[ref] = Counter(tuple(exact(v) for v in row) for row in rows)
        return tables
    finally:
        connection.close()


def differences(first: dict[str, Counter], second: dict[str, Counter]) -> list[str]:
    found = []
    for ref in COMPARED:
        if first[ref] != second[ref]:
            only_first, only_second = first[ref] - second[ref], second[ref] - first[ref]
            found.append(f"{ref}: {sum(only_first.values())} rows only in the first, e.g. {next(iter(only_first), None)}; "
                         f"{sum(only_second.values())} only in the second, e.g. {next(iter(only_second), None)}")
    return found


def test_one_and_four_threads_and_a_second_fresh_run_give_identical_silver_and_gold(deliveries, tmp_path):
    one_thread = warehouse_after(deliveries, tmp_path / "one-thread.duckdb", threads=1)
    four_threads = warehouse_after(deliveries, tmp_path / "four-threads.duckdb", threads=4)
    again = warehouse_after(deliveries, tmp_path / "four-threads-again.duckdb", threads=4)
    resolved = [row for row in one_thread["gold.agent_performance_summary"].elements() if row[3]]
    assert sum(row[3] for row in resolved) >= TICKETS, "the ticket file did not reach gold"
    assert not differences(one_thread, four_threads), f"1 vs 4 threads: {differences(one_thread, four_threads)}"
    assert not differences(four_threads, again), f"a second fresh run: {differences(four_threads, again)}"

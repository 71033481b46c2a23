"""The run's process killed with SIGKILL at points across the pipeline: the warehouse is as before, the next run succeeds.

A failure raised between steps is covered by tests/test_engine.py (fail_after_step: the engine's ROLLBACK
runs). Here nothing of ours runs after the kill: what protects the warehouse is that the whole run is one
DuckDB transaction, and an uncommitted transaction is not in the database after a crash.

The child process runs engine.run_delivery with a progress callback that prints each step as it starts. To
stop at a step boundary deterministically, the callback then waits on stdin (inside the open transaction,
with the step's predecessors' writes pending) and the test kills it there; to kill inside a step, the test
kills a fixed delay after the step started.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from customer360 import contract, engine
from customer360.generate import generate
from pipeline_harness import DAY1, DAY2, account, customer, member, order_line, table_digests, ticket, write_delivery

pytestmark = pytest.mark.usefixtures("duckdb_on_two_threads")

CHILD = """
import datetime as dt, sys
from pathlib import Path
from customer360 import engine

folder, day, warehouse, hold_at = sys.argv[1:5]

def progress(step, index, total):
    print(step, flush=True)
    if step == hold_at:
        sys.stdin.readline()  # wait here, mid-transaction, until killed

engine.run_delivery(Path(folder), dt.date.fromisoformat(day), Path(warehouse), progress=progress)
print("committed", flush=True)
"""

# A delivery large enough (about 70,000 rows) that the raw load and each step take a noticeable time.
SCALE = 8


@dataclass(frozen=True)
class CrashPoint:
    id: str
    step: str  # the progress line the kill is timed from
    hold: bool  # True: killed while held at the start of the step; False: killed `delay` seconds after it
    delay: float = 0.0
    may_commit: bool = False  # killed around the COMMIT: either no trace of the run or all of it


CRASH_POINTS = [
    CrashPoint("during-the-raw-load", "load raw", hold=False, delay=0.05),
    CrashPoint("raw-loaded-before-silver", "customers", hold=True),
    CrashPoint("during-the-silver-steps", "store_sale_lines", hold=False, delay=0.02),
    CrashPoint("silver-written-before-identity", "customer_identity", hold=True),
    CrashPoint("during-the-quality-checks", "conservation", hold=True),
    CrashPoint("gold-half-rebuilt", "customer_360", hold=True),
    CrashPoint("around-the-commit", "customer_360", hold=False, delay=0.25, may_commit=True),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The big delivery, a warehouse holding one earlier small delivery, and the reference end state."""
    root = tmp_path_factory.mktemp("crash")
    report = generate(root / "data", days=1, scale=SCALE, seed=5, start=DAY2, dirty_rate=0.02)
    baseline = root / "baseline.duckdb"
    small = write_delivery(root / "small", {
        "customers": [customer("C00000001", email="early@x.com")],
        "loyalty_members": [member("L1", customer_id="C00000001")],
        "online_orders": [order_line("EARLY-1", customer_id="C00000001"), order_line("EARLY-2", quantity="0")],
        "support_tickets": [ticket("EARLY-K1", customer_id="C00000001")],
    })
    engine.run_delivery(small, DAY1, baseline)
    reference = root / "reference.duckdb"
    shutil.copy(baseline, reference)
    engine.run_delivery(report.day_dirs[0], DAY2, reference)
    return {
        "delivery": report.day_dirs[0],
        "rows": report.total_rows,
        "baseline": baseline,
        "before": table_digests(baseline),
        "after": table_digests(reference),
    }


def kill_during_run(folder: Path, day: dt.date, warehouse: Path, point: CrashPoint, log: Path) -> list[str]:
    """Runs the delivery in a child process and SIGKILLs it at POINT; returns the steps it announced."""
    with log.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder), day.isoformat(), str(warehouse), point.step if point.hold else ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=contract.REPO_ROOT,
        )
        announced: list[str] = []
        for line in child.stdout:
            announced.append(line.strip())
            if announced[-1] == point.step:
                break
        else:
            child.wait()
            pytest.fail(f"{point.id}: the run ended before step {point.step!r}: {announced}\n{log.read_text()}")
        if point.delay:
            time.sleep(point.delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        announced += [line.strip() for line in child.stdout.read().splitlines()]
    assert child.returncode == -signal.SIGKILL, f"{point.id}: the child was not killed: {announced}"
    return announced


@pytest.mark.parametrize("point", CRASH_POINTS, ids=[p.id for p in CRASH_POINTS])
def test_a_run_killed_mid_way_leaves_the_warehouse_as_before_and_the_next_run_succeeds(world, tmp_path, point):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(world["baseline"], warehouse)
    announced = kill_during_run(world["delivery"], DAY2, warehouse, point, tmp_path / "child.log")

    state = table_digests(warehouse)
    if point.may_commit and "committed" in announced:
        assert state == world["after"], f"{point.id}: the run reported its commit but the warehouse lacks it"
    elif point.may_commit:
        assert state in (world["before"], world["after"]), f"{point.id}: killed at the commit, half-written"
    else:
        assert "committed" not in announced, f"{point.id}: the run finished before the kill: {announced}"
        assert state == world["before"], (
            f"{point.id}: killed after {announced[-1]!r}, the warehouse differs from before the run in "
            + ", ".join(name for name in world["before"] if state.get(name) != world["before"][name])
        )

    engine.run_delivery(world["delivery"], DAY2, warehouse)
    assert table_digests(warehouse) == world["after"], f"{point.id}: the run after the crash ended elsewhere"


def test_a_first_run_killed_during_the_load_leaves_no_data_and_the_next_run_succeeds(world, tmp_path):
    warehouse = tmp_path / "new.duckdb"
    point = CrashPoint("first-run-during-the-raw-load", "load raw", hold=False, delay=0.05)
    announced = kill_during_run(world["delivery"], DAY2, warehouse, point, tmp_path / "child.log")
    assert "committed" not in announced
    assert all(count == 0 for count, _ in table_digests(warehouse).values()), "a killed first run left rows"
    engine.run_delivery(world["delivery"], DAY2, warehouse)
    accounted = account(warehouse, DAY2)
    assert sum(rows.raw for rows in accounted.values()) == world["rows"]
    assert all(rows.unaccounted == 0 for rows in accounted.values())

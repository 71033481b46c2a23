"""How c360 run ends when it is stopped: Ctrl-C or SIGTERM at any moment is one line, exit 130 or 143, no
traceback, the warehouse unchanged; a run that committed is reported as committed whatever comes after.

The child process is the real command line (its signal handlers, the run in a worker thread) with one hook
added: at the point under test it prints `HOLD <point>` and waits for a line on stdin. The test sends the
signal while the run is held there, then lets it go on, so the signal lands exactly at that point: while the
folder is listed, inside the load's INSERT (the hook is in the file reader DuckDB is pulling rows from), at
the start of a step of each kind, just before COMMIT, and just after it. Two signals land at times measured
from the step log instead, inside long statements of a big delivery.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from customer360 import contract, engine
from pipeline_harness import DAY1, DAY2, customer, member, order_line, sale_line, table_digests, ticket, write_delivery
from process_harness import Finished, assert_one_line_error, finished
from test_resources_and_faults import big_delivery, beside

pytestmark = pytest.mark.usefixtures("duckdb_on_two_threads")

CHILD = """
import os, sys
from customer360 import csvload, engine, run_files

point = os.environ["C360_HOLD_AT"]


def hold():
    print(f"HOLD {point}", flush=True)
    sys.stdin.readline()


original_discover = engine.discover
def discover(folder):
    if point == "discovery":
        hold()
    return original_discover(folder)
engine.discover = discover

original_blocks = csvload.DeliveryFileReader._raw_blocks
def blocks(self):
    for number, block in enumerate(original_blocks(self)):
        yield block
        if number == 0 and point == "load" and self.source_name == "online_orders":
            hold()
csvload.DeliveryFileReader._raw_blocks = blocks

original_step = engine._execute_step
held_kinds = set()
def execute_step(connection, step, values, check_interrupt, *args, **kwargs):
    if point == step.kind and step.kind not in held_kinds:
        held_kinds.add(step.kind)
        hold()
    return original_step(connection, step, values, check_interrupt, *args, **kwargs)
engine._execute_step = execute_step

original_commit = engine.Run._commit
def commit(self, connection, result):
    if point == "before-commit":
        hold()
    return original_commit(self, connection, result)
engine.Run._commit = commit

original_forget = run_files.forget_size
def forget_size(path):
    if point == "after-commit":
        hold()
    return original_forget(path)
run_files.forget_size = forget_size

from customer360.cli import main
sys.argv = ["c360", *sys.argv[1:]]
main()
"""

DELIVERY = {
    "customers": [customer("C1", email="ann@x.com"), customer("C2")],
    "loyalty_members": [member("L1", customer_id="C1")],
    "online_orders": [order_line(f"O{i}", customer_id="C1") for i in range(50)],
    "store_sales": [sale_line("T1", loyalty_card_id="L1")],
    "support_tickets": [ticket("K1", customer_id="C1")],
}
POINTS = ["discovery", "load", "silver", "identity", "quality", "intermediate", "gold", "before-commit"]
SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("exit-paths")
    base = root / "base.duckdb"
    engine.run_delivery(write_delivery(root / "day1", {"customers": [customer("C9")]}), DAY1, base)
    day2 = write_delivery(root / "day2", DELIVERY)
    reference = root / "reference.duckdb"
    shutil.copy(base, reference)
    engine.run_delivery(day2, DAY2, reference)
    return {"root": root, "base": base, "day2": day2, "before": table_digests(base), "after": table_digests(reference)}


def held_run(world, tmp_path: Path, point: str, data: Path | None = None) -> tuple[subprocess.Popen, Path, list[str]]:
    """c360 run of the day-2 delivery in a child held at POINT; returns it once it is held there."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["base"], path)
    args = ["run", "--data", str(data or world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=tmp_path, env={**os.environ, "C360_HOLD_AT": point},
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in child.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith(f"HOLD {point}"):
            return child, path, seen
    child.wait()
    pytest.fail(f"the run ended before {point}: {seen}\n{child.stderr.read()}")


def release(child: subprocess.Popen, args: list[str], seen: list[str]) -> Finished:
    child.stdin.write("go\n")
    child.stdin.flush()
    done = finished(child, args, timeout=300)
    done.stdout = "\n".join(seen) + "\n" + done.stdout
    return done


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("point", POINTS)
def test_a_signal_at_any_point_of_a_run_is_one_line_and_leaves_the_warehouse_unchanged(world, tmp_path, point, name):
    number, code = SIGNALS[name]
    child, path, seen = held_run(world, tmp_path, point)
    child.send_signal(number)
    time.sleep(0.05)  # the handler runs in the main thread, which the held worker does not block
    run = release(child, [name, point], seen)
    assert_one_line_error(run, code, "interrupted, warehouse unchanged")
    assert "committed" not in run.stdout, f"{point}: the run committed after {name}"
    assert beside(path) == [], f"{point}: the interrupted run left {beside(path)}"
    assert table_digests(path) == world["before"], f"{point}: {name} left the warehouse changed"


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_just_after_the_commit_is_ignored_and_the_run_reports_success(world, tmp_path, name):
    number, _ = SIGNALS[name]
    child, path, seen = held_run(world, tmp_path, "after-commit")
    child.send_signal(number)
    time.sleep(0.05)
    run = release(child, [name, "after-commit"], seen)
    assert run.returncode == 0 and not run.error_lines, f"a committed run ended {run.returncode}: {run.stderr}"
    assert "committed to" in run.stdout.strip().splitlines()[-1]
    assert table_digests(path) == world["after"]


def test_a_committed_run_reports_success_when_another_process_grabs_the_warehouse_right_after(world, tmp_path):
    child, path, seen = held_run(world, tmp_path, "after-commit")
    grab = ("import sys, time, duckdb\n"
            "while True:\n"
            "    try:\n        connection = duckdb.connect(sys.argv[1]); break\n"
            "    except duckdb.Error:\n        time.sleep(0.001)\n"
            "print('grabbed', flush=True)\nsys.stdin.readline()\n")
    grabber = subprocess.Popen([sys.executable, "-c", grab, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        run = release(child, ["run", "grabbed after the commit"], seen)
        assert grabber.stdout.readline().strip() == "grabbed"
    finally:
        grabber.communicate("\n", timeout=60)
    assert run.returncode == 0 and not run.error_lines and not run.traceback, run.stderr
    assert "committed to" in run.stdout.strip().splitlines()[-1]
    assert table_digests(path) == world["after"]


def test_a_failure_tidying_up_after_the_commit_is_a_note_not_a_failure(world, tmp_path, monkeypatch):
    from customer360 import run_files

    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["base"], path)

    def folder_turned_read_only(warehouse_path):
        raise PermissionError(13, "Permission denied", str(run_files.marker_path(warehouse_path)))

    monkeypatch.setattr(run_files, "forget_size", folder_turned_read_only)
    result = engine.run_delivery(world["day2"], DAY2, path)
    assert result.committed and any("tidying up afterwards failed" in note for note in result.notes), result.notes
    assert table_digests(path) == world["after"]


# ---------------------------------------------------------------------------
# Timed from the step log: inside long statements
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, after", [("SIGINT", "silver stores"), ("SIGTERM", "load load_raw")],
                         ids=["SIGINT-inside-a-silver-step", "SIGTERM-inside-the-first-step"])
def test_a_signal_inside_a_long_statement_is_one_line_and_leaves_the_warehouse_unchanged(world, tmp_path, name, after):
    number, code = SIGNALS[name]
    data = big_delivery(tmp_path / "big")
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["base"], path)
    args = ["run", "--data", str(data), "--run-date", DAY2.isoformat(), "--warehouse", str(path)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=tmp_path, env={**os.environ, "C360_HOLD_AT": "none"},
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in child.stdout:
        seen.append(line.rstrip("\n"))
        if after in line:
            break
    time.sleep(0.3)
    child.send_signal(number)
    run = release(child, [name, after], seen)
    total = len(contract.PIPELINE)
    assert f"{total}/{total}" not in run.stdout, f"the run ended before the signal; make the delivery bigger:\n{run.stdout}"
    assert_one_line_error(run, code, "interrupted, warehouse unchanged")
    assert beside(path) == [] and table_digests(path) == world["before"]


# ---------------------------------------------------------------------------
# Before the command line has even been imported
# ---------------------------------------------------------------------------

WHILE_IMPORTING = """
import importlib.abc, os, signal, sys
number = int(sys.argv[1])
# As a shell's foreground command starts: the signals at their defaults. A test runner started as a
# background job has them ignored, the child would inherit that, and c360 keeps an ignored signal ignored.
for each in (signal.SIGINT, signal.SIGTERM):
    signal.signal(each, signal.SIG_DFL)

class SignalOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "duckdb":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), number)
        return None

sys.meta_path.insert(0, SignalOnImport())
from customer360.command import main
sys.argv = ["c360", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_while_the_command_line_is_being_imported_is_one_line(world, tmp_path, name):
    number, code = SIGNALS[name]
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["base"], path)
    args = ["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)]
    child = subprocess.Popen([sys.executable, "-c", WHILE_IMPORTING, str(int(number)), *args], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = finished(child, [name, "while importing"])
    assert_one_line_error(run, code, "interrupted, warehouse unchanged")
    assert table_digests(path) == world["before"]


def test_a_signal_ignored_when_c360_starts_stays_ignored_while_it_imports(world, tmp_path):
    """As for a job a shell starts in the background: c360 does not take over a signal it was started with ignored."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(world["base"], path)
    args = ["run", "--data", str(world["day2"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)]
    ignoring = WHILE_IMPORTING.replace("signal.signal(each, signal.SIG_DFL)", "signal.signal(each, signal.SIG_IGN)")
    assert ignoring != WHILE_IMPORTING, "the child script no longer sets the signals' dispositions"
    child = subprocess.Popen([sys.executable, "-c", ignoring, str(int(signal.SIGINT)), *args], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = finished(child, ["SIGINT ignored", "while importing"])
    assert run.returncode == 0, f"an ignored SIGINT stopped c360 (exit {run.returncode}):\n{run.stderr}"
    assert table_digests(path) == world["after"], "the run that ignored SIGINT did not commit the day-2 delivery"

"""Memory, disk and killed processes: a run is bounded, says what it used, and whatever stops it leaves the
warehouse file as it was, no larger, with nothing beside it.

DuckDB writes a big transaction's rows into the file before COMMIT; these tests use a delivery big enough
(online_orders of BIG_ROWS rows, several row groups) that the file does grow during the run, and check that
it grew, so that "no larger afterwards" means something. A full disk is a small tmpfs mounted for the test
(skipped, with the reason, where mounting is not allowed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from customer360 import engine
from pipeline_harness import DAY1, DAY2, customer, order_line, table_digests, ticket, write_delivery
from process_harness import assert_one_line_error, invoke, spawn

pytestmark = pytest.mark.usefixtures("duckdb_on_two_threads")

BIG_ROWS = 600_000
# DuckDB allocates the file in blocks of 256 KiB; "no larger" allows a few for its own bookkeeping.
SLACK = 3 * 256 * 1024
MiB = 1024 * 1024


def big_delivery(folder: Path, broken_tickets: bool = False) -> Path:
    """online_orders.csv of BIG_ROWS rows (about 43 MB, 10 MB once in DuckDB), values that compress poorly;
    a broken support_tickets.csv after it when asked."""
    write_delivery(folder, {"customers": [customer("C1")]})
    header = "order_id,line_number,customer_id,order_ts,channel,product_id,quantity,unit_price,discount_amount,order_status\n"
    with (folder / "online_orders.csv").open("w", encoding="utf-8") as handle:
        handle.write(header)
        for start in range(0, BIG_ROWS, 50_000):
            handle.write("".join(
                f"{i * 2654435761 % 2**32:08x}-{i},1,C{i * 7919 % 100003},2026-01-06 {i % 24:02d}:{i % 60:02d}:"
                f"{i * 13 % 60:02d},web,P{i % 50},{1 + i % 3},{i * 37 % 9000 / 100 + 0.99:.2f},,completed\n"
                for i in range(start, min(start + 50_000, BIG_ROWS))
            ))
    if broken_tickets:
        (folder / "support_tickets.csv").write_text(
            "ticket_id,customer_id,customer_email,agent_id,channel,category,created_at,resolved_at,status,csat_score\n"
            "K1,C1,,A1,email,billing,2026-01-06 09:00:00,,open,\nK2,cut short\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("resources")
    small = write_delivery(root / "small", {
        "customers": [customer("C1", email="ann@x.com"), customer("C2")],
        "online_orders": [order_line("O1", customer_id="C1"), order_line("O2")],
        "support_tickets": [ticket("K1", customer_id="C1")],
    })
    base = root / "base.duckdb"
    engine.run_delivery(small, DAY1, base)
    return {"root": root, "base": base, "small": small,
            "big": big_delivery(root / "big"), "big-broken": big_delivery(root / "big-broken", broken_tickets=True)}


def copy_of_base(world, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "warehouse.duckdb"
    shutil.copy(world["base"], path)
    return path


def beside(path: Path) -> list[str]:
    """What lies beside the warehouse file: its log, run marker, spill folder."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))


def gib(size: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+) ?([KMGT])i?B", size).groups()
    return float(number) * 1024 ** ("KMGT".index(unit) + 1) / 1024**3


# ---------------------------------------------------------------------------
# Memory and threads
# ---------------------------------------------------------------------------


def test_memory_is_bounded_by_default_and_duckdb_spills_beside_the_warehouse(world, tmp_path):
    path = copy_of_base(world, tmp_path)
    result = engine.run_delivery(world["small"], DAY2, path)
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    limit = gib(result.settings["memory_limit"])
    assert limit <= min(0.6 * physical, 3) * 1.01, f"the default memory limit {limit:.2f} GiB is not bounded"
    assert result.settings["temp_directory"] == str(path) + ".tmp", result.settings
    assert beside(path) == [], f"a committed run left {beside(path)} beside the warehouse"


def test_memory_limit_and_threads_are_applied_and_the_closing_line_reports_them_and_peak_memory(world, tmp_path):
    path = copy_of_base(world, tmp_path)
    run = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path),
                  "--force", "--memory-limit", "1GB", "--threads", "1"])
    assert run.returncode == 0, run.stdout + run.stderr
    closing = run.stdout.strip().splitlines()[-1]
    assert re.search(r"committed to .* \(peak memory \d+\.\d\d GB; memory limit 953\.6 MiB, 1 thread\)\.$", closing), closing
    again = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path),
                    "--force", "--threads", "3"])
    assert re.search(r"memory limit [\d.]+ [MG]iB, 3 threads\)\.$", again.stdout.strip().splitlines()[-1]), again.stdout


def test_c360_threads_is_the_default_for_threads_and_the_option_overrides_it(world, tmp_path, monkeypatch):
    path = copy_of_base(world, tmp_path)
    monkeypatch.setenv("C360_THREADS", "3")  # not the core count of a 2-core machine, DuckDB's own default
    run = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path),
                  "--force"])
    assert re.search(r", 3 threads\)\.$", run.stdout.strip().splitlines()[-1]), run.stdout + run.stderr
    again = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path),
                    "--force", "--threads", "1"])
    assert re.search(r", 1 thread\)\.$", again.stdout.strip().splitlines()[-1]), again.stdout + again.stderr


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5", "\u00b2"])
def test_a_bad_c360_threads_is_one_line_exit_2(world, tmp_path, monkeypatch, value):
    monkeypatch.setenv("C360_THREADS", value)
    run = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(),
                  "--warehouse", str(tmp_path / "w.duckdb")])
    assert_one_line_error(run, 2, f"C360_THREADS={value!r}: expected a whole number, 1 or more")
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--memory-limit", "lots", "--memory-limit 'lots': expected a size such as 3GB or 2500MB"),
    ("--threads", "0", "--threads 0: expected 1 or more"),
])
def test_a_bad_resource_option_is_one_line_exit_2(world, tmp_path, option, value, message):
    run = invoke(["run", "--data", str(world["small"]), "--run-date", DAY2.isoformat(),
                  "--warehouse", str(tmp_path / "w.duckdb"), option, value])
    assert_one_line_error(run, 2, message)
    assert not (tmp_path / "w.duckdb").exists()


# ---------------------------------------------------------------------------
# A failed or killed run gives back what it wrote
# ---------------------------------------------------------------------------


def test_a_failed_run_gives_back_the_space_it_wrote_and_leaves_nothing_beside_the_file(world, tmp_path, monkeypatch):
    path = copy_of_base(world, tmp_path)
    before, digests = path.stat().st_size, table_digests(path)
    sizes = []
    original = engine._load_source

    def load_and_measure(connection, delivery, source, *args):
        loaded = original(connection, delivery, source, *args)
        sizes.append(path.stat().st_size)  # stat only: opening the file would drop DuckDB's lock
        return loaded

    monkeypatch.setattr(engine, "_load_source", load_and_measure)
    with pytest.raises(engine.InputError, match=r"support_tickets.csv: malformed CSV: line 3"):
        engine.run_delivery(world["big-broken"], DAY2, path)
    assert max(sizes) > before + 4 * MiB, f"the run did not write into the file ({sizes}); the test tests nothing"
    assert path.stat().st_size <= before + SLACK, f"the failed run left the file at {path.stat().st_size:,} bytes (was {before:,})"
    assert beside(path) == [], f"the failed run left {beside(path)}"
    assert table_digests(path) == digests


def kill_point_reached(process: subprocess.Popen, path: Path, before: int, point: str) -> None:
    """Waits until the run is where POINT says: its load has grown the file, or a step after the load runs."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before the kill point {point}"
        if point == "mid-load" and path.stat().st_size > before + 4 * MiB:
            return
        if point == "mid-step":
            line = process.stdout.readline()
            if " OK    silver customers" in line:  # the next silver step is under way
                return
        else:
            time.sleep(0.02)
    raise AssertionError(f"the run never reached {point}")


@pytest.mark.parametrize("point", ["mid-load", "mid-step"])
def test_a_run_killed_leaves_the_file_as_it_was_and_nothing_beside_it(world, tmp_path, point):
    path = copy_of_base(world, tmp_path)
    before, digests = path.stat().st_size, table_digests(path)
    process = spawn(["run", "--data", str(world["big"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)],
                    cwd=tmp_path)
    try:
        kill_point_reached(process, path, before, point)
        grown = path.stat().st_size
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert grown > before + 4 * MiB, f"{point}: the run had not written into the file yet ({grown:,} bytes)"
    deadline = time.monotonic() + 30  # the run's watcher repairs the file once the run is gone
    while beside(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert beside(path) == [], f"{point}: the killed run left {beside(path)}"
    assert path.stat().st_size <= before + SLACK, f"{point}: the file is {path.stat().st_size:,} bytes, was {before:,}"
    assert table_digests(path) == digests, f"{point}: the killed run changed the warehouse"


# ---------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, request):
    """A folder on a tmpfs of its own (24 MiB, or the test's `disk_megabytes`); unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    size = getattr(request, "param", 24)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(disk)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {error}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True, capture_output=True)


def fill(disk: Path) -> Path:
    """Writes a file until the disk is full; returns it."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * MiB)
                handle.flush()
        except OSError:
            pass
    return filler


@pytest.mark.parametrize("small_disk", [14], indirect=True)  # the warehouse, and less room than the load needs
def test_a_disk_full_at_the_load_is_one_line_exit_3_and_the_warehouse_is_unchanged(world, small_disk):
    path = copy_of_base(world, small_disk)
    before, digests = path.stat().st_size, table_digests(path)
    run = invoke(["run", "--data", str(world["big"]), "--run-date", DAY2.isoformat(), "--warehouse", str(path)])
    assert_one_line_error(run, 3, "no space left on the disk holding the warehouse while loading", "online_orders.csv")
    assert path.stat().st_size <= before + SLACK and beside(path) == [], (path.stat().st_size, beside(path))
    assert table_digests(path) == digests


@pytest.mark.parametrize("step, delivery", [("online_order_lines", "big"), ("customer_360", "small")],
                         ids=["mid-step", "at-the-commit"])
def test_a_disk_full_during_a_step_or_at_the_commit_is_one_line_and_the_warehouse_is_unchanged(
        world, small_disk, step, delivery):
    path = copy_of_base(world, small_disk)
    before, digests = path.stat().st_size, table_digests(path)
    filled = []

    def fill_at(label, index, total):
        if label == step:
            filled.append(fill(small_disk))

    with pytest.raises(engine.OutOfSpace) as failure:
        engine.run_delivery(world[delivery], DAY2, path, progress=fill_at)
    assert filled, f"the run failed before step {step}: {failure.value}"
    message = str(failure.value)
    assert "\n" not in message and message.startswith("no space left on the disk holding"), message
    filled[0].unlink()
    assert beside(path) == [], f"the run left {beside(path)}"
    assert path.stat().st_size <= before + SLACK
    assert table_digests(path) == digests
    again = engine.run_delivery(world["small"], DAY2, path)
    assert again.committed, "the warehouse is not usable once space is back"

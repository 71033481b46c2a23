import os
import shutil
import signal
import threading
import uuid
from pathlib import Path

import pytest
from pipeline_harness import Pipeline
from worker_shared import shared_folder


# Two test workers share the machine's cores, so each warehouse runs DuckDB on one thread unless a test asks
# otherwise (--threads, Resources.default(threads=...)): on tiny test deliveries more threads only cost CPU.
# Processes the tests start inherit it.
os.environ.setdefault("C360_THREADS", "1")



@pytest.fixture
def duckdb_on_two_threads(monkeypatch):
    """For tests of what a run writes into the warehouse file before its commit (killed, signalled or out of
    space part-way): DuckDB writes there early only with more than one thread, and the suite's default is one."""
    monkeypatch.setenv("C360_THREADS", "2")


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(tmp_path)


@pytest.fixture(autouse=True)
def signal_handlers_as_found():
    """Each test leaves SIGINT and SIGTERM as it found them. `c360 check` and `c360 demo` invoked in the test
    process (CliRunner) leave both ignored after a committed run, and every process a later test starts
    would inherit that: c360 keeps signals it was started with ignored, as a shell's background job."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    found = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in found.items():
        if handler is not None:
            signal.signal(number, handler)


def _xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config):
    # The run id xdist hands its workers, chosen here so that the controller knows which folder they share.
    if _xdist_controller(config) and config.option.testrunuid is None:
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config):
    if _xdist_controller(config) and config.option.testrunuid:
        shutil.rmtree(shared_folder(config.option.testrunuid), ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Starts each xdist worker's share of the run with some of the tests marked `long`.

    `--dist worksteal` first hands every worker a contiguous, equal-sized slice of the collection and later
    moves tests from the end of a busy worker's queue to an idle one; a long test late in a slice starts
    when the other worker has little left, and that worker then waits. Dealt round-robin to the start of
    each slice, the long tests run first, spread over the workers, and the short ones even out the end.
    """
    long = [item for item in items if item.get_closest_marker("long")]
    if not long:
        return
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    rest = [item for item in items if not item.get_closest_marker("long")]
    ordered = []
    for share in range(workers):
        ordered += long[share::workers] + rest[share * len(rest) // workers:(share + 1) * len(rest) // workers]
    items[:] = ordered

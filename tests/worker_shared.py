"""Values computed once per test session and shared by its pytest-xdist workers, through a file under a lock."""

from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def shared_folder(run_id: str) -> Path:
    """Where the workers of the test session RUN_ID (xdist's testrunuid) leave what they share."""
    return Path(tempfile.gettempdir()) / f"customer360-tests-{run_id}"


def computed_once(name: str, compute: Callable[[], T]) -> T:
    """COMPUTE()'s value, computed by the first worker that asks for NAME; the others wait for it and read it.

    Without xdist (one process) it is simply computed. The value must pickle."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run_id:
        return compute()
    shared = shared_folder(run_id)
    shared.mkdir(exist_ok=True)
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = shared / f"{name}.pickle"
        if not path.exists():
            written = path.with_suffix(f".{os.getpid()}.tmp")
            written.write_bytes(pickle.dumps(compute()))
            written.replace(path)
        return pickle.loads(path.read_bytes())

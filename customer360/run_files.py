"""The files a run keeps beside the warehouse, and giving back what a run that did not commit wrote, even after its process was killed.

DuckDB writes a big transaction's rows into the database file before COMMIT and does not give the
space back on ROLLBACK, nor after a crash. So while a run holds the warehouse open it records, in
`<warehouse>.run`, the file's size and checkpoint headers. Everything past that size belongs to the
run's transaction until the run commits: COMMIT writes the write-ahead log `<warehouse>.wal`, and the
checkpoint after it rewrites the headers. A file whose headers are unchanged and that has no log is
therefore cut back to the recorded size (a file the run created is removed) without losing anything
committed. DuckDB's spill folder `<warehouse>.tmp/` goes too.

That repair only ever runs while this process holds an exclusive lock on the warehouse file, the
same POSIX record lock DuckDB takes (https://duckdb.org/docs/stable/connect/concurrency), so it
never cuts a file another process has open. It runs when a run fails, before every run, and, when
the run's process is killed, in a small watcher process the run started (`watch`), which waits for
its parent to die. This module imports only the standard library, so the watcher starts fast.

POSIX record locks belong to a process, and closing any descriptor of the file releases all of them
(https://pubs.opengroup.org/onlinepubs/9699919799/functions/fcntl.html): while DuckDB has the warehouse
open, this process must not open and close the file, or DuckDB's lock is gone. So the run reads the
size and headers through one descriptor (`HeldFile`) that it closes only after DuckDB has closed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# DuckDB's file starts with three 4 KiB blocks: the main header and the two alternating checkpoint headers.
HEADER_BYTES = 3 * 4096
_DONE = b"done"


def spill_folder(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".run")


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def header_digest(descriptor: int) -> str:
    return hashlib.sha256(os.pread(descriptor, HEADER_BYTES, 0)).hexdigest()


class HeldFile:
    """A descriptor of the warehouse file, opened after DuckDB opened it and closed only after DuckDB closed it."""

    def __init__(self, path: Path) -> None:
        self.descriptor = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


def remember_size(path: Path, held: HeldFile, created: bool) -> None:
    """Records PATH's size and headers before the run writes; call while the run holds PATH open in DuckDB."""
    state = {"pid": os.getpid(), "created": created, "size": os.fstat(held.descriptor).st_size,
             "header": header_digest(held.descriptor)}
    marker = marker_path(path)
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(json.dumps(state), encoding="utf-8")
    os.replace(partial, marker)


def forget_size(path: Path) -> None:
    """After the run committed (still holding PATH open): nothing past the recorded size is to be given back."""
    with contextlib.suppress(OSError):
        marker_path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[int | None]:
    """An exclusive lock on the warehouse file: yields its descriptor, or None when another process has it open.

    Only while this process has no DuckDB connection to PATH (see the module's note on POSIX locks).
    """
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            yield None
            return
        yield descriptor
    finally:
        os.close(descriptor)


def _give_back_locked(path: Path, descriptor: int) -> bool:
    """What give_back does once the lock is held; True when the file was cut back or removed.

    Reads and cuts through DESCRIPTOR only: opening and closing the file again would drop the lock.
    """
    marker = marker_path(path)
    changed = False
    try:
        state = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = None
    log = wal_path(path)
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()  # a COMMIT that failed (a full disk) leaves an empty log: it holds nothing
    if isinstance(state, dict) and not log.exists():
        unchanged = header_digest(descriptor) == state.get("header")
        size = os.fstat(descriptor).st_size
        if unchanged and state.get("created"):
            path.unlink(missing_ok=True)
            changed = True
        elif unchanged and isinstance(state.get("size"), int) and size > state["size"]:
            os.ftruncate(descriptor, state["size"])
            changed = True
    with contextlib.suppress(OSError):
        marker.unlink(missing_ok=True)
    shutil.rmtree(spill_folder(path), ignore_errors=True)
    return changed


def give_back(path: Path) -> bool:
    """Gives back what a run that did not commit left in and beside PATH, unless another process has PATH open.

    Safe at any moment: a committed run has a log or new headers, which keep the file as it is.
    """
    if not path.exists():
        return False
    with exclusive(path) as descriptor:
        if descriptor is None:
            return False
        try:
            return _give_back_locked(path, descriptor)
        except OSError:
            return False  # a read-only or vanished file: nothing can be given back now, the next run tries again


class Watcher:
    """A process that calls give_back(path) if this process dies while the run is under way."""

    def __init__(self, path: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "customer360.run_files", str(path), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )

    def stop(self) -> None:
        """The run is over (committed or given back): the watcher exits without touching anything."""
        try:
            self._process.stdin.write(_DONE)
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def watch(path: Path) -> Watcher | None:
    try:
        return Watcher(path)
    except OSError:
        return None  # no process to spare: the next run gives back what a killed run left


def _watch_main(path: Path, parent: int) -> None:
    import signal

    for number in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    if sys.stdin.buffer.read() == _DONE:
        return
    # The parent is gone once this process is handed to another parent: by then the kernel has closed
    # its files and released its locks.
    deadline = time.monotonic() + 10
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.01)
    give_back(path)


if __name__ == "__main__":
    _watch_main(Path(sys.argv[1]), int(sys.argv[2]))

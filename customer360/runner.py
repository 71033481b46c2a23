"""Runs an engine job in a worker thread so that Ctrl-C and SIGTERM stop it cleanly at any moment.

The signal handlers run in the main thread, which only waits; they ask the job to stop (DuckDB
interrupts the statement in progress) and the job rolls back. Once the job has started to commit it
is no longer interrupted: a committed run always reports success. So that nothing can turn a committed
run into an interrupted one afterwards, SIGINT and SIGTERM stay ignored when a job committed; the
caller restores its own handlers when it has reported the run.
"""

from __future__ import annotations

import signal
import threading

from customer360.engine import Run, RunResult, _peak_memory

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_interruptibly(job: Run) -> RunResult:
    """JOB's result; raises what the job raised (engine.Interrupted after a signal)."""
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["result"] = job.execute()
        except BaseException as error:  # handed to the main thread below
            outcome["error"] = error

    if threading.current_thread() is not threading.main_thread():
        work()
    else:
        previous = {number: signal.getsignal(number) for number in SIGNALS}

        def stop(number, frame) -> None:
            job.interrupt(number)

        for number in SIGNALS:
            signal.signal(number, stop)
        worker = threading.Thread(target=work, name="c360-run", daemon=True)
        try:
            worker.start()
            while worker.is_alive():
                worker.join(0.1)
        finally:
            committed = "result" in outcome and outcome["result"].committed
            for number, handler in previous.items():
                signal.signal(number, signal.SIG_IGN if committed else handler)
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    result.peak_memory_bytes = _peak_memory()
    return result

"""The c360 executable: Ctrl-C and SIGTERM end it with one line at any moment, even while its modules are still being imported.

During a run the handlers of customer360.runner take over (the run rolls back, or is left to commit);
everywhere else the handler here raises Stopped, which ends the command with one line on stderr and
exit code 128 + the signal's number. Only the standard library is imported before the handlers are set.
"""

from __future__ import annotations

import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAREHOUSE_COMMANDS = ("run", "load", "backfill")
# What the line says; for the commands that write a warehouse, what it holds (backfill updates it day by day).
interrupted_message = "interrupted"


class Stopped(BaseException):
    """SIGINT or SIGTERM outside a run."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def _stop(signal_number, frame) -> None:
    raise Stopped(signal_number)


def main() -> None:
    global interrupted_message
    if sys.argv[1:2] and sys.argv[1] in WAREHOUSE_COMMANDS:
        interrupted_message = "interrupted, warehouse unchanged"
    # Not when started with them ignored (as a shell starts background jobs).
    for number in SIGNALS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _stop)
    try:
        from customer360.cli import app

        app()
    except Stopped as stopped:
        for number in SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        console = getattr(sys.modules.get("customer360.cli"), "error_console", None)
        if console is not None:
            from rich.markup import escape

            console.print(f"[bold red]error:[/] {escape(interrupted_message)}", highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(f"error: {interrupted_message}\n")
        sys.exit(128 + stopped.signal_number)

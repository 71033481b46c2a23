"""Running c360 as a user does (its own process, or in this one) and judging how it ended: exit code, one line, no traceback.

Every invocation is appended to the file named by C360_EXIT_LOG when it is set, so that corpus_report.py can
count how the commands ended over the whole robustness suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from typer.testing import CliRunner

from customer360 import contract
from customer360.cli import app

# The code under test, as the c360 executable runs it once its modules are imported.
ENTRY = "import sys; from customer360.cli import main; sys.argv[0] = 'c360'; main()"


@dataclass
class Finished:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr + self.stdout


def _log(finished: Finished, kind: str) -> Finished:
    log = os.environ.get("C360_EXIT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, **asdict(finished)}) + "\n")
    return finished


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """c360 ARGS in its own process (stdout and stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args], cwd=cwd, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )


def finished(process: subprocess.Popen, args: list[str], timeout: float = 300) -> Finished:
    stdout, stderr = process.communicate(timeout=timeout)
    return _log(Finished(args, process.returncode, stdout, stderr), "process")


def c360(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Finished:
    return finished(spawn(args, cwd, env), args, timeout)


def invoke(args: list[str]) -> Finished:
    """c360 ARGS in this process (fast; the signal handling of the executable is not involved)."""
    result = CliRunner().invoke(app, args)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return _log(Finished(args, result.exit_code, result.stdout, stderr), "in-process")


def assert_one_line_error(run: Finished, code: int, *fragments: str) -> str:
    """RUN ended with CODE and one line on stderr holding every fragment; returns that line."""
    assert not run.traceback, f"c360 {' '.join(run.args)} printed a traceback:\n{run.stderr}"
    assert run.returncode == code, f"c360 {' '.join(run.args)} exited {run.returncode}, expected {code}:\n{run.stderr}"
    assert len(run.error_lines) == 1, f"c360 {' '.join(run.args)} printed {len(run.error_lines)} lines:\n{run.stderr}"
    line = run.error_lines[0]
    for fragment in fragments:
        assert fragment in line, f"c360 {' '.join(run.args)}: {fragment!r} not in {line!r}"
    return line


def step_lines(run: Finished) -> list[str]:
    """The lines of the step log (`  3/26 OK ...`)."""
    total = len(contract.PIPELINE)
    return [line for line in run.stdout.splitlines() if f"/{total} " in line]

"""The README's command examples work as written: the block under "The `c360` command" runs, line by line, in order.

Each line runs in a fresh folder (where `.venv/bin/c360` is this environment's command), as a user who
copies the block would run it; every line must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from customer360 import contract

README = contract.REPO_ROOT / "README.md"


def command_block(heading: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)
    assert len(section) == 2, f"README.md has no section {heading!r}"
    block = re.search(r"```sh\n(.*?)```", section[1], re.DOTALL)
    assert block, f"README.md section {heading!r} has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.long
def test_every_c360_example_in_the_readme_runs_in_order_and_exits_0(tmp_path):
    lines = command_block("## The `c360` command")
    assert any(" run " in line for line in lines) and any(" load " in line for line in lines), lines
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "c360").symlink_to(Path(sys.executable).with_name("c360"))
    environment = {**os.environ, "COLUMNS": "200"}
    for line in lines:
        arguments = shlex.split(line)
        assert arguments[0] == ".venv/bin/c360", f"README line is not a c360 command: {line}"
        done = subprocess.run(arguments, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"README line `{line}` exited {done.returncode}: {done.stderr.strip()[-500:]}"

"""run_results.json and --json: what every run did, machine-readable, against its committed schema; and the live log."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import jsonschema
import pytest
from typer.testing import CliRunner

from customer360 import contract, report, sqlgen
from customer360.cli import app
from customer360.sqlgen import checks
from pipeline_harness import customer, member, order_line, sale_line, snapshot, ticket, write_delivery

runner = CliRunner()
SCHEMA_PATH = contract.REPO_ROOT / "docs" / "run_results.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
DELIVERY = {
    "customers": [customer("C1", email="a@x.com"), customer("")],
    "loyalty_members": [member("L1", customer_id="C1")],
    "online_orders": [order_line("O1"), order_line("O2", product_id="P404"), order_line("O3", channel="?")],
    "store_sales": [sale_line("T1", loyalty_card_id="L1")],
    "support_tickets": [ticket("K1", customer_id="C1")],
    "support_agents": [{"agent_id": "A1", "agent_name": "Ada"}],
    "products": [{"product_id": "P1", "product_name": "Mug"}],
    "stores": [{"store_id": "S1", "store_name": "Main"}],
}


def valid(document: dict) -> dict:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "run_results.json breaks docs/run_results.schema.json: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:5])
    return document


def results_beside(warehouse: Path) -> dict:
    return valid(json.loads((warehouse.parent / report.RESULTS_FILE).read_text(encoding="utf-8")))


def test_the_committed_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema_version"] == {"const": report.RESULTS_SCHEMA_VERSION}


def test_a_committed_run_writes_results_beside_the_warehouse_that_validate(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    document = results_beside(warehouse)
    assert (document["command"], document["status"], document["exit_code"], document["error"]) == ("run", "succeeded", 0, None)
    assert document["delivery"] == {"folder": str(folder), "day": "2026-01-05"}
    connection = duckdb.connect(str(warehouse), read_only=True)
    recorded = connection.execute("SELECT step, rows_out FROM ops.pipeline_runs WHERE run_id = ? AND step != 'run'",
                                  [document["run_id"]]).fetchall()
    connection.close()
    assert {(s["name"], s["rows_out"]) for s in document["steps"]} == set(recorded), "steps differ from ops.pipeline_runs"
    assert [s["name"] for s in document["steps"]] == ["load_raw"] + [s.name for s in contract.PIPELINE]
    assert all(s["started_at"].endswith("Z") for s in document["steps"])
    totals = document["totals"]
    assert f"PASS={totals['pass']} WARN={totals['warn']} ERROR={totals['error']} SKIP={totals['skip']}" in result.output
    assert totals["warn"] >= 1, "an unknown product and the missing days warn"
    arrived = [c for c in document["checks"] if c["check"] == "deliveries_arrived"]
    assert sorted(c["subject"] for c in arrived) == sorted(s.name for s in contract.SOURCES)
    facts = next(c for c in document["checks"] if c["check"] == "facts_reference_known_dimensions")
    assert (facts["status"], facts["violating_rows"], facts["warn_if"], facts["error_if"]) == ("warn", 1, "> 0", None)
    assert document["peak_memory_bytes"] > 0 and len(document["partitions"]) == len(contract.SOURCES)


def test_a_run_with_nothing_to_do_says_so_in_its_results(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    assert runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)]).exit_code == 0
    again = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)])
    assert again.exit_code == 0, again.output
    document = results_beside(warehouse)
    assert (document["status"], document["partitions"], document["totals"]["pass"]) == ("nothing_to_do", [], 0)
    assert [(s["name"], s["rows_out"]) for s in document["steps"]] == [("load_raw", 0)], "only the load looked"


def test_a_run_refusing_its_input_writes_failed_results_and_no_warehouse(tmp_path):
    folder = tmp_path / "2026-01-05"
    folder.mkdir()
    (folder / "stores.csv").write_text("store_id,store_name\nS1,Main\n", encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)])
    assert result.exit_code == 2, result.output
    document = results_beside(warehouse)
    assert (document["status"], document["exit_code"]) == ("failed", 2)
    assert "stores.csv" in document["error"] and result.output.strip() == f"error: {document['error']}"
    assert not warehouse.exists(), "a failed first run left a warehouse"


def test_a_run_failing_a_blocking_check_writes_failed_results_and_keeps_the_warehouse(tmp_path, monkeypatch):
    warehouse = tmp_path / "w.duckdb"
    first = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    assert runner.invoke(app, ["run", "--data", str(first), "--warehouse", str(warehouse)]).exit_code == 0
    before = snapshot(warehouse)
    real = sqlgen.step_statements

    def broken(step, scope="run"):
        if step.name == "conservation":
            return tuple(checks.quality_statements(step, "select 1 as violation"))
        return real(step, scope)

    monkeypatch.setattr(sqlgen, "step_statements", broken)
    second = write_delivery(tmp_path / "2026-01-06", {"customers": [customer("C2")]})
    result = runner.invoke(app, ["run", "--data", str(second), "--warehouse", str(warehouse)])
    assert result.exit_code == 3, result.output
    document = results_beside(warehouse)
    assert (document["status"], document["exit_code"]) == ("failed", 3)
    assert "data-quality check conservation failed" in document["error"]
    failed = document["steps"][-1]
    assert (failed["name"], failed["status"], failed["check_status"]) == ("conservation", "failed", "fail")
    assert document["totals"]["error"] == 1
    assert any(c["check"] == "conservation" and c["status"] == "fail" for c in document["checks"])
    assert snapshot(warehouse) == before, "a failed run changed the warehouse"


def c360(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from customer360.cli import main; main()", *arguments],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "COLUMNS": "80", "TERM": "xterm"})


def test_json_prints_the_results_and_nothing_else_on_stdout(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    result = c360("run", "--data", str(folder), "--warehouse", str(warehouse), "--json")
    assert result.returncode == 0, result.stderr
    printed = valid(json.loads(result.stdout))
    assert printed == results_beside(warehouse)
    assert "customer_360" in result.stderr and "PASS=" in result.stderr, "the step log goes to stderr with --json"


def test_results_go_where_results_says(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    chosen = tmp_path / "elsewhere.json"
    result = runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse), "--results", str(chosen)])
    assert result.exit_code == 0, result.output
    assert valid(json.loads(chosen.read_text(encoding="utf-8")))["status"] == "succeeded"
    assert not (tmp_path / report.RESULTS_FILE).exists()


def test_check_and_selected_runs_write_results_that_validate(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    warehouse = tmp_path / "w.duckdb"
    assert runner.invoke(app, ["run", "--data", str(folder), "--warehouse", str(warehouse)]).exit_code == 0
    checked = runner.invoke(app, ["check", "--warehouse", str(warehouse)])
    assert checked.exit_code == 0, checked.output
    document = results_beside(warehouse)
    assert (document["command"], document["delivery"]["day"]) == ("check", "2026-01-05")
    assert [s["name"] for s in document["steps"]] == [s.name for s in contract.PIPELINE if s.kind == "quality"]
    selected = runner.invoke(app, ["run", "--select", "customer_segments+", "--warehouse", str(warehouse),
                                   "--run-date", "2026-01-05"])
    assert selected.exit_code == 0, selected.output
    document = results_beside(warehouse)
    assert document["selection"] == {"expression": "customer_segments+", "steps": ["customer_segments", "customer_360"]}


def test_the_readme_documents_every_field_of_the_schema_and_its_version():
    readme = (contract.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Machine-readable results", 1)
    assert len(section) == 2, "the README has no 'Machine-readable results' section"
    text = section[1].split("\n## ", 1)[0]
    assert f"schema version {report.RESULTS_SCHEMA_VERSION}" in text.lower() or \
        f'"schema_version": {report.RESULTS_SCHEMA_VERSION}' in text, "the README does not state the schema version"
    for field in SCHEMA["required"]:
        assert f"`{field}`" in text, f"the README's results section does not describe `{field}`"


# ---------------------------------------------------------------------------
# The live log
# ---------------------------------------------------------------------------


def in_a_terminal(*arguments: str) -> str:
    """The output of the real program run in a pseudo-terminal (stdout and stderr are a TTY)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", "from customer360.cli import main; main()", *arguments],
                               stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True,
                               env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"})
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(controller)
    assert process.returncode == 0, b"".join(chunks).decode("utf-8", "replace")
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_shows_the_step_in_progress_and_a_pipe_does_not(tmp_path):
    folder = write_delivery(tmp_path / "2026-01-05", DELIVERY)
    shown = in_a_terminal("run", "--data", str(folder), "--warehouse", str(tmp_path / "tty.duckdb"))
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"running \w+", plain), "no display of the step in progress on a terminal"
    assert "26/26 OK    gold customer_360" in plain and "PASS=" in plain, plain[-2000:]
    piped = c360("run", "--data", str(folder), "--warehouse", str(tmp_path / "piped.duckdb"))
    assert piped.returncode == 0, piped.stderr
    assert "running" not in piped.stdout and "\x1b[" not in piped.stdout, "a pipe got the terminal display"
    lines = [line for line in piped.stdout.splitlines() if line.strip()]
    assert re.match(r"PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", lines[-2]), lines[-3:]

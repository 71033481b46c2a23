"""The checks work from the counts the steps recorded, and still fail the run when a step loses rows.

Each mutant adds one statement to a real silver step, at the point where a bug would lose rows: after
the staging (a raw row never reaches the step), after the rejected rows are written (a rejected row is
not kept), after the winners are written to silver (an accepted row is not kept). Every mutant must fail
the run with the check that guards that loss named and leave the warehouse as it was; the unmutated step passes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from customer360 import contract, engine, sqlgen
from customer360.generate import generate
from customer360.sqlgen.silver import work_tables
from customer360.sqlgen.text import Statement
from pipeline_harness import snapshot

STEP = contract.STEPS_BY_NAME["customers"]
WORK = work_tables(STEP)
KEY = contract.SOURCES_BY_NAME["customers"].primary_key[0]


def _after(marker: str, extra: str):
    """The customers step with EXTRA run right after its first statement whose SQL starts with MARKER."""
    def statements(step, scope="run", real=sqlgen.step_statements):
        found = real(step, scope)
        if step.name != STEP.name:
            return found
        index = next(i for i, s in enumerate(found) if s.sql.startswith(marker))
        return found[: index + 1] + (Statement(extra),) + found[index + 1:]

    return statements


# Each mutant, and the blocking check that stops it: the first, in pipeline order, that sees the loss.
MUTANTS = {
    "a staged row is dropped before it is counted or kept": ("conservation", _after(
        f"create or replace temp table {WORK['staged']}",
        f"delete from {WORK['staged']} where {KEY} = (select min({KEY}) from {WORK['staged']} "
        "where rejection_reason is null)",
    )),
    "a rejected row is not written to ops.rejected_rows": ("conservation", _after(
        "insert into ops.rejected_rows",
        "delete from ops.rejected_rows where source = 'customers' and run_id = @run_id and raw_values = "
        "(select min(raw_values) from ops.rejected_rows where source = 'customers' and run_id = @run_id)",
    )),
    # The key check runs first and sees the key missing; conservation's accepted_keys_missing would too.
    "an accepted row does not reach silver": ("silver_keys_unique_and_present", _after(
        f"insert into {STEP.target}",
        f"delete from {STEP.target} where {KEY} = (select min({KEY}) from {WORK['incoming']})",
    )),
}


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    report = generate(tmp_path_factory.mktemp("mutations") / "data", days=2, scale=0.1, seed=5, dirty_rate=0.05)
    return report.day_dirs


def _run(folder, warehouse):
    return engine.run_delivery(folder, dt.date.fromisoformat(folder.name), warehouse)


@pytest.fixture(scope="module")
def first_day(days, tmp_path_factory) -> Path:
    """The warehouse after the unmutated first day (each mutant runs the second day on a copy)."""
    warehouse = tmp_path_factory.mktemp("first-day") / "w.duckdb"
    _run(days[0], warehouse)
    return warehouse


def test_the_unmutated_step_passes_conservation(days, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    for folder in days:
        result = _run(folder, warehouse)
        check = next(s for s in result.steps if s.step == "conservation")
        assert check.status == "succeeded" and check.check_status == "pass", f"{folder.name}: {check}"
        customers = next(s for s in result.steps if s.step == STEP.name)
        assert customers.rows_rejected and customers.rows_out, (
            f"{folder.name}: the customers file needs accepted and rejected rows for the mutants to bite")


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_a_step_that_loses_rows_fails_conservation_and_changes_nothing(days, first_day, tmp_path, monkeypatch, mutant):
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(first_day, warehouse)
    before = snapshot(warehouse)
    check, statements = MUTANTS[mutant]
    monkeypatch.setattr(sqlgen, "step_statements", statements)
    with pytest.raises(engine.CheckFailed) as failure:
        _run(days[1], warehouse)
    assert f"check {check} failed" in str(failure.value), f"{mutant}: not stopped by {check}: {failure.value}"
    monkeypatch.undo()
    assert snapshot(warehouse) == before, f"{mutant}: the failed run changed the warehouse"

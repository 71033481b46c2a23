"""Each check's error_if / warn_if thresholds are declared in the contract and decide its status in the generated SQL."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from customer360 import contract, engine, sqlgen
from customer360.contract import QualityCheck, Step
from customer360.sqlgen import checks

BLOCKING = {"raw_header_matches_contract", "silver_keys_unique_and_present", "silver_accepted_values", "conservation",
            "identity_resolves_to_identities"}


def test_blocking_checks_error_on_any_violation_and_the_two_warnings_warn_on_any():
    for check in contract.QUALITY_CHECKS:
        if check.name in BLOCKING:
            assert (check.error_if, check.warn_if, check.severity) == ("> 0", None, "error"), check
        else:
            assert (check.error_if, check.warn_if, check.severity) == (None, "> 0", "warn"), check
    assert {c.name for c in contract.QUALITY_CHECKS} - BLOCKING == {"facts_reference_known_dimensions",
                                                                   "deliveries_arrived"}


@pytest.mark.parametrize("error_if, warn_if, problem", [
    ("more than 0", None, "error_if 'more than 0' is not a condition"),
    (None, ">0.5", "warn_if '>0.5' is not a condition"),
    (None, None, "give error_if, warn_if or both"),
])
def test_a_threshold_that_is_not_a_count_condition_is_refused(error_if, warn_if, problem):
    with pytest.raises(ValueError, match=problem):
        QualityCheck("probe", "silver", "A probe.", error_if=error_if, warn_if=warn_if)


def _probe(error_if: str | None, warn_if: str | None) -> Step:
    check = QualityCheck("probe", "silver", "A probe check.", error_if=error_if, warn_if=warn_if)
    return Step("probe", "quality", None, "silver", description=check.description, check=check)


def _run_probe(monkeypatch, step: Step, violations: int) -> engine.StepResult:
    query = f"select n from unnest(generate_array(1, {violations})) as n where n > 0"
    statements = tuple(checks.quality_statements(step, query))
    monkeypatch.setattr(engine.sqlgen, "step_statements", lambda s, scope="run": statements)
    connection = duckdb.connect(":memory:")
    engine.ensure_schema(connection)
    values = {"run_id": "probe-run", "run_date": dt.date(2026, 1, 5), "pipeline_digest": "d"}
    try:
        return engine._execute_step(connection, step, values, lambda: None)
    finally:
        connection.close()


@pytest.mark.parametrize("violations, status", [(0, "pass"), (1, "warn"), (2, "warn")])
def test_counts_below_error_if_pass_or_warn_and_do_not_block(monkeypatch, violations, status):
    result = _run_probe(monkeypatch, _probe(">= 3", "> 0"), violations)
    assert (result.check_status, result.status, result.rows_out) == (status, "succeeded", violations)


@pytest.mark.parametrize("violations", [3, 7])
def test_a_count_meeting_error_if_fails_the_check_and_asserts(monkeypatch, violations):
    with pytest.raises(engine.CheckFailed, match="data-quality check probe failed") as failed:
        _run_probe(monkeypatch, _probe(">= 3", "> 0"), violations)
    assert [(s.step, s.status, s.check_status) for s in failed.value.steps] == [("probe", "failed", "fail")]


def test_a_warn_only_check_never_asserts_whatever_the_count(monkeypatch):
    step = _probe(None, "> 0")
    assert not any(s.is_assertion for s in checks.quality_statements(step, "select 1 as n"))
    assert _run_probe(monkeypatch, step, 50).check_status == "warn"


@pytest.mark.parametrize("step", [s for s in contract.PIPELINE if s.kind == "quality"], ids=lambda s: s.name)
def test_every_generated_check_computes_its_status_from_its_thresholds(step):
    recorded = [s.sql for s in sqlgen.step_statements(step) if "insert into ops.data_quality_results" in s.sql][0]
    assert checks.status_sql(step.check, "missing_days" if step.name == "deliveries_arrived" else "violating_rows") \
        in recorded, f"{step.name}: the recorded status does not come from its thresholds"
    asserts = [s for s in sqlgen.step_statements(step) if s.is_assertion]
    assert bool(asserts) == (step.check.error_if is not None), f"{step.name}: asserts iff it has error_if"

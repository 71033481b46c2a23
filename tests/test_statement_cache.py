"""The local engine translates each step statement once per process; the result must equal a fresh translation."""

from __future__ import annotations

import datetime as dt

import pytest

from customer360 import contract, dialect, engine, sqlgen

PARAMETER_SETS = [
    {"run_date": dt.date(2026, 1, 5), "run_id": "20260105-0123456789ab"},
    {"run_date": dt.date(1999, 12, 31), "run_id": "o'brien \\ run"},
]


@pytest.mark.parametrize("parameters", PARAMETER_SETS, ids=["typical", "quote-in-run-id"])
def test_cached_translation_equals_a_fresh_one_for_every_step_statement(parameters):
    for step in contract.PIPELINE:
        for number, statement in enumerate(sqlgen.step_statements(step), start=1):
            fresh = dialect.transpile_one(statement.sql, parameters)
            assert engine.duckdb_statement(statement.sql, parameters) == fresh, (
                f"step {step.name} statement {number}: cached translation differs"
            )


def test_a_statement_containing_a_stand_in_is_translated_directly():
    sql = "select '1000-01-01' as d, @run_date as r"
    parameters = {"run_date": dt.date(2026, 1, 5), "run_id": "x"}
    assert engine.duckdb_statement(sql, parameters) == dialect.transpile_one(sql, parameters)

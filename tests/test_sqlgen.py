"""How steps are rendered for BigQuery: procedure bodies and the names they use."""

from __future__ import annotations

import json
import re

import pytest

from customer360 import contract, sqlgen


def test_procedure_arguments_cannot_be_shadowed_by_a_column():
    columns = {c.name.lower() for t in contract.ALL_TABLES for c in t.columns}
    for parameter in contract.QUERY_PARAMETERS:
        argument = contract.procedure_argument(parameter)
        assert argument.lower() not in columns, f"procedure argument {argument} is also a column name"


@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: s.name)
def test_procedure_bodies_use_arguments_not_query_parameters(step):
    body = sqlgen.procedure_body(step)
    assert "@" not in body.replace("@@", ""), f"{step.procedure_name} still uses a query parameter"
    for parameter in contract.QUERY_PARAMETERS:
        bare = re.findall(rf"(?<![\w.]){parameter}\s*=\s*{parameter}\b", body)
        assert not bare, f"{step.procedure_name} compares {parameter} to itself: {bare}"


@pytest.mark.parametrize("step", [s for s in contract.PIPELINE if s.kind == "quality"], ids=lambda s: s.name)
def test_blocking_checks_assert_and_warnings_do_not(step):
    body = sqlgen.procedure_body(step).lower()
    if step.severity == "error":
        assert "assert (" in body and f"check {step.name} failed" in body, step.procedure_name
    else:
        assert "assert" not in body, f"warning check {step.name} must not fail the run"


def test_functions_are_ordered_after_the_functions_they_call():
    seen: set[str] = set()
    for function in sqlgen.functions():
        for other in (f.ref for f in sqlgen.functions()):
            if other != function.ref and re.search(rf"\b{re.escape(other)}\(", function.body):
                assert other in seen, f"{function.ref} calls {other} before it is defined"
        seen.add(function.ref)


def test_qualify_rewrites_tables_and_function_calls_to_the_stack_datasets():
    sql = "select silver.clean_string(x) from raw.customers join silver.customers using (customer_id)"
    qualified = sqlgen.qualify(sql, {"raw": "c360_dev_raw", "silver": "c360_dev_silver"}, "acme-data")
    assert "`acme-data`.c360_dev_raw.customers" in qualified or "`acme-data.c360_dev_raw.customers`" in qualified
    assert "`acme-data.c360_dev_silver.clean_string`(x)" in qualified
    assert " raw." not in qualified and "(silver." not in qualified, qualified


def test_staging_tells_the_contract_header_from_rows_that_only_look_like_a_header():
    import datetime as dt

    import duckdb

    from customer360 import dialect, engine

    day = dt.date(2026, 1, 5)
    names = list(contract.SOURCES_BY_NAME["stores"].column_names)
    reordered = [names[1], names[0], *names[2:]]
    rows = {
        "exact header": (names, "header"),
        "padded": ([f" {names[0]}", *names[1:]], "header_like"),
        "upper case": ([n.upper() for n in names], "header_like"),
        "reordered": (reordered, "header_like"),
        "renamed first column": (["id", *names[1:]], "header_like"),
        "products header": (list(contract.SOURCES_BY_NAME["products"].column_names), "header_like"),
        "a store": (["S1", "Main", "Austin", "TX", "South", "2020-01-01"], "data"),
        "a store named like columns": (["S2", "Region", "City", "TX", "South", "2020-01-01"], "data"),
    }
    connection = duckdb.connect()
    engine.ensure_schema(connection)
    for values, _ in rows.values():
        connection.execute(f"INSERT INTO raw.stores VALUES ({', '.join('?' * (len(names) + 1))})", [*values, day])
    step = contract.STEPS_BY_NAME["stores"]
    query = dialect.transpile_one(sqlgen.step_query(step), {"run_date": day, "run_id": "r", "delivery_dates": [day]})
    kinds = {}
    for row in connection.execute(f"select _row_kind from ({query})").fetchall():
        kinds[row[0]] = kinds.get(row[0], 0) + 1
    expected = {}
    for _, kind in rows.values():
        expected[kind] = expected.get(kind, 0) + 1
    assert kinds == expected, f"row kinds {kinds}, expected {expected}"

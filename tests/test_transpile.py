"""Each fix in customer360.dialect: the transpiled DuckDB answer equals BigQuery's (ZetaSQL reference) answer.

Every test here fails when its fix is removed from dialect._FIXES: the expression is one where
sqlglot's plain BigQuery-to-DuckDB translation computes something else.
"""

from __future__ import annotations

import duckdb
import pytest

from customer360 import dialect, zeta
from zeta_harness import PARAMETERS, Answer, assert_same_answer, reference  # noqa: F401


def duckdb_answer(sql: str) -> Answer:
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        cursor = connection.execute(dialect.transpile_one(sql, dict(PARAMETERS)))
        return Answer([d[0] for d in cursor.description], cursor.fetchall())
    finally:
        connection.close()


def assert_duckdb_agrees(sql: str, *, ordered: bool = False) -> None:
    result = zeta.evaluate(sql, {}, PARAMETERS)
    expected = Answer(result.column_names, result.rows)
    actual = duckdb_answer(sql)
    if ordered:
        assert [tuple(r) for r in actual.rows] == [tuple(r) for r in expected.rows], (
            f"{sql!r}: row order differs: DuckDB {actual.rows} vs BigQuery {expected.rows}"
        )
    assert_same_answer(sql, expected, actual)


def test_numeric_keeps_bigquery_precision_38_9(reference):
    # Without the fix NUMERIC becomes DuckDB's DECIMAL(18, 3) and rounds to 3 places.
    assert_duckdb_agrees("select cast('12345678901234567890.123456789' as numeric) as n, cast('0.000000001' as numeric) as tiny")


def test_timestamp_diff_counts_whole_elapsed_units_not_boundaries(reference):
    assert_duckdb_agrees(
        "select timestamp_diff(timestamp '2024-01-01 10:59:59', timestamp '2024-01-01 10:00:00', hour) as same_hour,"
        " timestamp_diff(timestamp '2024-01-01 11:00:00', timestamp '2024-01-01 10:59:59', hour) as one_second,"
        " timestamp_diff(timestamp '2024-01-01 10:00:00', timestamp '2024-01-01 11:30:00', hour) as negative,"
        " timestamp_diff(timestamp '2024-01-02 00:00:00', timestamp '2024-01-01 23:59:59.999999', minute) as minute,"
        " timestamp_diff(timestamp '2024-01-03 01:00:00', timestamp '2024-01-01 02:00:00', day) as days"
    )


def test_extract_dayofweek_numbers_sunday_as_1(reference):
    assert_duckdb_agrees(
        "select extract(dayofweek from date '2024-03-10') as sunday, extract(dayofweek from date '2024-03-16') as saturday,"
        " extract(dayofweek from timestamp '2024-03-11 23:59:59') as monday"
    )


def test_countif_over_no_rows_is_zero(reference):
    assert_duckdb_agrees("select countif(x > 0) as n from unnest(cast([] as array<int64>)) as x")


def test_safe_cast_to_date_and_timestamp_is_null_outside_years_1_to_9999(reference):
    assert_duckdb_agrees(
        "select safe_cast('0000-01-01' as date) as year_zero, safe_cast('2024-02-29' as date) as leap_day,"
        " safe_cast('0001-01-01 00:00:00+01:00' as timestamp) as before_year_one,"
        " safe_cast('9999-12-31 23:59:59-01:00' as timestamp) as after_9999,"
        " safe_cast('2024-03-10 10:00:00+05:30' as timestamp) as with_offset"
    )


def test_safe_function_prefix_is_rejected_with_what_to_write_instead():
    with pytest.raises(dialect.TranspileError, match="SAFE_CAST"):
        dialect.transpile_one("select safe.parse_date('%Y-%m-%d', '2024-01-01') as d")


def test_numeric_divided_by_int64_is_numeric_rounded_half_away_from_zero(reference):
    # Without the fix DuckDB divides DECIMAL by BIGINT as DOUBLE: 16 significant digits, binary rounding.
    assert_duckdb_agrees(
        "select cast('123457061.47956789' as numeric) / 18 as average, cast('2' as numeric) / 3 as two_thirds,"
        " cast('-2' as numeric) / 3 as negative, cast('0.000000005' as numeric) / 10 as half_unit,"
        " cast('-0.000000005' as numeric) / 10 as negative_half_unit,"
        " cast('99999999999999999999999999999.999999999' as numeric) / 7 as large"
    )


def test_numeric_divided_by_numeric_is_rejected_with_what_to_write_instead():
    with pytest.raises(dialect.TranspileError, match="divide by an INT64"):
        dialect.transpile_one("select cast('1' as numeric) / cast('3' as numeric) as ratio")


def test_one_argument_trim_strips_unicode_whitespace_like_bigquery(reference):
    # DuckDB's trim(x) strips spaces only; BigQuery's strips tabs, newlines, NBSP, U+3000 ...
    escapes = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
    chars = [9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x2003, 0x3000, 0x200B]
    pads = ", ".join(
        f"trim('{escapes.get(c, chr(c))}x{escapes.get(c, chr(c))}') as t{c}, ltrim('{escapes.get(c, chr(c))}x') as l{c},"
        f" rtrim('x{escapes.get(c, chr(c))}') as r{c}"
        for c in chars
    )
    assert_duckdb_agrees(f"select {pads}")


def test_a_cte_picking_columns_of_the_change_log_is_left_inline_and_answers_the_same():
    # Speed only: DuckDB would copy the whole change log for a CTE read several times; inline, each
    # reader's filter reaches its own scan. Any other CTE keeps DuckDB's default.
    sql = (
        "with changes as (select table_name, key_value from ops.run_changes),\n"
        "customers as (select customer_id from silver.customers)\n"
        "select key_value from changes where table_name = 'a'\n"
        "union all select key_value from changes where table_name = 'b'\n"
        "union all select customer_id from customers union all select customer_id from customers"
    )
    translated, _ = dialect.translate_for_binding(sql)
    assert "changes AS NOT MATERIALIZED (" in translated, translated
    assert "customers AS (" in translated, f"a CTE over a silver table was changed: {translated}"
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("CREATE SCHEMA silver; CREATE TABLE silver.customers (customer_id VARCHAR)")
        connection.execute("INSERT INTO silver.customers VALUES ('c1')")
        connection.execute("CREATE TEMP TABLE run_changes_of_this_run (table_name VARCHAR, key_value VARCHAR)")
        connection.execute("INSERT INTO run_changes_of_this_run VALUES ('a', 'k1'), ('b', 'k2'), ('c', 'k3')")
        inline = sorted(connection.execute(translated).fetchall())
        materialized = sorted(connection.execute(translated.replace(" NOT MATERIALIZED", "")).fetchall())
    finally:
        connection.close()
    assert inline == materialized == [("c1",), ("c1",), ("k1",), ("k2",)], (inline, materialized)

"""Translates the project's BigQuery SQL to DuckDB, fixing where sqlglot's translation differs in meaning.

Every fix lives here. Each is an AST rewrite applied to the parsed BigQuery SQL before
DuckDB SQL is generated; tests/test_transpile.py pins each one. One rewrite changes speed, not
meaning (_change_log_cte_not_materialized).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from customer360.cache import DiskCache, memoised

# BigQuery NUMERIC is DECIMAL(38, 9); sqlglot's bare DECIMAL would be DuckDB's DECIMAL(18, 3).
NUMERIC = exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")

_MICROSECONDS = {
    "MICROSECOND": 1,
    "MILLISECOND": 1_000,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
}


class TranspileError(ValueError):
    """SQL that cannot be carried to DuckDB faithfully."""


def _numeric_precision(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL):
        if not node.expressions:
            return NUMERIC.copy()
    return node


def _timestamp_diff(node: exp.Expression) -> exp.Expression:
    # BigQuery counts whole elapsed units (truncating); DuckDB's date_diff counts boundaries crossed.
    if isinstance(node, exp.TimestampDiff):
        unit = (node.unit.name if node.unit else "DAY").upper()
        if unit not in _MICROSECONDS:
            raise TranspileError(f"TIMESTAMP_DIFF by {unit} is not supported locally; use MICROSECOND..DAY")
        elapsed = exp.Sub(
            this=exp.func("epoch_us", node.this),
            expression=exp.func("epoch_us", node.expression),
        )
        if _MICROSECONDS[unit] == 1:
            return exp.paren(elapsed)
        # Whole units, truncated toward zero like BigQuery, as INT64 (not DuckDB's DOUBLE from /):
        # sign(elapsed) * (abs(elapsed) // unit) in integer arithmetic.
        return exp.paren(
            exp.Mul(
                this=exp.func("sign", exp.paren(elapsed.copy())),
                expression=exp.paren(
                    exp.IntDiv(this=exp.func("abs", exp.paren(elapsed)), expression=exp.Literal.number(_MICROSECONDS[unit]))
                ),
            )
        )
    return node


def _day_of_week(node: exp.Expression) -> exp.Expression:
    # BigQuery DAYOFWEEK is 1 (Sunday) .. 7; DuckDB's is 0 (Sunday) .. 6.
    if isinstance(node, exp.Extract) and node.this.name.upper() == "DAYOFWEEK":
        if not node.args.get("_shifted"):
            shifted = node.copy()
            shifted.set("_shifted", True)
            return exp.paren(exp.Add(this=shifted, expression=exp.Literal.number(1)))
    return node


def _safe_prefix(node: exp.Expression) -> exp.Expression:
    # sqlglot 30 parses SAFE.f(...) as SafeFunc and writes invalid DuckDB (SAFE.CAST(...)); older
    # versions left a Dot on the identifier SAFE. Either way there is no DuckDB equivalent.
    safe_func = getattr(exp, "SafeFunc", None)
    if safe_func is not None and isinstance(node, safe_func):
        raise TranspileError(
            f"SAFE.{node.this.sql('bigquery')} does not translate to DuckDB; "
            "use SAFE_CAST on a value first checked with REGEXP_CONTAINS"
        )
    if isinstance(node, exp.Dot) and isinstance(node.this, exp.Identifier) and node.this.name.upper() == "SAFE":
        raise TranspileError(
            f"SAFE.{node.expression.sql('bigquery')} does not translate to DuckDB; "
            "use SAFE_CAST on a value first checked with REGEXP_CONTAINS"
        )
    return node


_DATE_RANGE = {
    exp.DataType.Type.DATE: ("DATE", "0001-01-01", "9999-12-31"),
    exp.DataType.Type.TIMESTAMPTZ: ("TIMESTAMPTZ", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"),
    exp.DataType.Type.TIMESTAMP: ("TIMESTAMP", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"),
}


def _safe_cast_range(node: exp.Expression) -> exp.Expression:
    # BigQuery DATE/TIMESTAMP run from year 1 to 9999 and SAFE_CAST gives NULL outside;
    # DuckDB accepts year 0 (1 BC) and 10000+, e.g. '0001-01-01T00:00:00+01:00' or '0000-01-01'.
    if isinstance(node, exp.TryCast) and not node.args.get("_ranged") and node.to.this in _DATE_RANGE:
        type_name, low, high = _DATE_RANGE[node.to.this]
        inner = node.copy()
        inner.set("_ranged", True)
        bounds = exp.Between(
            this=inner.copy(),
            low=exp.cast(exp.Literal.string(low), type_name),
            high=exp.cast(exp.Literal.string(high), type_name),
        )
        return exp.Case(ifs=[exp.If(this=bounds, true=inner)])
    return node


# Unicode White_Space: what BigQuery's one-argument TRIM/LTRIM/RTRIM strip (DuckDB's strip only spaces).
_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"


def _trim_whitespace(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Trim) and node.args.get("expression") is None:
        node = node.copy()
        node.set("expression", exp.Literal.string(_WHITESPACE))
    return node


def _count_if(node: exp.Expression) -> exp.Expression:
    # BigQuery COUNTIF over no rows is 0; DuckDB's count_if is NULL there.
    if isinstance(node, exp.CountIf):
        return exp.Count(this=exp.If(this=node.this, true=exp.Literal.number(1)))
    return node


def _literal(value: object) -> exp.Expression:
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if value is None:
        return exp.null()
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _parameters(values: dict[str, object]):
    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter):
            name = node.name
            if name not in values:
                raise TranspileError(f"query parameter @{name} has no value")
            return _literal(values[name])
        return node

    return replace


def _in_unnest(node: exp.Expression) -> exp.Expression:
    # `x IN UNNEST(array)`: sqlglot spells out NULL-element semantics with ARRAY_CONTAINS, which DuckDB
    # cannot push into a scan. The arrays here never hold NULLs, and for those both engines agree that
    # `x IN (SELECT UNNEST(array))` is the same test (FALSE for an empty or NULL array, NULL for NULL x).
    if isinstance(node, exp.In) and node.args.get("unnest") is not None:
        array = node.args["unnest"].expressions[0]
        query = exp.select(exp.Unnest(expressions=[array.copy()]))
        return exp.In(this=node.this.copy(), query=exp.Subquery(this=query))
    return node


def _partition_pseudo_column(node: exp.Expression) -> exp.Expression:
    # Locally the raw partition is a real column; quote it so DuckDB does not fold case differently.
    if isinstance(node, exp.Column) and node.name.upper() == "_PARTITIONDATE":
        return exp.column("_PARTITIONDATE", table=node.table or None, quoted=True)
    return node


def _change_log_cte_not_materialized(node: exp.Expression) -> exp.Expression:
    # Speed only, never meaning. DuckDB materializes a CTE that is read more than once. The .touched.sql
    # files' `changes` CTE only picks columns of the run's change log and is read up to five times, each
    # reader keeping one table's changes: materialized, it copies the whole log first; left inline, each
    # reader's WHERE is pushed into its own scan. (Measured on a --scale 300 day: the identity map's touched
    # query 0.15-0.5 s faster. A CTE over a silver table, read by joins, measured slower inline.)
    if isinstance(node, exp.CTE) and isinstance(node.this, exp.Select):
        select = node.this
        source = select.args.get("from_")
        if (
            isinstance(source, exp.From)
            and isinstance(source.this, exp.Table)
            and source.this.name in LOCAL_TEMPORARY_TABLES.values()
            and not any(select.args.get(arg) for arg in select.arg_types if arg not in ("expressions", "from_"))
            and all(isinstance(e.unalias(), exp.Column) for e in select.expressions)
        ):
            node.set("materialized", False)
    return node


# Work tables that the local engine keeps as DuckDB temporary tables: written and read within one
# run, so they never reach the warehouse file (BigQuery's procedures need them as real tables).
LOCAL_TEMPORARY_TABLES = {("ops", "run_changes"): "run_changes_of_this_run"}


def _local_temporary_table(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and (node.db, node.name) in LOCAL_TEMPORARY_TABLES and not node.catalog:
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
        return exp.Table(this=exp.to_identifier(LOCAL_TEMPORARY_TABLES[(node.db, node.name)]), alias=alias)
    return node


_FIXES = (
    _in_unnest,
    _safe_prefix,
    _numeric_precision,
    _timestamp_diff,
    _day_of_week,
    _count_if,
    _partition_pseudo_column,
    _safe_cast_range,
    _trim_whitespace,
    _change_log_cte_not_materialized,
)


_DECIMAL_TYPES = {exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL}
_INTEGER_TYPES = {exp.DataType.Type.BIGINT, exp.DataType.Type.INT, exp.DataType.Type.SMALLINT, exp.DataType.Type.TINYINT}

# NUMERIC / INT64 in DuckDB integer arithmetic: a scaled to an integer count of 1e-9 units,
# divided with remainder, rounded half away from zero, reassembled as DECIMAL(38, 9) text.
_EXACT_DIVISION = """
CASE
  WHEN CAST(({b}) AS HUGEINT) = 0 THEN error('division by zero: ' || CAST(({a}) AS VARCHAR) || ' / 0')
  ELSE CAST(
    CASE WHEN sign(CAST(replace(CAST(CAST(({a}) AS DECIMAL(38, 9)) AS VARCHAR), '.', '') AS HUGEINT)) * sign(CAST(({b}) AS HUGEINT)) < 0
         THEN '-' ELSE '' END
    || CAST(((abs(CAST(replace(CAST(CAST(({a}) AS DECIMAL(38, 9)) AS VARCHAR), '.', '') AS HUGEINT)) // abs(CAST(({b}) AS HUGEINT)))
            + CASE WHEN 2 * (abs(CAST(replace(CAST(CAST(({a}) AS DECIMAL(38, 9)) AS VARCHAR), '.', '') AS HUGEINT)) % abs(CAST(({b}) AS HUGEINT)))
                        >= abs(CAST(({b}) AS HUGEINT)) THEN 1 ELSE 0 END) // 1000000000 AS VARCHAR)
    || '.'
    || lpad(CAST(((abs(CAST(replace(CAST(CAST(({a}) AS DECIMAL(38, 9)) AS VARCHAR), '.', '') AS HUGEINT)) // abs(CAST(({b}) AS HUGEINT)))
            + CASE WHEN 2 * (abs(CAST(replace(CAST(CAST(({a}) AS DECIMAL(38, 9)) AS VARCHAR), '.', '') AS HUGEINT)) % abs(CAST(({b}) AS HUGEINT)))
                        >= abs(CAST(({b}) AS HUGEINT)) THEN 1 ELSE 0 END) % 1000000000 AS VARCHAR), 9, '0')
    AS DECIMAL(38, 9))
END
"""


def contract_schema() -> dict:
    """The contract's tables as sqlglot's schema: {dataset: {table: {column: type}}}, raw tables with their partition column."""
    from customer360 import contract

    schema: dict = {}
    for table in contract.ALL_TABLES:
        columns = {c.name: c.type for c in table.columns}
        if table.dataset == "raw":
            columns[contract.RAW_PARTITION_COLUMN] = "DATE"
        schema.setdefault(table.dataset, {})[table.name] = columns
    return schema


def _numeric_division(tree: exp.Expression) -> exp.Expression:
    """NUMERIC / INT64 is NUMERIC (rounded to 9 places) in BigQuery; DuckDB's DECIMAL / BIGINT is a DOUBLE."""
    divisions = list(tree.find_all(exp.Div))
    if not divisions:
        return tree
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    schema = contract_schema()
    try:
        typed = annotate_types(
            qualify(tree.copy(), schema=schema, dialect="bigquery", validate_qualify_columns=False),
            schema=schema,
            dialect="bigquery",
        )
    except Exception:  # statements qualify cannot handle (DML, scripts) keep their divisions
        return tree
    typed_divisions = list(typed.find_all(exp.Div))
    if len(typed_divisions) != len(divisions):
        return tree
    for division, typed_division in zip(divisions, typed_divisions):
        left, right = typed_division.this.type, typed_division.expression.type
        if left is None or right is None:
            continue
        if left.this in _DECIMAL_TYPES and right.this in _INTEGER_TYPES:
            numerator, denominator = division.this, division.expression

            def operand(node: exp.Expression) -> exp.Expression:
                # The operands stay syntax trees, so the other fixes (NUMERIC precision...) still apply.
                if isinstance(node, exp.Column) and node.name in ("__numerator__", "__denominator__"):
                    return (numerator if node.name == "__numerator__" else denominator).copy()
                return node

            template = _EXACT_DIVISION.format(a="__numerator__", b="__denominator__")
            division.replace(exp.paren(sqlglot.parse_one(template, read="duckdb").transform(operand)))
        elif left.this in _DECIMAL_TYPES and right.this in _DECIMAL_TYPES:
            raise TranspileError(
                f"{division.sql('bigquery')}: NUMERIC / NUMERIC has no exact DuckDB translation (DuckDB divides "
                "decimals as DOUBLE); divide by an INT64, or cast one side to FLOAT64 if a float is meant"
            )
    return tree


def parameter_names(tree: exp.Expression) -> set[str]:
    """The @parameters a statement uses."""
    return {node.name for node in tree.find_all(exp.Parameter)}


def to_duckdb_tree(tree: exp.Expression, parameters: dict[str, object] | None = None) -> exp.Expression:
    """DuckDB's version of TREE; with PARAMETERS their values are written in, else they stay `$name` to bind."""
    tree = _numeric_division(tree)
    for fix in _FIXES:
        tree = tree.transform(fix)
    if parameters is not None:
        tree = tree.transform(_parameters(parameters))
    return tree


@lru_cache(maxsize=512)
def _parse(sql: str) -> tuple[exp.Expression, ...]:
    return tuple(t for t in sqlglot.parse(sql, read="bigquery") if t is not None)


def transpile(sql: str, parameters: dict[str, object] | None = None) -> list[str]:
    """BigQuery SQL (one or more statements) to DuckDB statements."""
    return [
        to_duckdb_tree(tree.copy(), parameters).sql(dialect="duckdb")
        for tree in _parse(sql)
    ]


def transpile_one(sql: str, parameters: dict[str, object] | None = None) -> str:
    statements = transpile(sql, parameters)
    if len(statements) != 1:
        raise TranspileError(f"expected one statement, found {len(statements)}")
    return statements[0]


_translations = DiskCache(f"duckdb-translations-sqlglot-{sqlglot.__version__}", Path(__file__))


def save_translations() -> None:
    from customer360.cache import save_all

    save_all()


@lru_cache(maxsize=4096)
def transpile_for_binding(sql: str) -> tuple[str, frozenset[str]]:
    """One BigQuery statement as DuckDB SQL with `$name` parameters, and the names it binds; cached in memory and on disk."""
    key = _translations.key(sql)
    cached = _translations.get(key)
    if cached is not None:
        return cached[0], frozenset(cached[1])
    translated, names = translate_for_binding(sql)
    _translations.put(key, [translated, sorted(names)])
    return translated, names


def translate_for_binding(sql: str) -> tuple[str, frozenset[str]]:
    """transpile_for_binding without any cache."""
    trees = _parse(sql)
    if len(trees) != 1:
        raise TranspileError(f"expected one statement, found {len(trees)}")
    tree = trees[0].copy().transform(_local_temporary_table)
    names = frozenset(parameter_names(tree))
    return to_duckdb_tree(tree).sql(dialect="duckdb"), names


def function_to_macro(dataset: str, name: str, arguments: list[str], body: str) -> str:
    """A BigQuery SQL function as a DuckDB macro of the same schema-qualified name."""
    return _function_to_macro(dataset, name, tuple(arguments), body)


@memoised(_translations, lambda dataset, name, arguments, body: (dataset, name, ",".join(arguments), body))
def _function_to_macro(dataset: str, name: str, arguments: tuple[str, ...], body: str) -> str:
    expression = transpile_one(f"select {body}")
    expression = expression[len("SELECT ") :]
    return f"CREATE OR REPLACE MACRO {dataset}.{name}({', '.join(arguments)}) AS ({expression})"

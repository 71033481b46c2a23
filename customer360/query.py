"""One BigQuery-dialect query against a local warehouse, read-only, through the engine's translation to DuckDB."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot.errors

from customer360 import dialect
from customer360.dashboard.sources import open_warehouse


class QueryError(Exception):
    """A query that cannot be translated or run; the message is one line naming the problem."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    types: tuple[str, ...]  # DuckDB type of each column, e.g. DECIMAL(38,9)
    rows: list[tuple[Any, ...]]
    seconds: float


_NUMERIC_TYPE_PREFIXES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                          "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def is_numeric_type(duckdb_type: str) -> bool:
    return duckdb_type.upper().startswith(_NUMERIC_TYPE_PREFIXES)


def translate(sql: str) -> str:
    """BigQuery SQL to the DuckDB statement the engine would run; query parameters (@name) are refused."""
    try:
        return dialect.transpile_one(sql, parameters={})
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"cannot parse the query: {_parse_problem(error)}") from None
    except sqlglot.errors.SqlglotError as error:
        raise QueryError(f"cannot parse the query: {_first_line(error)}") from None
    except dialect.TranspileError as error:
        raise QueryError(str(error)) from None


def run_query(warehouse: Path | str, sql: str) -> QueryResult:
    """Run one statement on the warehouse opened read-only; raises QueryError or SourceError (missing warehouse)."""
    translated = translate(sql)
    connection = open_warehouse(warehouse, ())
    started = time.perf_counter()
    try:
        cursor = connection.execute(translated)
        description = cursor.description or []
        rows = cursor.fetchall() if description else []
    except duckdb.Error as error:
        raise QueryError(_duckdb_problem(error)) from None
    finally:
        connection.close()
    return QueryResult(
        columns=tuple(column[0] for column in description),
        types=tuple(str(column[1]) for column in description),
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def _parse_problem(error: sqlglot.errors.ParseError) -> str:
    if not error.errors:
        return _first_line(error)
    first = error.errors[0]
    description = str(first.get("description"))
    # sqlglot names an unfinished clause by its syntax-tree class: "Required keyword: 'this' missing for <class '….Where'>".
    unfinished = _UNFINISHED_CLAUSE.match(description)
    if unfinished:
        description = f"the {unfinished.group(1).upper()} clause is incomplete"
    near = (first.get("highlight") or "").strip()
    where = f"line {first.get('line')}, column {first.get('col')}"
    return f"{description} at {where}" + (f", near {near!r}" if near else "")


_UNFINISHED_CLAUSE = re.compile(r"Required keyword: '\w+' missing for <class '(?:[\w.]*\.)?(\w+)'>")


def _duckdb_problem(error: duckdb.Error) -> str:
    """DuckDB's first line, plus its 'Did you mean' hint when it gives one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    hints = [line for line in lines[1:] if line.startswith("Did you mean")]
    return " ".join([lines[0], *hints[:1]])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

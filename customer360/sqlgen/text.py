"""Small SQL text helpers shared by everything that writes SQL: literals, comments, statement model."""

from __future__ import annotations

from dataclasses import dataclass


def string_literal(value: str | None) -> str:
    """A GoogleSQL string literal (backslash escapes), or NULL."""
    if value is None:
        return "cast(null as string)"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strip_comments(sql: str) -> str:
    """SQL without its whole-line `--` comments and without a trailing semicolon."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip().rstrip(";")


@dataclass(frozen=True)
class Statement:
    """One statement of a step, in BigQuery SQL with logical table names and @parameters.

    - an assertion: `sql` is a SELECT of one BOOL that must be TRUE, else the run fails with `message`;
    - a setting: `sql` is a SELECT of one value that becomes the step parameter @<sets> for the
      statements after it (a script variable in BigQuery, a bound parameter locally).
    """

    sql: str
    is_assertion: bool = False
    message: str = ""
    sets: str | None = None

"""Every SQL file reads the same way: sqlfluff (BigQuery dialect) with the rules in .sqlfluff."""

from __future__ import annotations

from functools import cache

import pytest
from sqlfluff.core import FluffConfig, Linter

from customer360 import contract

SQL_FILES = sorted(contract.SQL_DIR.rglob("*.sql")) + sorted(contract.SCHEDULED_QUERIES_DIR.glob("*.sql"))


@cache
def _linter() -> Linter:
    return Linter(config=FluffConfig.from_path(str(contract.REPO_ROOT)))


def _violations(path, text: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if text is None else text
    result = _linter().lint_string(text, fname=str(path))
    return [f"{path}:{v.line_no}:{v.line_pos}: {v.rule_code()} {v.desc()}" for v in result.get_violations()]


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(contract.REPO_ROOT)))
def test_sql_file_follows_the_house_style(path):
    violations = _violations(path)
    assert not violations, "\n".join(violations)


def test_style_check_catches_uppercase_keywords_implicit_aliases_and_leading_commas(tmp_path):
    path = tmp_path / "bad.sql"
    codes = {line.split()[1] for line in _violations(path, "SELECT a\n    , COUNT(*) n\nFROM silver.customers c\n")}
    assert {"CP01", "CP03", "AL01", "AL02", "LT04"} <= codes, codes

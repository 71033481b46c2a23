"""`c360 validate` fails, naming the file, when any SQL file gains an unknown column, a type error or a non-BigQuery function."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from customer360 import contract, validate, zeta
from zeta_harness import reference  # noqa: F401

QUERY_FILES = sorted(p for p in contract.SQL_DIR.rglob("*.sql") if "functions" not in p.parts)
FUNCTION_FILES = sorted((contract.SQL_DIR / "functions").glob("*.sql"))


def _problems(path: Path) -> list[zeta.Problem]:
    return validate.validate(validate.file_targets([path]), use_cache=False)


def _inject(text: str, replacement: str) -> str:
    """Replace the first select-list item after the first top-level `select` with replacement."""
    match = re.search(r"\bselect\b(\s+distinct)?\s+", text, re.IGNORECASE)
    assert match, "no select"
    return text[: match.end()] + replacement + ", " + text[match.end() :]


BREAKAGES = {
    "unknown column": "no_such_column_anywhere as broken",
    "type error": "date '2024-01-01' + 'a string' as broken",
    "function BigQuery lacks": "strftime(current_date(), '%Y') as broken",
}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: str(p.relative_to(contract.SQL_DIR)))
def test_a_broken_copy_of_a_query_file_fails_validation_naming_the_file(reference, tmp_path, path, breakage):
    broken = tmp_path / path.name
    broken.write_text(_inject(path.read_text(encoding="utf-8"), BREAKAGES[breakage]), encoding="utf-8")
    problems = _problems(broken)
    assert problems, f"{path}: validation missed an injected {breakage}"
    assert all(str(broken) in str(p) for p in problems), problems
    assert re.match(rf"{re.escape(str(broken))}:\d+:\d+: ", str(problems[0])), problems[0]


@pytest.mark.parametrize("path", FUNCTION_FILES, ids=lambda p: p.name)
def test_a_function_calling_something_bigquery_lacks_fails_validation(reference, tmp_path, path):
    broken = tmp_path / path.name
    text = path.read_text(encoding="utf-8")
    broken.write_text(re.sub(r"\bas\s*\(", "as (nvl(null, 1) + ", text, count=1, flags=re.IGNORECASE), encoding="utf-8")
    problems = _problems(broken)
    assert problems and str(broken) in str(problems[0]), f"{path}: NVL (not BigQuery) passed validation"


@pytest.mark.long
def test_every_sql_file_procedure_and_script_in_the_tree_is_valid_bigquery(reference):
    problems = validate.validate(use_cache=False)
    assert not problems, "\n".join(map(str, problems))


def test_problem_lines_point_at_the_offending_line_and_column(reference, tmp_path):
    broken = tmp_path / "query.sql"
    broken.write_text("-- one row per customer\nselect\n    customer_id,\n    nope as x,\nfrom silver.customers\n")
    (problem,) = _problems(broken)
    assert (problem.line, problem.column) == (4, 5), problem
    assert "nope" in problem.message


def test_query_parameters_are_not_visible_inside_procedure_bodies(reference):
    analyzer = zeta.Analyzer()
    problems = analyzer.check("begin\n  select @run_date as d;\nend", "<procedure>", parameters={})
    assert problems and "run_date" in problems[0].message


def test_scripts_declare_variables_and_check_conditions(reference):
    analyzer = zeta.Analyzer()
    script = (
        "declare started timestamp default current_timestamp();\n"
        "set @@query_label = 'app:customer360';\n"
        "if (select count(*) from raw.customers where _PARTITIONDATE = @run_date) > 0 then\n"
        "  set started = current_timestamp();\n"
        "end if;\n"
        "set undeclared = 1;\n"
        "while 1 do select 1 as x; end while;\n"
    )
    problems = [str(p) for p in analyzer.check(script, "s.sql")]
    assert problems == [
        "s.sql:6:5: variable undeclared is not declared",
        "s.sql:7:7: condition must be BOOL, got INT64",
    ], problems


def test_qualify_needs_where_group_by_or_having_as_in_bigquery(reference):
    problems = zeta.Analyzer().check(
        "select customer_id from silver.customers qualify row_number() over (order by customer_id) = 1", "q.sql"
    )
    assert problems and "QUALIFY" in problems[0].message


def test_cli_exits_nonzero_and_prints_path_line_col(reference, tmp_path, capsys):
    broken = tmp_path / "bad.sql"
    broken.write_text("select try_cast('1' as int64) as n\n")
    assert validate.main([broken], use_cache=False) == 1
    assert capsys.readouterr().out.startswith(f"{broken}:1:8: ")

"""The script checker walks ZetaSQL's own parse tree: every scripting construct, with file positions."""

from __future__ import annotations

from customer360 import zeta
from zeta_harness import reference  # noqa: F401  (a fixture)


def _problems(script: str) -> list[str]:
    return [str(p) for p in zeta.Analyzer().check(script, "s.sql")]


def test_a_syntax_error_is_one_problem_at_its_line_and_column(reference):
    problems = _problems("select 1;\nselect from where;\n")
    assert len(problems) == 1 and problems[0].startswith("s.sql:2:8: Syntax error"), problems


def test_a_file_without_statements_is_a_problem(reference):
    assert _problems("-- nothing here\n") == ["s.sql:1:1: file holds no SQL statement"]


def test_statements_inside_exception_handlers_and_elseif_branches_are_analysed(reference):
    script = (
        "declare n int64 default 0;\n"
        "begin\n"
        "  select 1 as x;\n"
        "exception when error then\n"
        "  select no_such_column from silver.customers;\n"
        "end;\n"
        "if n > 1 then select 1 as x;\n"
        "elseif n then select 2 as x;\n"
        "else select nope_else from silver.customers;\n"
        "end if;\n"
    )
    problems = _problems(script)
    assert problems[0].startswith("s.sql:5:10: Unrecognized name: no_such_column"), problems
    assert problems[1] == "s.sql:8:8: condition must be BOOL, got INT64", problems
    assert problems[2].startswith("s.sql:9:13: Unrecognized name: nope_else"), problems
    assert len(problems) == 3, problems


def test_a_for_loop_variable_has_the_row_type_of_its_query(reference):
    script = (
        "for row in (select customer_id, signup_date from silver.customers) do\n"
        "  select row.customer_id, row.no_such_field;\n"
        "end for;\n"
    )
    problems = _problems(script)
    assert len(problems) == 1 and problems[0].startswith("s.sql:2:31:") and "no_such_field" in problems[0], problems


def test_repeat_until_and_loop_bodies_are_walked(reference):
    script = (
        "declare i int64 default 0;\n"
        "repeat set i = i + 1; until i end repeat;\n"
        "loop select missing_in_loop from silver.customers; leave; end loop;\n"
    )
    problems = _problems(script)
    assert problems[0] == "s.sql:2:29: condition must be BOOL, got INT64", problems
    assert problems[1].startswith("s.sql:3:13:") and "missing_in_loop" in problems[1], problems


def test_struct_assignment_and_system_variables_are_checked(reference):
    script = (
        "declare a string default '';\n"
        "set (a, undeclared_b) = ('x', 'y');\n"
        "set @@no_such_variable = 'x';\n"
    )
    assert _problems(script) == [
        "s.sql:2:9: variable undeclared_b is not declared",
        "s.sql:3:5: unknown system variable @@no_such_variable",
    ]


def test_dynamic_sql_is_reported_as_outside_the_subset(reference):
    problems = _problems("execute immediate 'select 1';\n")
    assert problems == ["s.sql:1:1: EXECUTE IMMEDIATE is outside the supported subset: dynamic SQL cannot be validated"]


def test_a_procedure_body_sees_its_arguments_and_no_query_parameters(reference):
    script = (
        "create or replace procedure silver.p(arg_day date)\n"
        "begin\n"
        "  select arg_day as d;\n"
        "  select @run_date as d;\n"
        "end;\n"
        "call silver.p(current_date());\n"
    )
    problems = _problems(script)
    assert len(problems) == 1 and problems[0].startswith("s.sql:4:10:") and "run_date" in problems[0], problems


def test_a_table_created_by_the_script_is_known_to_later_statements(reference):
    script = (
        "create temp table staged as select customer_id from silver.customers;\n"
        "select customer_id from staged;\n"
        "select not_a_column from staged;\n"
    )
    problems = _problems(script)
    assert len(problems) == 1 and problems[0].startswith("s.sql:3:8:"), problems


def test_the_evaluator_reads_dataset_qualified_tables_with_and_without_aliases(reference):
    rows = [{"customer_id": "C1"}, {"customer_id": "C2"}]
    result = zeta.evaluate(
        "select customers.customer_id, c.customer_id as again"
        " from silver.customers join silver.customers as c using (customer_id) order by 1",
        {"silver.customers": rows},
    )
    assert result.rows == [("C1", "C1"), ("C2", "C2")], result.rows

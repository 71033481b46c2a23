"""Renders every pipeline step as BigQuery statements, from the SQL files and the contract.

Both engines run these statements: the local engine translates each to DuckDB (customer360.dialect),
BigQuery runs them as the body of the step's stored procedure (procedure_body).
"""

from __future__ import annotations

import hashlib
from functools import cache

import sqlglot
from sqlglot import exp

from customer360 import contract
from customer360.contract import Step
from customer360.sqlgen import checks, derived, silver
from customer360.sqlgen.functions import SqlFunction, called_functions, functions
from customer360.sqlgen.text import Statement, string_literal, strip_comments

__all__ = [
    "SqlFunction", "Statement", "called_functions", "functions", "pipeline_digest", "procedure_body", "qualify",
    "step_query", "step_statements", "string_literal", "strip_comments", "work_tables",
]


@cache
def step_query(step: Step, scope: str = "run") -> str:
    """The step's defining SELECT, in BigQuery SQL with logical table names.

    For a silver step, its file over the pending days with the carried columns; for the identity map
    and intermediates, the definition over all of silver; for checks, the violations query, over what
    the run wrote (scope "run") or over the whole warehouse (scope "warehouse").
    """
    if step.kind == "silver":
        return silver.cleaning_query(step, "delivery_dates")
    if step.kind == "quality" and scope == "warehouse":
        if step.sql_file:
            return checks.warehouse_scope(step.path.read_text(encoding="utf-8"))
        return checks.GENERATED_CHECKS[step.name]("warehouse")
    if step.sql_file:
        return step.path.read_text(encoding="utf-8")
    query = checks.GENERATED_CHECKS[step.name]()
    return f"-- Generated from customer360/contract.py: {step.description}\n{query}\n"


def _rebuild_statements(step: Step) -> list[Statement]:
    """The gold table recomputed whole from the small intermediates; only the rows that differ are rewritten."""
    table = contract.table(step.target)
    columns = ", ".join(table.column_names)
    key = ", ".join(table.key)
    following, rewritten = f"next_{step.name}", f"rewritten_{step.name}"

    def match(left: str, right: str) -> str:
        return " and ".join(f"{left}.{k} = {right}.{k}" for k in table.key)

    # Every column qualified: a column named like its table (gold.average_order_value.average_order_value)
    # would otherwise name the table's row, as a STRUCT, in GoogleSQL's name resolution.
    def qualified(alias: str) -> str:
        return ", ".join(f"{alias}.{c}" for c in table.column_names)

    if not all(c.required for c in table.columns if c.name in table.key):
        raise ValueError(f"{table.ref}: its key columns must be REQUIRED (the rewrite finds a missing row by a NULL key)")
    same_row = " and ".join(
        f"computed.{c} is not distinct from stored.{c}" for c in table.column_names if c not in table.key)

    return [
        Statement(
            f"create or replace temp table {following} as\n"
            f"select {qualified('computed')}\nfrom (\n{strip_comments(step_query(step))}\n) as computed"
        ),
        # Rows that are new, changed or gone, by key: one join of the two versions on the key (REQUIRED
        # columns, so a NULL key marks the side a row is missing from), where two EXCEPTs read each twice.
        Statement(
            f"create or replace temp table {rewritten} as\n"
            f"select {', '.join(f'coalesce(computed.{k}, stored.{k}) as {k}' for k in table.key)}\n"
            f"from {following} as computed\nfull outer join {table.ref} as stored on {match('computed', 'stored')}\n"
            f"where computed.{table.key[0]} is null or stored.{table.key[0]} is null\n"
            f"    or not ({same_row})"
        ),
        Statement(
            f"delete from {table.ref} as stored\n"
            f"where exists (select 1 from {rewritten} as changed where {match('changed', 'stored')})"
        ),
        Statement(
            f"insert into {table.ref} ({columns})\nselect {qualified('computed')}\nfrom {following} as computed\n"
            f"where exists (select 1 from {rewritten} as changed where {match('changed', 'computed')})"
        ),
    ]


@cache
def step_statements(step: Step, scope: str = "run") -> tuple[Statement, ...]:
    """The step's statements. Scope "run" (pipeline runs, the BigQuery procedures) works from what the run
    changed; scope "warehouse" (`c360 check`, `c360 run --select`) recomputes the identity map and the
    intermediates for every entity and checks the whole warehouse. Silver and gold steps are the same in both."""
    if scope not in checks.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if step.kind == "silver":
        return tuple(silver.silver_statements(step))
    if step.kind in ("identity", "intermediate"):
        return tuple(derived.intermediate_statements(step, scope))
    if step.kind == "quality":
        return tuple(checks.quality_statements(step, step_query(step, scope)))
    return tuple(_rebuild_statements(step))


def work_tables(step: Step) -> list[str]:
    """The temp tables the step's statements create; dropped when the step ends."""
    if step.kind == "silver":
        return list(silver.work_tables(step).values())
    if step.kind in ("identity", "intermediate"):
        return derived.work_tables(step)
    if step.kind == "gold":
        return [f"next_{step.name}", f"rewritten_{step.name}"]
    return []


@cache
def pipeline_digest() -> str:
    """Digest of every step's statements and every function: a day processed under another digest is redone."""
    digest = hashlib.sha256()
    for step in contract.PIPELINE:
        for statement in step_statements(step):
            digest.update(statement.sql.encode())
    for function in functions():
        digest.update(function.create_statement().encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------
# BigQuery rendering
# ---------------------------------------------------------------------------


def _parameters_to_variables(sql: str) -> str:
    """@parameters become the procedure's arguments and variables (arg_run_date, arg_delivery_dates, ...)."""
    tree = sqlglot.parse_one(sql, read="bigquery")

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter):
            return exp.column(contract.procedure_argument(node.name))
        return node

    return tree.transform(swap).sql(dialect="bigquery", pretty=True)


def bigquery_statement(statement: Statement, sql: str | None = None) -> str:
    sql = statement.sql if sql is None else sql
    if statement.is_assertion:
        return f"assert ({sql}) as {string_literal(statement.message)}"
    if statement.sets:
        return f"set {contract.procedure_argument(statement.sets)} = (\n{sql}\n)"
    return sql


def _declarations(step: Step, render) -> list[str]:
    """The step parameters a procedure declares itself (arguments carry only the run's parameters):
    a silver step's pending days, then every variable one of its statements sets."""
    declarations = []
    if step.kind == "silver":
        source = string_literal(step.source)
        pending = render(
            "select array_agg(delivery_date order by delivery_date)\n"
            f"from ops.run_partitions\nwhere run_id = @run_id and source = {source}"
        )
        declarations.append(f"declare {contract.procedure_argument('delivery_dates')} array<date> default (\n{pending}\n)")
    set_by_statements = dict.fromkeys(s.sets for s in step_statements(step) if s.sets)
    for name in set_by_statements:
        declarations.append(f"declare {contract.procedure_argument(name)} {contract.STEP_PARAMETERS[name].lower()}")
    return declarations


def procedure_body(step: Step, dataset_names: dict[str, str] | None = None, project: str | None = None) -> str:
    """The BigQuery script body of the step's stored procedure (arguments arg_run_date, arg_run_id, arg_pipeline_digest).

    With `dataset_names` and `project`, logical names are rewritten to the stack's datasets,
    statement by statement (a whole BEGIN ... END block does not parse as one statement).
    """

    def render(sql: str) -> str:
        sql = _parameters_to_variables(sql)
        return qualify(sql, dataset_names, project) if dataset_names else sql

    statements = _declarations(step, render)
    statements += [bigquery_statement(s, render(s.sql)) for s in step_statements(step)]
    statements += [f"drop table {name}" for name in work_tables(step)]
    return "begin\n" + ";\n\n".join(statements) + ";\nend"


def qualify(sql: str, dataset_names: dict[str, str], project: str) -> str:
    """Rewrites logical names (raw.customers, silver.parse_money(...)) to project.dataset names."""
    tree_list = sqlglot.parse(sql, read="bigquery")
    unparsed = [t for t in tree_list if isinstance(t, exp.Command)]
    if unparsed:
        raise ValueError(f"cannot qualify SQL that does not parse as statements: {unparsed[0].sql()[:80]!r}")

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db in dataset_names and not node.catalog:
            node = node.copy()
            node.set("db", exp.to_identifier(dataset_names[node.db]))
            node.set("catalog", exp.to_identifier(project))
            return node
        if (
            isinstance(node, exp.Dot)
            and isinstance(node.this, exp.Identifier)
            and node.this.name in dataset_names
            and isinstance(node.expression, exp.Anonymous)
        ):
            # A persistent function is called by its full path as one quoted name.
            function = node.expression
            path = f"{project}.{dataset_names[node.this.name]}.{function.name}"
            return exp.Anonymous(this=exp.to_identifier(path, quoted=True), expressions=function.expressions)
        return node

    return ";\n".join(t.transform(rename).sql(dialect="bigquery", pretty=True) for t in tree_list if t)

"""Renders every pipeline step as BigQuery statements, from the SQL files and the contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp

from customer360 import contract
from customer360.contract import SOURCES, Source, Step

# ---------------------------------------------------------------------------
# Persistent SQL functions (sql/functions/*.sql)
# ---------------------------------------------------------------------------

_FUNCTION_RE = re.compile(
    r"create\s+or\s+replace\s+function\s+(?P<dataset>\w+)\.(?P<name>\w+)\s*\((?P<args>[^)]*)\)\s*"
    r"returns\s+(?P<returns>\w+)\s+as\s*\((?P<body>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class SqlFunction:
    dataset: str
    name: str
    arguments: tuple[tuple[str, str], ...]
    return_type: str
    body: str
    file: str

    @property
    def ref(self) -> str:
        return f"{self.dataset}.{self.name}"

    def create_statement(self) -> str:
        args = ", ".join(f"{n} {t}" for n, t in self.arguments)
        return f"create or replace function {self.ref}({args})\nreturns {self.return_type}\nas (\n{self.body}\n)"


def _parse_function(path) -> SqlFunction:
    text = path.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    match = _FUNCTION_RE.search(code.strip())
    if not match:
        raise ValueError(f"{path}: expected one 'create or replace function dataset.name(args) returns T as (...)'")
    arguments = tuple(
        tuple(part.split()) for part in (a.strip() for a in match["args"].split(",")) if part
    )
    return SqlFunction(
        dataset=match["dataset"],
        name=match["name"],
        arguments=tuple((n, t.upper()) for n, t in arguments),
        return_type=match["returns"].upper(),
        body=match["body"].strip("\n"),
        file=str(path.relative_to(contract.REPO_ROOT)),
    )


@cache
def functions() -> tuple[SqlFunction, ...]:
    """Every SQL function, ordered so that a function comes after those it calls."""
    found = {f.ref: f for f in map(_parse_function, sorted((contract.SQL_DIR / "functions").glob("*.sql")))}
    ordered: list[SqlFunction] = []

    def visit(ref: str, trail: tuple[str, ...]) -> None:
        if ref in trail:
            raise ValueError(f"SQL functions call each other in a cycle: {' -> '.join(trail + (ref,))}")
        if any(f.ref == ref for f in ordered):
            return
        for other in found:
            if other != ref and re.search(rf"\b{re.escape(other)}\s*\(", found[ref].body):
                visit(other, trail + (ref,))
        ordered.append(found[ref])

    for ref in sorted(found):
        visit(ref, ())
    return tuple(ordered)


# ---------------------------------------------------------------------------
# Step queries: the SELECT each step is built around
# ---------------------------------------------------------------------------


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def raw_record_expression(source: Source, alias: str | None = None) -> str:
    """The raw row as a JSON object of strings, as stored in ops.rejected_rows.raw_values."""
    prefix = f"{alias}." if alias else ""
    return "to_json_string(struct(" + ", ".join(f"{prefix}{c} as {c}" for c in source.column_names) + "))"


def header_row_filter(source: Source) -> str:
    """True for rows that are not the exact header row (cloud loads keep header rows)."""
    first = source.column_names[0]
    return f"coalesce({first}, '') != {_quote(first)}"


def cleaned_key_expression(source: Source, column: str, alias: str) -> str:
    kind = source.silver.column(column).type
    cleaner = "silver.parse_whole_number" if kind == "INT64" else "silver.clean_string"
    return f"{cleaner}({alias}.{column})"


def _raw_day(source: Source, alias: str | None = None) -> str:
    named = f" as {alias}" if alias else ""
    return f"raw.{source.name}{named} where _PARTITIONDATE = @run_date"


def header_like_threshold(source: Source) -> int:
    """How many values of a row must be column names for the row to look like a header row.

    Half the columns (at least 2): a renamed or reordered header, or another source's header,
    passes it; a data row with a value or two that happen to be column names does not.
    """
    return max(2, -(-len(source.column_names) // 2))


def _check_raw_header() -> str:
    # Column names of every source: a header from another source of the same width loads too.
    all_names = ", ".join(_quote(n) for n in sorted({n for s in SOURCES for n in s.column_names}))
    parts = []
    for source in SOURCES:
        names = source.column_names
        first = names[0]
        # Header-like: the first value contains the first column's name (also when padded or
        # re-cased), or enough values are column names. Only plain string functions here: this
        # scans every raw row of the day.
        named_values = " + ".join(f"if(lower({c}) in ({all_names}), 1, 0)" for c in names)
        header_like = (
            f"strpos(lower(coalesce({first}, '')), {_quote(first)}) > 0 "
            f"or {named_values} >= {header_like_threshold(source)}"
        )
        exact = " and ".join(f"coalesce({c}, '') = {_quote(c)}" for c in names)
        parts.append(
            f"select {_quote(source.name)} as source, {raw_record_expression(source)} as header_row,\n"
            f"from {_raw_day(source)}\n"
            f"  and ({header_like})\n"
            f"  and not ({exact})"
        )
    return "\n union all\n".join(parts)


def _check_keys() -> str:
    parts = []
    tables = [(s.silver, s.primary_key) for s in SOURCES] + [(contract.CUSTOMER_IDENTITY, ("source", "source_id"))]
    for table, key in tables:
        key_list = ", ".join(key)
        any_null = " or ".join(f"{k} is null" for k in key)
        parts.append(
            f"select {_quote(table.ref)} as table_name,\n"
            f"  to_json_string(struct({', '.join(f'{k} as {k}' for k in key)})) as record_key,\n"
            f"  count(*) as copies,\n"
            f"from {table.ref}\n"
            f"group by {key_list}\n"
            f"having count(*) > 1 or logical_or({any_null})"
        )
    return "\n union all\n".join(parts)


def _check_accepted_values() -> str:
    parts = []
    for rule in contract.ACCEPTED_VALUES:
        values = ", ".join(_quote(v) for v in rule.values)
        parts.append(
            f"select {_quote(rule.table)} as table_name, {_quote(rule.column)} as column_name, "
            f"{rule.column} as value,\n"
            f"from {rule.table}\n"
            f"where {rule.column} is not null and {rule.column} not in ({values})"
        )
    return "\n union all\n".join(parts)


def _check_conservation() -> str:
    parts = []
    for source in SOURCES:
        rejected = (
            f"select raw_values from ops.rejected_rows "
            f"where source = {_quote(source.name)} and delivery_date = @run_date"
        )
        key_match = " and ".join(
            f"kept.{k} = {cleaned_key_expression(source, k, 'delivered')}" for k in source.primary_key
        )
        parts.append(
            f"select {_quote(source.name)} as source, raw_rows, accepted_rows, rejected_rows, rejected_in_raw,\n"
            f"from (\n"
            f"  select\n"
            f"    count(*) as raw_rows,\n"
            f"    countif(is_rejected) as rejected_in_raw,\n"
            f"    countif(not is_rejected and is_kept) as accepted_rows,\n"
            f"  from (\n"
            f"    select\n"
            f"      {raw_record_expression(source, 'delivered')} in ({rejected}) as is_rejected,\n"
            f"      exists (select 1 from {source.silver.ref} as kept where {key_match}) as is_kept,\n"
            f"    from {_raw_day(source, 'delivered')} and {header_row_filter(source)}\n"
            f"  ) as classified\n"
            f")\n"
            f"cross join (select count(*) as rejected_rows from ({rejected}))\n"
            f"where raw_rows != accepted_rows + rejected_rows or rejected_rows != rejected_in_raw"
        )
    return "\n union all\n".join(parts)


_GENERATED_CHECKS = {
    "raw_header_matches_contract": _check_raw_header,
    "silver_keys_unique_and_present": _check_keys,
    "silver_accepted_values": _check_accepted_values,
    "conservation": _check_conservation,
}


@cache
def step_query(step: Step) -> str:
    """The step's SELECT, in BigQuery SQL with logical table names."""
    if step.sql_file:
        return step.path.read_text(encoding="utf-8")
    query = _GENERATED_CHECKS[step.name]()
    return f"-- Generated from customer360/contract.py: {step.description}\n{query}\n"


# ---------------------------------------------------------------------------
# Step statements
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str
    # An assertion: `sql` is a SELECT returning a BOOL that must be TRUE, else the run fails with `message`.
    is_assertion: bool = False
    message: str = ""


def staged_table(step: Step) -> str:
    return f"staged_{step.name}"


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip().rstrip(";")


def silver_statements(step: Step) -> list[Statement]:
    source = contract.SOURCES_BY_NAME[step.source]
    table = source.silver
    staged = staged_table(step)
    columns = [c for c in table.column_names if c != contract.DELIVERY_DATE_COLUMN]
    key = source.primary_key
    version = [f"{source.version_column} desc nulls last"] if source.version_column else []
    # Deterministic tie-break: the row whose cleaned values sort first, column by column.
    tie_break = [f"{c} asc nulls last" for c in columns if c not in key and c != source.version_column]
    # A day delivered again replaces that day's partition: its rows beat what the day's earlier
    # delivery left in silver (same delivery day), before the tie-break on values.
    order_by = ", ".join(
        version + [f"{contract.DELIVERY_DATE_COLUMN} desc", "is_this_delivery desc"] + tie_break
    )
    all_columns = columns + [contract.DELIVERY_DATE_COLUMN]
    key_match = " and ".join(f"target.{k} = incoming.{k}" for k in key)
    updates = ",\n        ".join(f"{c} = incoming.{c}" for c in all_columns if c not in key)
    column_list = ", ".join(all_columns)
    exists_in_staged = " and ".join(f"staged.{k} = existing.{k}" for k in key)
    return [
        Statement(f"create or replace temp table {staged} as\n{_strip_comments(step_query(step))}"),
        Statement(
            f"delete from ops.rejected_rows\n"
            f"where source = {_quote(source.name)} and delivery_date = @run_date"
        ),
        Statement(
            f"insert into ops.rejected_rows (source, delivery_date, reason, record_key, raw_values, run_id)\n"
            f"select {_quote(source.name)}, @run_date, rejection_reason, record_key, raw_record, @run_id\n"
            f"from {staged}\n"
            f"where rejection_reason is not null"
        ),
        Statement(
            f"merge {table.ref} as target\n"
            f"using (\n"
            f"    select {column_list}\n"
            f"    from (\n"
            f"        select {column_list},\n"
            f"            row_number() over (partition by {', '.join(key)} order by {order_by}) as version_rank,\n"
            f"        from (\n"
            f"            select {', '.join(columns)}, @run_date as {contract.DELIVERY_DATE_COLUMN}, "
            f"true as is_this_delivery,\n"
            f"            from {staged}\n"
            f"            where rejection_reason is null\n"
            f"            union all\n"
            f"            select {column_list}, false as is_this_delivery,\n"
            f"            from {table.ref} as existing\n"
            f"            where exists (select 1 from {staged} as staged where {exists_in_staged})\n"
            f"        )\n"
            f"    )\n"
            f"    where version_rank = 1\n"
            f") as incoming\n"
            f"on {key_match}\n"
            f"when matched then update set\n        {updates}\n"
            f"when not matched then insert ({column_list})\n"
            f"values ({', '.join(f'incoming.{c}' for c in all_columns)})"
        ),
    ]


def rebuild_statements(step: Step) -> list[Statement]:
    table = contract.table(step.target)
    columns = ", ".join(table.column_names)
    return [
        Statement(f"truncate table {table.ref}"),
        Statement(
            f"insert into {table.ref} ({columns})\n"
            f"select {columns}\n"
            f"from (\n{_strip_comments(step_query(step))}\n)"
        ),
    ]


def quality_statements(step: Step) -> list[Statement]:
    status = "fail" if step.severity == "error" else "warn"
    statements = [
        Statement(
            f"delete from ops.data_quality_results where run_id = @run_id and check_name = {_quote(step.name)}"
        ),
        Statement(
            f"insert into ops.data_quality_results\n"
            f"    (run_id, run_date, check_name, target_table, severity, violating_rows, status, checked_at)\n"
            f"select @run_id, @run_date, {_quote(step.name)}, {_quote(step.target)}, {_quote(step.severity)},\n"
            f"    violating_rows, if(violating_rows = 0, 'pass', {_quote(status)}), current_timestamp()\n"
            f"from (select count(*) as violating_rows from (\n{_strip_comments(step_query(step))}\n))"
        ),
    ]
    if step.severity == "error":
        statements.append(
            Statement(
                f"select logical_and(status = 'pass') from ops.data_quality_results\n"
                f"where run_id = @run_id and check_name = {_quote(step.name)}",
                is_assertion=True,
                message=f"data-quality check {step.name} failed: {step.description}",
            )
        )
    return statements


def step_statements(step: Step) -> list[Statement]:
    if step.kind == "silver":
        return silver_statements(step)
    if step.kind == "quality":
        return quality_statements(step)
    return rebuild_statements(step)


# ---------------------------------------------------------------------------
# BigQuery rendering
# ---------------------------------------------------------------------------


def _parameters_to_variables(sql: str) -> str:
    """@run_date / @run_id query parameters become the procedure's arguments (arg_run_date, arg_run_id)."""
    tree = sqlglot.parse_one(sql, read="bigquery")

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter):
            return exp.column(contract.procedure_argument(node.name))
        return node

    return tree.transform(swap).sql(dialect="bigquery", pretty=True)


def bigquery_statement(statement: Statement, sql: str | None = None) -> str:
    sql = statement.sql if sql is None else sql
    if statement.is_assertion:
        return f"assert ({sql}) as {_quote(statement.message)}"
    return sql


def procedure_body(step: Step, dataset_names: dict[str, str] | None = None, project: str | None = None) -> str:
    """The BigQuery script body of the step's stored procedure (arguments arg_run_date DATE, arg_run_id STRING).

    With `dataset_names` and `project`, logical names are rewritten to the stack's datasets,
    statement by statement (a whole BEGIN ... END block does not parse as one statement).
    """

    def render(sql: str) -> str:
        sql = _parameters_to_variables(sql)
        return qualify(sql, dataset_names, project) if dataset_names else sql

    statements = [bigquery_statement(s, render(s.sql)) for s in step_statements(step)]
    if step.kind == "silver":
        statements.append(f"drop table {staged_table(step)}")
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

"""The data-quality checks generated from the contract, and the statements every check runs as.

A check is a query returning its violations; its thresholds (contract.QualityCheck error_if and
warn_if) turn their count into pass, warn or fail. A check has two scopes:

- run (pipeline runs): it looks only at what the run wrote or processed (ops.run_changes, this run's
  rows of ops.processed_partitions and ops.rejected_rows), so its cost follows the day's changes, not
  the history;
- warehouse (`c360 check`, and checks picked by `c360 run --select`): every silver key, every
  accepted-value column, every identity row and fact line, every ledger row. The run's change log is
  replaced by a listing of every key, and the ledger filters by run are dropped.

Most checks take their facts from counts the steps recorded rather than rescanning: the counts are
recorded from the data as written, so rows that go missing between steps still fail them
(tests/robustness/test_conservation_mutations.py proves it).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

from customer360 import contract
from customer360.contract import QualityCheck, Step
from customer360.sqlgen.text import Statement, string_literal, strip_comments

SCOPES = ("run", "warehouse")

# The silver tables, the identifier counts and the identity map, each with its key columns.
KEYED_TABLES = tuple((s.silver.ref, s.primary_key) for s in contract.SOURCES) + tuple(
    (t.ref, t.key) for t in contract.IDENTIFIER_COUNT_TABLES) + (
    (contract.CUSTOMER_IDENTITY.ref, ("source_id", "source")),
)


def _check_raw_header(scope: str = "run") -> str:
    return (
        "select source, delivery_date, header_like_rows,\n"
        "from ops.processed_partitions\n"
        + ("where run_id = @run_id and header_like_rows > 0" if scope == "run" else "where header_like_rows > 0")
    )


def _key_join(table_alias: str, key: tuple[str, ...]) -> str:
    condition = f"{table_alias}.{key[0]} = changes.key_value"
    if len(key) > 1:
        rest = " || '|' || ".join(f"cast({table_alias}.{k} as string)" for k in key[1:])
        condition += f" and {rest} = changes.key_detail"
    return condition


def every_key(refs: tuple[str, ...] | None = None, table_name: Callable[[str], str] = str) -> str:
    """Every key of the keyed silver tables REFS (default: all, and the identity map), as ops.run_changes rows.

    table_name turns a logical `dataset.table` into the name the query reads (the daily script's stack names).
    """
    parts = []
    for ref, key in KEYED_TABLES:
        if refs is not None and ref not in refs:
            continue
        detail = " || '|' || ".join(f"cast({k} as string)" for k in key[1:]) if len(key) > 1 else "cast(null as string)"
        parts.append(
            f"select distinct {string_literal(ref)} as table_name, {key[0]} as key_value, {detail} as key_detail,\n"
            f"    'added' as change, cast(null as string) as previous,\n"
            f"from {table_name(ref)}"
        )
    return "\nunion all\n".join(parts)


def _changes(scope: str, ref: str) -> str:
    return "ops.run_changes" if scope == "run" else f"(\n{every_key((ref,))}\n)"


def _check_keys(scope: str = "run") -> str:
    # NULL keys are refused by the tables themselves: key columns are REQUIRED (NOT NULL locally).
    # A key is written (present once) or removed (absent); one the run both wrote and removed (a cloud full
    # refresh lists a kept identifier count as added, and a silver step then removes it) may be either.
    # The inner query has one row per key, so the outer one groups by the key alone and takes that row's
    # values with any_value; min = max stands for one distinct change (count(distinct) costs twice as much).
    parts = []
    for ref, key in KEYED_TABLES:
        parts.append(
            f"select {string_literal(ref)} as table_name, changes.key_value, changes.key_detail,\n"
            f"    any_value(changes.change) as change, count(stored.{key[0]}) as copies,\n"
            f"from (\n"
            f"    select key_value, key_detail, if(min(change) = max(change), min(change),\n"
            f"        if(logical_or(change = 'removed'), 'written and removed', 'written')) as change,\n"
            f"        if(logical_or(change = 'removed'), 0, 1) as fewest, if(logical_and(change = 'removed'), 0, 1) as most,\n"
            f"    from {_changes(scope, ref)}\n"
            f"    where table_name = {string_literal(ref)}\n"
            f"    group by key_value, key_detail\n"
            f") as changes\n"
            f"left join {ref} as stored on {_key_join('stored', key)}\n"
            f"group by changes.key_value, changes.key_detail\n"
            f"having count(stored.{key[0]}) < any_value(changes.fewest) or count(stored.{key[0]}) > any_value(changes.most)"
        )
    return "\nunion all\n".join(parts)


def _check_accepted_values(scope: str = "run") -> str:
    keys = dict(KEYED_TABLES)
    parts = []
    for rule in contract.ACCEPTED_VALUES:
        values = ", ".join(string_literal(v) for v in rule.values)
        parts.append(
            f"select {string_literal(rule.table)} as table_name, {string_literal(rule.column)} as column_name, "
            f"stored.{rule.column} as value,\n"
            f"from {rule.table} as stored\n"
            + (
                f"inner join ops.run_changes as changes\n"
                f"    on changes.table_name = {string_literal(rule.table)} and {_key_join('stored', keys[rule.table])}\n"
                if scope == "run" else ""  # the warehouse scope: every row
            )
            + f"where stored.{rule.column} is not null and stored.{rule.column} not in ({values})"
        )
    return "\nunion all\n".join(parts)


def _check_conservation(scope: str = "run") -> str:
    by_run = scope == "run"
    return (
        "select\n"
        "    ledger.source,\n"
        "    ledger.delivery_date,\n"
        "    raw_partitions.row_count as raw_rows,\n"
        "    ledger.scanned_rows,\n"
        "    ledger.header_rows,\n"
        "    ledger.accepted_rows,\n"
        "    ledger.rejected_rows,\n"
        "    coalesce(rejected.rows_written, 0) as rejected_rows_written,\n"
        "    ledger.accepted_keys_missing,\n"
        "from ops.processed_partitions as ledger\n"
        "left join ops.raw_partitions as raw_partitions\n"
        "    on ledger.source = raw_partitions.source and ledger.delivery_date = raw_partitions.delivery_date\n"
        "left join (\n"
        "    select source, delivery_date, count(*) as rows_written,\n"
        "    from ops.rejected_rows\n"
        + ("    where run_id = @run_id\n" if by_run else "")
        + "    group by source, delivery_date\n"
        ") as rejected on ledger.source = rejected.source and ledger.delivery_date = rejected.delivery_date\n"
        "where\n"
        + ("    ledger.run_id = @run_id\n    and (\n" if by_run else "    (\n")
        + "        raw_partitions.row_count is null\n"
        "        or raw_partitions.row_count != ledger.scanned_rows\n"
        "        or ledger.scanned_rows != ledger.header_rows + ledger.accepted_rows + ledger.rejected_rows\n"
        "        or ledger.rejected_rows != coalesce(rejected.rows_written, 0)\n"
        "        or ledger.accepted_keys_missing != 0\n"
        "    )"
    )


def deliveries_arrived_query(scope: str = "run") -> str:
    """One row per source: the expected delivery days of the window that are missing, and the newest day."""
    expected = ", ".join(
        f"struct({string_literal(s.name)} as source, {string_literal(s.expected)} as expected)" for s in contract.SOURCES
    )
    window = contract.FRESHNESS_WINDOW_DAYS - 1
    return (
        "with\n"
        f"sources as (select source, expected, from unnest([{expected}])),\n"
        "first_delivery as (select min(delivery_date) as first_day, from ops.raw_partitions),\n"
        "window_days as (\n"
        "    select day,\n"
        f"    from unnest(generate_date_array(date_sub(@run_date, interval {window} day), @run_date)) as day\n"
        "    cross join first_delivery\n"
        "    where day >= first_delivery.first_day\n"
        "),\n"
        "missing as (\n"
        "    select sources.source, window_days.day,\n"
        "    from sources\n"
        "    cross join window_days\n"
        "    where sources.expected = 'daily'\n"
        "        and not exists (\n"
        "            select 1 from ops.raw_partitions as held\n"
        "            where held.source = sources.source and held.delivery_date = window_days.day\n"
        "        )\n"
        "),\n"
        "newest as (\n"
        "    select source, max(delivery_date) as newest_day,\n"
        "    from ops.raw_partitions\n"
        "    where delivery_date <= @run_date\n"
        "    group by source\n"
        ")\n"
        "select\n"
        "    sources.source,\n"
        "    sources.expected,\n"
        "    newest.newest_day,\n"
        "    date_diff(@run_date, newest.newest_day, day) as days_behind,\n"
        "    count(missing.day) as missing_days,\n"
        "    string_agg(cast(missing.day as string), ', ' order by missing.day) as missing_list,\n"
        "from sources\n"
        "left join newest on sources.source = newest.source\n"
        "left join missing on sources.source = missing.source\n"
        "group by sources.source, sources.expected, newest.newest_day"
    )


GENERATED_CHECKS = {
    "raw_header_matches_contract": _check_raw_header,
    "silver_keys_unique_and_present": _check_keys,
    "silver_accepted_values": _check_accepted_values,
    "conservation": _check_conservation,
    "deliveries_arrived": deliveries_arrived_query,
}


def warehouse_scope(query: str) -> str:
    """A check written over the run's change log (ops.run_changes), made to look at every key instead."""
    tree = sqlglot.parse_one(strip_comments(query), read="bigquery")
    # Only the tables whose changes the check reads (it names them as table_name literals).
    named = tuple(sorted({literal.this for literal in tree.find_all(exp.Literal) if literal.is_string}
                         & {ref for ref, _ in KEYED_TABLES}))
    for table in list(tree.find_all(exp.Table)):
        if (table.db, table.name) == ("ops", "run_changes"):
            every = sqlglot.parse_one(every_key(named or None), read="bigquery")
            alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name))
            table.replace(exp.Subquery(this=every, alias=alias))
    return tree.sql(dialect="bigquery", pretty=True)


def status_sql(check: QualityCheck, count: str) -> str:
    """pass, warn or fail for a count of violating rows, from the check's thresholds."""
    cases = [
        f"when {condition} then {string_literal(status)}"
        for option, status in (("error_if", "fail"), ("warn_if", "warn"))
        if (condition := check.condition_sql(option, count)) is not None
    ]
    return "case " + " ".join(cases) + " else 'pass' end"


def _deliveries_arrived_statements(step: Step, query: str) -> list[Statement]:
    name = string_literal(step.name)
    return [
        Statement(
            "insert into ops.data_quality_results\n"
            "    (run_id, run_date, check_name, target_table, severity, violating_rows, status, checked_at, subject, detail)\n"
            f"select @run_id, @run_date, {name}, {string_literal(step.target)}, {string_literal(step.severity)},\n"
            "    missing_days,\n"
            f"    {status_sql(step.check, 'missing_days')},\n"
            "    current_timestamp(),\n"
            "    source,\n"
            "    concat(\n"
            "        if(missing_days = 0, '', concat('missing ', missing_list, '; ')),\n"
            "        if(newest_day is null, 'never delivered',\n"
            "            concat('newest delivery ', cast(newest_day as string), ', ', cast(days_behind as string),\n"
            "                if(days_behind = 1, ' day', ' days'), ' before the run date')),\n"
            "        if(expected = 'daily', '', ' (expected on change)')\n"
            "    ),\n"
            f"from (\n{query}\n)"
        ),
    ]


def quality_statements(step: Step, query: str) -> list[Statement]:
    """Record the check's result (one row, or one per subject) with its status, and ASSERT it when it can block."""
    name = string_literal(step.name)
    statements = [
        Statement(f"delete from ops.data_quality_results where run_id = @run_id and check_name = {name}"),
    ]
    if step.name == "deliveries_arrived":
        statements += _deliveries_arrived_statements(step, query)
    else:
        statements.append(
            Statement(
                "insert into ops.data_quality_results\n"
                "    (run_id, run_date, check_name, target_table, severity, violating_rows, status, checked_at)\n"
                f"select @run_id, @run_date, {name}, {string_literal(step.target)}, {string_literal(step.severity)},\n"
                f"    violating_rows, {status_sql(step.check, 'violating_rows')}, current_timestamp()\n"
                f"from (select count(*) as violating_rows from (\n{strip_comments(query)}\n))"
            )
        )
    if step.check.error_if is not None:
        statements.append(
            Statement(
                f"select logical_and(status != 'fail') from ops.data_quality_results\n"
                f"where run_id = @run_id and check_name = {name}",
                is_assertion=True,
                message=f"data-quality check {step.name} failed: {step.description}",
            )
        )
    return statements

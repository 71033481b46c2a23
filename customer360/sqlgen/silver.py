"""The silver steps: clean a source's pending delivery days and re-decide the winner of every key they touch.

A silver file (sql/silver/<table>.sql) cleans the rows of `raw.<source>` and states each row's
rejection reason. This module turns it into the step's statements:

1. staged: the file over the pending partitions (@delivery_dates), with each row's delivery day, whether
   it is the contract header (cloud loads keep each file's header) or looks like another header, and
   its raw values as JSON for rejected rows only;
2. the days' rejected rows replace what earlier deliveries of those days left in ops.rejected_rows;
3. incoming: each day's winner per key (the de-duplication rules within a day);
4. current: the silver rows of every key the days touch now or touched before, read from the pending
   days and from the other days whose key ranges in the ledger span the incoming keys (@holder_dates);
   every later read and delete of the silver table names its delivery days the same way, so a table
   partitioned by delivery day is read only where the run's keys can be;
5. a withdrawn key (its silver row came from a pending day that no longer holds it, or holds another
   version) falls back to the best version another day still holds: those days are found from the
   ledger's key ranges (@fallback_dates) and their raw rows cleaned again for just those keys;
6. winners replace the current rows; every key whose row changed is recorded in ops.run_changes;
7. the ledger (ops.processed_partitions) records each day's counts, key range and raw version.

Winner order (section 3 of the product rules): the latest `updated_at` where the source has one, then
the latest delivery day, then the cleaned values column by column (ascending, NULLs last), so any tie is
broken the same way in both engines.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from pathlib import Path

from customer360 import contract
from customer360.cache import DiskCache, memoised
from customer360.contract import Source, Step
from customer360.sqlgen.text import Statement, string_literal, strip_comments

ROW_KIND = "_row_kind"  # header (exactly the contract header), header_like, or data
ROW_HEADER = "_row_is_header"  # the row is exactly the contract header
RAW_PREFIX = "_raw_"
DELIVERY = contract.DELIVERY_DATE_COLUMN


def header_like_threshold(source: Source) -> int:
    """How many values of a row must be column names for the row to look like a header row.

    Half the columns (at least 2): a renamed or reordered header, or another source's header,
    passes it; a data row with a value or two that happen to be column names does not.
    """
    return max(2, -(-len(source.column_names) // 2))


def _exact_header(source: Source) -> str:
    return " and ".join(f"coalesce({c}, '') = {string_literal(c)}" for c in source.column_names)


def guard_column(source: Source) -> str:
    """The first typed column of the source: a header cell never parses as its value."""
    return next(c.name for c in source.silver.columns if c.type != "STRING" and c.name in source.column_names)


def _row_kind_expression(source: Source) -> str:
    """header (exactly the contract's header), header_like (another header: renamed, reordered, another source's) or data.

    A row looks like a header when its first value holds the first column's name, or when at least
    half its values are column names of any source. Only rows whose first typed column did not parse
    are tested (a header cell is never a date or a number), so the test costs nothing on data rows.
    """
    names = source.column_names
    raw = [f"{RAW_PREFIX}{c}" for c in names]
    named = " + ".join(f"if(silver.is_column_name({c}), 1, 0)" for c in raw)
    first = raw[0]
    return (
        f"case when {ROW_HEADER} then 'header' "
        f"when {guard_column(source)} is null and (strpos(lower(coalesce({first}, '')), {string_literal(names[0])}) > 0 "
        f"or {named} >= {header_like_threshold(source)}) then 'header_like' "
        f"else 'data' end"
    )


def _delivered(source: Source, days_parameter: str, key_filter: str | None) -> exp.Expression:
    """raw.<source> restricted to the days in @DAYS_PARAMETER, with the row's delivery day and kind."""
    columns = ", ".join(source.column_names)
    condition = f"{contract.RAW_PARTITION_COLUMN} in unnest(@{days_parameter})"
    if key_filter:
        first = source.primary_key[0]
        condition += f" and silver.clean_string({first}) in (select {first} from {key_filter})"
    sql = (
        f"select {columns}, {contract.RAW_PARTITION_COLUMN} as {DELIVERY}, ({_exact_header(source)}) as {ROW_HEADER}, "
        f"from raw.{source.name} where {condition}"
    )
    return sqlglot.parse_one(sql, read="bigquery")


def _passthrough(source: Source) -> list[str]:
    return [DELIVERY, ROW_HEADER] + [RAW_PREFIX + c for c in source.column_names]


def _has_star(select: exp.Select) -> bool:
    return any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
               for e in select.expressions)


GENERATED = DiskCache(
    f"generated-sql-sqlglot-{sqlglot.__version__}",
    Path(__file__), Path(__file__).with_name("derived.py"), Path(__file__).with_name("functions.py"),
    Path(contract.__file__),
)


@memoised(GENERATED, lambda step, days, key_filter=None: (
    step.name, days, key_filter or "", step.path.read_text(encoding="utf-8")))
def cleaning_query(step: Step, days_parameter: str, key_filter: str | None = None) -> str:
    """The step's silver file over raw.<source>'s days in @DAYS_PARAMETER, carrying each row's delivery day,
    kind and raw values through, and the raw values as JSON where the row is rejected."""
    source = contract.SOURCES_BY_NAME[step.source]
    where = step.sql_file
    tree = sqlglot.parse_one(strip_comments(step.path.read_text(encoding="utf-8")), read="bigquery")
    readers = [t for t in tree.find_all(exp.Table) if t.db == "raw" and t.name == source.name]
    if len(readers) != 1:
        raise ValueError(f"{where}: must read raw.{source.name} exactly once, found {len(readers)}")
    reader = readers[0]
    reading_select = reader.find_ancestor(exp.Select)
    alias = reader.alias_or_name
    reader.replace(exp.Subquery(this=_delivered(source, days_parameter, key_filter),
                                alias=exp.TableAlias(this=exp.to_identifier(alias))))
    reading_select.select(
        f"{DELIVERY}", f"{ROW_HEADER}", *(f"{c} as {RAW_PREFIX}{c}" for c in source.column_names), copy=False
    )
    # Every later CTE and the final select carry the passthrough columns too (unless they select *).
    later = [cte.this for cte in tree.args["with_"].expressions] if tree.args.get("with_") else []
    later = later[later.index(reading_select) + 1:] if reading_select in later else []
    for select in [*later, tree]:
        if select is reading_select or _has_star(select):
            continue
        select.select(*_passthrough(source), copy=False)
    outputs = [c for c in source.silver.column_names if c != DELIVERY] + ["record_key", "rejection_reason"]
    raw_json = "to_json_string(struct(" + ", ".join(f"{RAW_PREFIX}{c} as {c}" for c in source.column_names) + "))"
    return (
        f"select {', '.join(outputs)}, {DELIVERY}, {_row_kind_expression(source)} as {ROW_KIND},\n"
        f"    if(rejection_reason is not null and not {ROW_HEADER}, {raw_json}, null) as raw_record,\n"
        f"from (\n{tree.sql(dialect='bigquery', pretty=True)}\n)"
    )


def _order_by(source: Source, columns: list[str]) -> str:
    key = source.primary_key
    version = [f"{source.version_column} desc nulls last"] if source.version_column else []
    tie_break = [f"{c} asc nulls last" for c in columns if c not in key and c != source.version_column and c != DELIVERY]
    return ", ".join(version + [f"{DELIVERY} desc"] + tie_break)


def _winners(source: Source, columns: list[str], rows_sql: str, per_day: bool) -> str:
    partition = ", ".join(source.primary_key) + (f", {DELIVERY}" if per_day else "")
    column_list = ", ".join(columns)
    return (
        f"select {column_list},\nfrom (\n"
        f"    select {column_list},\n"
        f"        row_number() over (partition by {partition} order by {_order_by(source, columns)}) as version_rank,\n"
        f"    from (\n{rows_sql}\n    )\n)\nwhere version_rank = 1"
    )


def staged_table(step: Step) -> str:
    return f"staged_{step.name}"


def work_tables(step: Step) -> dict[str, str]:
    name = step.name
    return {
        "staged": f"staged_{name}",
        "incoming": f"incoming_{name}",
        "current": f"current_{name}",
        "orphans": f"orphan_keys_{name}",
        "fallback": f"fallback_{name}",
        "contested": f"contested_{name}",
        "copies": f"copies_{name}",
        "kept": f"kept_{name}",
        "winners": f"winners_{name}",
    } | ({"counts": f"identifier_counts_{name}"} if contract.SOURCES_BY_NAME[step.source].identifier_counts else {})


def silver_statements(step: Step) -> list[Statement]:
    source = contract.SOURCES_BY_NAME[step.source]
    table = source.silver
    work = work_tables(step)
    key = source.primary_key
    first = key[0]
    columns = list(table.column_names)  # includes _delivery_date
    column_list = ", ".join(columns)
    key_list = ", ".join(key)
    name = string_literal(source.name)

    def match(left: str, right: str) -> str:
        return " and ".join(f"{left}.{k} = {right}.{k}" for k in key)

    detail = (
        " || '|' || ".join(f"cast({{side}}.{k} as string)" for k in key[1:]) if len(key) > 1 else None
    )

    def key_detail(side: str) -> str:
        return detail.format(side=side) if detail else "cast(null as string)"

    same_row = " and ".join(
        f"winners.{c} is not distinct from current_rows.{c}" for c in columns
    )
    previous_json = "to_json_string(struct(" + ", ".join(f"current_rows.{c} as {c}" for c in columns) + "))"
    pending = f"{DELIVERY} in unnest(@delivery_dates)"
    accepted = f"rejection_reason is null and {ROW_KIND} != 'header'"

    return [
        Statement(f"create or replace temp table {work['staged']} as\n{cleaning_query(step, 'delivery_dates')}"),
        Statement(
            f"delete from ops.rejected_rows\nwhere source = {name} and delivery_date in unnest(@delivery_dates)"
        ),
        Statement(
            f"insert into ops.rejected_rows (source, delivery_date, reason, record_key, raw_values, run_id)\n"
            f"select {name}, {DELIVERY}, rejection_reason, record_key, raw_record, @run_id\n"
            f"from {work['staged']}\n"
            f"where rejection_reason is not null and {ROW_KIND} != 'header'"
        ),
        # Each day's winner per key: most keys come once a day and need no ordering; only keys with
        # copies in a day go through the de-duplication order.
        Statement(
            f"create or replace temp table {work['copies']} as\n"
            f"select {key_list}, {DELIVERY},\nfrom {work['staged']}\nwhere {accepted}\n"
            f"group by {key_list}, {DELIVERY}\nhaving count(*) > 1"
        ),
        Statement(
            f"create or replace temp table {work['incoming']} as\n"
            f"select {column_list},\nfrom {work['staged']} as staged\nwhere {accepted}\n"
            f"    and not exists (select 1 from {work['copies']} as copies where {match('copies', 'staged')} "
            f"and copies.{DELIVERY} = staged.{DELIVERY})\n"
            f"union all\n"
            + _winners(
                source, columns,
                f"select {column_list}, from {work['staged']} as staged where {accepted}\n"
                f"    and exists (select 1 from {work['copies']} as copies where {match('copies', 'staged')} "
                f"and copies.{DELIVERY} = staged.{DELIVERY})",
                per_day=True,
            )
        ),
        # Other days whose accepted keys span an incoming key's: only their silver rows can hold it.
        Statement(_overlapping_days(source, work['incoming'], exclude_pending=True), sets="holder_dates"),
        # The silver rows of every key the pending days touch: delivered now, or won from an earlier
        # delivery of one of those days.
        Statement(
            f"create or replace temp table {work['current']} as\n"
            f"select {column_list},\nfrom {table.ref} as existing\nwhere existing.{pending}\n"
            f"union all\n"
            f"select {column_list},\nfrom {table.ref} as existing\n"
            f"where existing.{DELIVERY} in unnest(@holder_dates)\n"
            f"    and exists (select 1 from {work['incoming']} as incoming where {match('incoming', 'existing')})"
        ),
        Statement(_days_of(work['current']), sets="replaced_dates"),
        Statement(
            f"create or replace temp table {work['orphans']} as\n"
            f"select distinct {key_list},\nfrom {work['current']}\nwhere {pending}"
        ),
        # Other days whose accepted keys span an orphan's: only they can hold its next version.
        Statement(_overlapping_days(source, work['orphans'], exclude_pending=True), sets="fallback_dates"),
        Statement(
            f"create or replace temp table {work['fallback']} as\n"
            + _winners(
                source,
                columns,
                f"select {column_list},\nfrom (\n{cleaning_query(step, 'fallback_dates', key_filter=work['orphans'])}\n) as candidate\n"
                f"where {accepted}\n"
                # The whole key: another line of an orphan's order is not an orphan.
                f"    and exists (select 1 from {work['orphans']} as orphans where {match('orphans', 'candidate')})",
                per_day=False,
            )
        ),
        # Keys with more than one candidate: delivered on several pending days, held in silver from another
        # day, or held by another day after a withdrawal. Every other key takes its one incoming version.
        Statement(
            f"create or replace temp table {work['contested']} as\n"
            f"select {key_list},\nfrom {work['incoming']}\ngroup by {key_list}\nhaving count(*) > 1\n"
            f"union distinct\n"
            f"select {key_list},\nfrom {work['current']}\nwhere not ({pending})\n"
            f"union distinct\n"
            f"select {key_list},\nfrom {work['fallback']}"
        ),
        Statement(
            f"create or replace temp table {work['winners']} as\n"
            f"select {column_list},\nfrom {work['incoming']} as incoming\n"
            f"where not exists (select 1 from {work['contested']} as contested where {match('contested', 'incoming')})\n"
            f"union all\n"
            + _winners(
                source,
                columns,
                f"select {column_list}, from {work['incoming']} as incoming\n"
                f"where exists (select 1 from {work['contested']} as contested where {match('contested', 'incoming')})\n"
                f"union all\n"
                f"select {column_list}, from {work['current']} where not ({pending})\n"
                f"union all\n"
                f"select {column_list}, from {work['fallback']}",
                per_day=False,
            )
        ),
        Statement(
            f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
            f"select\n"
            f"    @run_id,\n"
            f"    {string_literal(table.ref)},\n"
            f"    coalesce(winners.{first}, current_rows.{first}),\n"
            f"    coalesce({key_detail('winners')}, {key_detail('current_rows')}),\n"
            f"    case when current_rows.{first} is null then 'added' when winners.{first} is null then 'removed' "
            f"else 'updated' end,\n"
            f"    if(current_rows.{first} is null, null, {previous_json}),\n"
            f"from {work['winners']} as winners\n"
            f"full outer join {work['current']} as current_rows on {match('winners', 'current_rows')}\n"
            f"where current_rows.{first} is null or winners.{first} is null or not ({same_row})"
        ),
        Statement(
            f"delete from {table.ref} as existing\n"
            f"where existing.{DELIVERY} in unnest(@replaced_dates)\n"
            f"    and exists (select 1 from {work['current']} as current_rows where {match('current_rows', 'existing')})"
        ),
        Statement(f"insert into {table.ref} ({column_list})\nselect {column_list},\nfrom {work['winners']}"),
        Statement(_days_of(work['winners']), sets="written_dates"),
        # The accepted keys silver holds now (looked up from the day's keys, so the lookup stays small).
        Statement(
            f"create or replace temp table {work['kept']} as\n"
            f"select {', '.join(f'stored.{k}' for k in key)},\nfrom {table.ref} as stored\n"
            f"where stored.{DELIVERY} in unnest(@written_dates)\n"
            f"    and exists (select 1 from {work['incoming']} as incoming where {match('incoming', 'stored')})"
        ),
        Statement(
            f"delete from ops.processed_partitions\nwhere source = {name} and delivery_date in unnest(@delivery_dates)"
        ),
        Statement(_ledger_insert(source, work)),
    ] + _identifier_count_statements(source, work)


def _identifier_count_statements(source: Source, work: dict[str, str]) -> list[Statement]:
    """Move the source's identifier counts (contract.IdentifierCounts) by the rows the step replaced.

    The step deletes the current rows and inserts the winners, so each value's count moves by its winners
    minus its current rows; the values whose count moved are recorded in ops.run_changes (previous: the
    count before) and their rows replaced, a value left on no row is removed.
    """
    counts = source.identifier_counts
    if counts is None:
        return []
    column, ref = counts.column, counts.table.ref
    return [
        Statement(
            f"create or replace temp table {work['counts']} as\n"
            f"select moved.{column}, coalesce(stored.row_count, 0) as previous_count,\n"
            f"    coalesce(stored.row_count, 0) + moved.delta as row_count,\n"
            f"from (\n"
            f"    select {column}, sum(sign) as delta,\n"
            f"    from (\n"
            f"        select {column}, 1 as sign, from {work['winners']} where {column} is not null\n"
            f"        union all\n"
            f"        select {column}, -1 as sign, from {work['current']} where {column} is not null\n"
            f"    )\n"
            f"    group by {column}\n"
            f"    having sum(sign) != 0\n"
            f") as moved\n"
            f"left join {ref} as stored on stored.{column} = moved.{column}"
        ),
        Statement(
            f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
            f"select\n"
            f"    @run_id,\n"
            f"    {string_literal(ref)},\n"
            f"    {column},\n"
            f"    cast(null as string),\n"
            f"    case when previous_count = 0 then 'added' when row_count = 0 then 'removed' else 'updated' end,\n"
            f"    if(previous_count = 0, null, to_json_string(struct(previous_count as row_count))),\n"
            f"from {work['counts']}"
        ),
        Statement(
            f"delete from {ref} as stored\n"
            f"where exists (select 1 from {work['counts']} as moved where moved.{column} = stored.{column})"
        ),
        Statement(
            f"insert into {ref} ({column}, row_count)\n"
            f"select {column}, row_count,\nfrom {work['counts']}\nwhere row_count != 0"
        ),
    ]


def overlapping_days(source: Source, keys_sql: str, key_column: str, exclude_pending: bool = False) -> str:
    """The delivery days of `source` whose accepted keys (their range in the ledger) span a key of KEYS_SQL.

    Every silver row delivered on day D holds a first key within D's range in ops.processed_partitions:
    a silver step writes a day's rows and its range together, and a withdrawn key's fallback is cleaned
    from a day that held it. So these days are the only ones whose silver rows can hold those keys.
    """
    pending = "\n    and ledger.delivery_date not in unnest(@delivery_dates)" if exclude_pending else ""
    return (
        f"select array_agg(ledger.delivery_date order by ledger.delivery_date)\n"
        f"from ops.processed_partitions as ledger\n"
        f"cross join (select min({key_column}) as low, max({key_column}) as high from ({keys_sql})) as keys\n"
        f"where ledger.source = {string_literal(source.name)}{pending}\n"
        f"    and ledger.first_key_min <= keys.high and ledger.first_key_max >= keys.low"
    )


def _overlapping_days(source: Source, keys_table: str, exclude_pending: bool) -> str:
    first = source.primary_key[0]
    return overlapping_days(source, f"select {first} from {keys_table}", first, exclude_pending)


def _days_of(rows_table: str) -> str:
    """The delivery days of the rows of a work table."""
    return f"select array_agg(distinct {DELIVERY})\nfrom {rows_table}"


def _ledger_insert(source: Source, work: dict[str, str]) -> str:
    name = string_literal(source.name)
    first = source.primary_key[0]
    match = " and ".join(f"kept.{k} = incoming.{k}" for k in source.primary_key)
    return (
        "insert into ops.processed_partitions (source, delivery_date, loaded_at, fingerprint, scanned_rows,\n"
        "    header_rows, header_like_rows, accepted_rows, rejected_rows, accepted_keys_missing, first_key_min,\n"
        "    first_key_max, pipeline_digest, run_id, processed_at)\n"
        "select\n"
        f"    {name},\n"
        "    days.delivery_date,\n"
        "    coalesce(raw_partitions.loaded_at, current_timestamp()),\n"
        "    raw_partitions.fingerprint,\n"
        "    coalesce(counts.scanned_rows, 0),\n"
        "    coalesce(counts.header_rows, 0),\n"
        "    coalesce(counts.header_like_rows, 0),\n"
        "    coalesce(counts.accepted_rows, 0),\n"
        "    coalesce(counts.rejected_rows, 0),\n"
        "    coalesce(missing.keys, 0),\n"
        "    key_ranges.low,\n"
        "    key_ranges.high,\n"
        "    @pipeline_digest,\n"
        "    @run_id,\n"
        "    current_timestamp(),\n"
        "from (select delivery_date, from unnest(@delivery_dates) as delivery_date) as days\n"
        "left join ops.raw_partitions as raw_partitions\n"
        f"    on raw_partitions.source = {name} and raw_partitions.delivery_date = days.delivery_date\n"
        "left join (\n"
        f"    select {DELIVERY} as delivery_date,\n"
        "        count(*) as scanned_rows,\n"
        f"        countif({ROW_KIND} = 'header') as header_rows,\n"
        f"        countif({ROW_KIND} = 'header_like') as header_like_rows,\n"
        f"        countif(rejection_reason is null and {ROW_KIND} != 'header') as accepted_rows,\n"
        f"        countif(rejection_reason is not null and {ROW_KIND} != 'header') as rejected_rows,\n"
        f"    from {work['staged']}\n"
        f"    group by {DELIVERY}\n"
        ") as counts on counts.delivery_date = days.delivery_date\n"
        "left join (\n"
        f"    select {DELIVERY} as delivery_date, min({first}) as low, max({first}) as high,\n"
        f"    from {work['incoming']}\n"
        f"    group by {DELIVERY}\n"
        ") as key_ranges on key_ranges.delivery_date = days.delivery_date\n"
        "left join (\n"
        f"    select incoming.{DELIVERY} as delivery_date, count(*) as keys,\n"
        f"    from {work['incoming']} as incoming\n"
        f"    where not exists (select 1 from {work['kept']} as kept where {match})\n"
        f"    group by incoming.{DELIVERY}\n"
        ") as missing on missing.delivery_date = days.delivery_date"
    )

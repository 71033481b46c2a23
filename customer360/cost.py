"""Offline estimate of the bytes each step of a daily run processes in BigQuery, from the columns its statements read."""

# How a statement is priced (on-demand, https://cloud.google.com/bigquery/pricing#data_size_calculation):
# the bytes of the columns it reads of every table it references, in the partitions it scans. A table
# referenced twice in one statement counts once, with the union of its columns and partitions. DML adds
# the modified table (https://cloud.google.com/bigquery/docs/reference/standard-sql/dml-syntax#on-demand-query-size-calculation):
# INSERT and CREATE TABLE AS SELECT cost their query (q); DELETE, UPDATE and MERGE cost q plus every
# column of the target in the partitions they modify (the whole table when the filter does not prune).
# Partition pruning: a filter comparing a partitioned table's partition column with a constant, query
# parameter or script variable scans only the partitions it names; any other read scans the whole table.
# The figures are bytes processed, as a dry run reports them; on-demand billing rounds small queries up
# to a minimum of 10 MB (same pricing page).

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from customer360 import contract
from customer360.cache import DiskCache
from customer360.cost_model import Retailer, type_bytes
from customer360.zeta import reads as reads_module
from customer360.zeta.reads import Condition, OutputColumn, Read, Relation, StatementReads
from customer360.zeta.runtime import ZETASQL_VERSION

# How many partitions a step's day parameters name on a regular day: one pending delivery day per source,
# and no fallback day (a fallback day is read only when a re-delivery withdraws a key another day holds).
PARAMETER_DAYS = {"delivery_dates": 1, "fallback_dates": 0, "run_date": 1}
# The days found from the ledger's key ranges (customer360/sqlgen/silver.py, overlapping_days): how many
# earlier delivery days of a source hold keys that a regular day delivers again. Measured on the generated
# retailer (60 days at scale 1, days 47-60): online orders re-deliver yesterday's orders (status changes),
# store sales never re-deliver, support tickets re-deliver tickets resolved up to 18 days later (mean 7.7).
# Sources without an entry are the dimensions, whose keys come back from any day: their silver tables are
# not partitioned, so no day count applies.
HELD_DAYS = {"online_orders": 1, "store_sales": 0, "support_tickets": 8}
# Variables naming the pending day plus the held days (the silver rows a step replaces or writes, and the
# days holding an intermediate's touched entities), and those naming the held days alone.
WITH_PENDING_DAY = ("replaced_dates", "written_dates", *(contract.held_days_parameter(s) for s in contract.SOURCES))
HELD_ONLY = ("holder_dates",)


def parameter_days(parameter: str, table: contract.Table) -> int | None:
    """How many days a day parameter or variable names when it filters TABLE on a regular day (None: unknown)."""
    if parameter in PARAMETER_DAYS:
        return PARAMETER_DAYS[parameter]
    source = next((s for s in contract.SOURCES if s.silver.ref == table.ref or contract.held_days_parameter(s) == parameter),
                  None)
    if source is None or source.name not in HELD_DAYS:
        return None
    if parameter in HELD_ONLY:
        return HELD_DAYS[source.name]
    if parameter in WITH_PENDING_DAY:
        return PARAMETER_DAYS["delivery_dates"] + HELD_DAYS[source.name]
    return None
# A range over a day column (deliveries_arrived) reaches back the freshness window.
RANGE_DAYS = contract.FRESHNESS_WINDOW_DAYS + 1
PRUNING_OPERATORS = ("=", "in", "in unnest", "range")
STEP_KIND_GROUPS = {"silver": "silver", "identity": "silver", "quality": "quality", "intermediate": "intermediate",
                    "gold": "gold"}
# A read grows with history when its day-H bytes exceed its day-1 bytes by more than this factor.
GROWTH_THRESHOLD = 1.1
# A day's cost is flat over history when the later day costs at most this many times day 1 (issue 12's target).
FLAT_RATIO = 1.5


def _parameter(value: str) -> str:
    return value.removeprefix("@").removeprefix(contract.PROCEDURE_ARGUMENT_PREFIX)


@dataclass(frozen=True)
class Scan:
    """One table's part of a statement: columns read, partitions scanned (None: the whole table)."""

    table: str
    columns: tuple[str, ...]
    partitions: int | None
    pruned_by: str = ""  # the condition that pruned it, e.g. `_PARTITIONDATE in unnest arg_delivery_dates`
    unpruned_filter: str = ""  # a partitioned table filtered on another column: why nothing was pruned
    is_target: bool = False


def partitions_named(table: contract.Table | None, read: Read) -> tuple[int | None, str, str]:
    """(partitions the read scans or None for all, the pruning condition, a filter that could not prune)."""
    if table is None or table.partition_by is None:
        return None, "", ""
    best: tuple[int | None, str] = (None, "")
    other = ""
    for condition in read.conditions:
        if condition.column != table.partition_by:
            other = other or f"{condition.column} {condition.operator} {condition.value}"
            continue
        if condition.operator not in PRUNING_OPERATORS:
            continue
        if condition.operator == "=":
            count = 1
        elif condition.operator == "in":
            count = condition.count or 1
        elif condition.operator == "range":
            count = RANGE_DAYS
        else:
            count = parameter_days(_parameter(condition.value), table)
            if count is None:
                continue
        text = f"{condition.column} {condition.operator} {condition.value}"
        if best[0] is None or count < best[0]:
            best = (count, text)
    return best[0], best[1], "" if best[0] is not None else other


def statement_scans(found: StatementReads) -> list[Scan]:
    """The tables a statement is billed for, one Scan each (reads of the same table merged)."""
    merged: dict[str, Scan] = {}
    for read in found.reads:
        table = contract.TABLES_BY_REF.get(read.table)
        partitions, pruned_by, unpruned = partitions_named(table, read)
        scan = Scan(read.table, read.columns, partitions, pruned_by, unpruned, read.is_target)
        previous = merged.get(read.table)
        if previous is not None:
            columns = tuple(dict.fromkeys(previous.columns + scan.columns))
            if previous.partitions is None or scan.partitions is None:
                whole = previous if previous.partitions is None else scan
                scan = Scan(read.table, columns, None, "", whole.unpruned_filter, previous.is_target or scan.is_target)
            else:
                wider = previous if previous.partitions >= scan.partitions else scan
                scan = Scan(read.table, columns, previous.partitions + scan.partitions if previous.pruned_by != scan.pruned_by
                            else wider.partitions, wider.pruned_by, "", previous.is_target or scan.is_target)
        merged[read.table] = scan
    return list(merged.values())


@dataclass(frozen=True)
class ScanCost:
    scan: Scan
    rows: float
    bytes: float


@dataclass(frozen=True)
class StatementCost:
    step: str
    found: StatementReads
    scans: tuple[ScanCost, ...]
    modified_bytes: float  # DML: every column of the target's modified partitions

    @property
    def bytes(self) -> float:
        return sum(s.bytes for s in self.scans) + self.modified_bytes


def _base_read(relation: Relation) -> Read | None:
    """The table scan a chain of filters, projections and left joins (its left side) starts from."""
    while relation.inputs and (relation.kind in ("pass", "filter")
                               or (relation.kind == "join" and relation.detail == "left")):
        relation = relation.inputs[0]
    return relation.read if relation.kind == "read" else None


def _day_filters(table: contract.Table, conditions) -> Iterable[int]:
    """Days a filter keeps, for each condition naming days of a table's day column by a day parameter."""
    day_columns = {table.partition_by, contract.DELIVERY_DATE_COLUMN, "delivery_date", "run_date"} - {None}
    for condition in conditions:
        if condition.column in day_columns and condition.operator in ("=", "in unnest"):
            days = 1 if condition.operator == "=" else parameter_days(_parameter(condition.value), table)
            if days is not None:
                yield days


class DayEstimate:
    """The bytes of every statement of a daily run on one day of history, temporary tables modelled on the way.

    A temporary table's rows follow the statement creating it: a scan holds its table's rows (in the
    partitions scanned); a filter keeps all its input's rows, or, when it keeps the rows matching
    another query (EXISTS / IN), at most that query's rows (one row per match); a filter of
    ops.run_changes by table_name keeps that table's changes; an inner join keeps the rows of its
    smaller input (every inner join here matches a row with at most one of the other side), a left
    join its left input's rows (right for a right join, the larger for a full join); UNION ALL and UNION DISTINCT add their inputs,
    INTERSECT keeps the smaller, EXCEPT the left; GROUP BY keeps its input's rows, a whole-table
    aggregate one row; UNNEST of a day parameter its days (a filter over a left join filters its left
    side's rows). Its columns cost what the table column
    they copy costs; a filter on a day column (the partition column, _delivery_date, delivery_date,
    run_date) by a day parameter keeps that many days of rows. A computed column costs its type's size (a computed STRING the largest column it
    is computed from). Where the data decides (GROUP BY, UNION DISTINCT), these are upper bounds.
    """

    def __init__(self, retailer: Retailer, day: int):
        self.retailer = retailer
        self.day = day
        self.temp_rows: dict[str, float] = {}
        self.temp_column_bytes: dict[str, dict[str, float]] = {}

    # -- tables --------------------------------------------------------------

    def column_bytes(self, table: str, column: str) -> float:
        if table in self.temp_column_bytes:
            return self.temp_column_bytes[table].get(column, type_bytes("STRING"))
        return self.retailer.column_bytes(table, column)

    def table_rows(self, table: str, partitions: int | None = None) -> float:
        if table in self.temp_rows:
            return self.temp_rows[table]
        if table not in contract.TABLES_BY_REF:
            raise KeyError(f"no model of table {table!r}")
        if partitions is None:
            return self.retailer.rows(table, self.day)
        return min(partitions, self.day) * self.retailer.partition_rows(table)

    # -- statements ----------------------------------------------------------

    def scan_cost(self, scan: Scan) -> ScanCost:
        rows = self.table_rows(scan.table, scan.partitions)
        return ScanCost(scan, rows, rows * sum(self.column_bytes(scan.table, c) for c in scan.columns))

    def statement(self, step: str, found: StatementReads) -> StatementCost:
        scans = tuple(self.scan_cost(s) for s in statement_scans(found))
        modified = 0.0
        if found.kind in ("delete", "update", "merge") and found.target in contract.TABLES_BY_REF:
            table = contract.table(found.target)
            target = next((s.scan for s in scans if s.scan.is_target), None)
            partitions = target.partitions if target is not None else None
            rows = self.table_rows(found.target, partitions)
            modified = rows * sum(self.column_bytes(found.target, c) for c in table.column_names)
        if found.kind == "create_table" and found.temporary and found.target:
            self.temp_rows[found.target] = self.relation_rows(found.relation) if found.relation else 0.0
            self.temp_column_bytes[found.target] = {c.name: self.output_column_bytes(c) for c in found.columns}
        return StatementCost(step, found, scans, modified)

    def output_column_bytes(self, column: OutputColumn) -> float:
        if column.copied_from is not None:
            return self.column_bytes(*column.copied_from)
        if column.type == "STRING" and column.sources:
            return max(self.column_bytes(*source) for source in column.sources)
        return type_bytes(column.type)

    def relation_rows(self, relation: Relation) -> float:
        kind = relation.kind
        inputs = [self.relation_rows(r) for r in relation.inputs]
        if kind == "read":
            table = contract.TABLES_BY_REF.get(relation.read.table)
            partitions, _, _ = partitions_named(table, relation.read)
            return self.table_rows(relation.read.table, partitions)
        if kind == "filter":
            rows = inputs[0]
            for restriction in relation.restricted_by:
                rows = min(rows, self.relation_rows(restriction))
            base = _base_read(relation.inputs[0])
            if base is not None and base.table in contract.TABLES_BY_REF:
                for days in _day_filters(contract.table(base.table), relation.conditions):
                    rows = min(rows, days * self.retailer.partition_rows(base.table))
            if base is not None and base.table == "ops.run_changes":
                for condition in relation.conditions:
                    if condition.column == "table_name" and condition.literal in contract.TABLES_BY_REF:
                        rows = min(rows, self.retailer.changes_rows(condition.literal))
            return rows
        if kind == "join":
            if relation.detail == "right":
                return inputs[1]
            if relation.detail == "full":
                return max(inputs)
            if relation.detail == "cross":
                return inputs[0] * inputs[1]
            if relation.detail == "inner":
                return min(inputs)
            return inputs[0]
        if kind == "set":
            if relation.detail.startswith("union"):
                return sum(inputs)
            if relation.detail.startswith("intersect"):
                return min(inputs)
            return inputs[0]
        if kind == "aggregate":
            return inputs[0] if relation.detail == "grouped" else 1.0
        if kind == "unnest":
            return float(PARAMETER_DAYS.get(_parameter(relation.value), 1))
        if kind == "single_row":
            return 1.0
        return inputs[0] if inputs else 1.0


# ---------------------------------------------------------------------------
# A whole daily run
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowingRead:
    """A table scan whose bytes grow with history: the statement, the table and why nothing prunes it."""

    step: str
    statement: StatementReads
    table: str
    first_bytes: float
    last_bytes: float
    reason: str


@dataclass
class Estimate:
    rows_per_day: float
    days: tuple[int, int]
    statements: dict[str, list[tuple[StatementCost, StatementCost]]] = field(default_factory=dict)
    unanalysed: dict[str, list[str]] = field(default_factory=dict)

    def step_bytes(self, step: str, which: int) -> float:
        return sum(pair[which].bytes for pair in self.statements.get(step, ()))

    def group_bytes(self, group: str, which: int) -> float:
        return sum(self.step_bytes(s.name, which) for s in contract.PIPELINE if STEP_KIND_GROUPS[s.kind] == group)

    def total_bytes(self, which: int) -> float:
        return sum(self.step_bytes(s.name, which) for s in contract.PIPELINE)

    def temporary_bytes(self, which: int) -> float:
        """The part of the total that reads temporary tables (sized by the model's upper bounds)."""
        return sum(scan.bytes for pairs in self.statements.values() for pair in pairs for scan in pair[which].scans
                   if scan.scan.table not in contract.TABLES_BY_REF)

    def growing_reads(self) -> list[GrowingRead]:
        found: list[GrowingRead] = []
        for step, pairs in self.statements.items():
            for first, last in pairs:
                for first_scan, last_scan in zip(first.scans, last.scans):
                    if last_scan.bytes <= max(first_scan.bytes * GROWTH_THRESHOLD, 1.0):
                        continue
                    if first_scan.scan.table not in contract.TABLES_BY_REF:
                        reason = "temporary table sized by a history-sized read"
                    elif first_scan.scan.unpruned_filter:
                        reason = (f"filter on {first_scan.scan.unpruned_filter.split()[0]}, not the partition column "
                                  f"{contract.table(first_scan.scan.table).partition_by}")
                    elif contract.table(first_scan.scan.table).partition_by is None:
                        reason = "whole table (not partitioned)"
                    elif first_scan.scan.partitions is None:
                        reason = "whole table, no partition filter"
                    else:
                        reason = "pruned partitions grow"
                    found.append(GrowingRead(step, first.found, first_scan.scan.table, first_scan.bytes,
                                             last_scan.bytes, reason))
                if last.modified_bytes > max(first.modified_bytes * GROWTH_THRESHOLD, 1.0):
                    target = contract.table(first.found.target)
                    why = "not partitioned" if target.partition_by is None else "its filter does not prune"
                    found.append(GrowingRead(step, first.found, f"{target.ref} (DML target, all columns)",
                                             first.modified_bytes, last.modified_bytes,
                                             f"{first.found.kind.upper()} pays every column of the whole table ({why})"))
        return sorted(found, key=lambda g: -g.last_bytes)


def _condition(data: dict) -> Condition:
    return Condition(**data)


def _read(data: dict) -> Read:
    return Read(data["table"], tuple(data["columns"]), tuple(_condition(c) for c in data["conditions"]),
                data["is_target"])


def _relation(data: dict | None) -> Relation | None:
    if data is None:
        return None
    return Relation(
        data["kind"], tuple(_relation(r) for r in data["inputs"]), _read(data["read"]) if data["read"] else None,
        tuple(_condition(c) for c in data["conditions"]), tuple(_relation(r) for r in data["restricted_by"]),
        data["detail"], data["value"],
    )


def _statement_reads(data: dict) -> StatementReads:
    columns = tuple(
        OutputColumn(c["name"], c["type"], tuple(c["copied_from"]) if c["copied_from"] else None,
                     tuple(tuple(source) for source in c["sources"]))
        for c in data["columns"]
    )
    return StatementReads(data["kind"], data["line"], data["text"], tuple(_read(r) for r in data["reads"]),
                          data["target"], data["temporary"], _relation(data["relation"]), columns, data["error"])


# The analysis of each step's procedure, kept on disk per pipeline digest and catalog: the analysis is
# the slow part of an estimate and depends only on the generated SQL, the catalog and this analysis code.
_ANALYSES = DiskCache(f"cost-reads-zetasql-{ZETASQL_VERSION}", Path(reads_module.__file__), Path(__file__),
                      contract.REPO_ROOT / "customer360" / "sqlgen" / "__init__.py")


def step_reads(steps: Sequence[contract.Step] | None = None) -> dict[str, list[StatementReads]]:
    """Every statement of each step's stored procedure, analysed by ZetaSQL (slow the first time: seconds a step)."""
    from customer360 import sqlgen
    from customer360.zeta import Catalog

    catalog = Catalog.from_contract()
    catalog_digest = hashlib.sha256(catalog.proto().SerializeToString(deterministic=True)).hexdigest()
    variables = {contract.procedure_argument(p): t for p, t in contract.QUERY_PARAMETERS.items()}
    found: dict[str, list[StatementReads]] = {}
    for step in steps or contract.PIPELINE:
        key = _ANALYSES.key(step.name, sqlgen.pipeline_digest(), catalog_digest)
        cached = _ANALYSES.get(key)
        if cached is not None:
            found[step.name] = [_statement_reads(data) for data in cached]
            continue
        analysed = reads_module.script_reads(sqlgen.procedure_body(step), catalog, variables=variables, keep_going=True)
        _ANALYSES.put(key, [dataclasses.asdict(statement) for statement in analysed])
        found[step.name] = analysed
    _ANALYSES.save()
    return found


def estimate(rows_per_day: float, history_days: int, reads: dict[str, list[StatementReads]] | None = None,
             first_day: int = 1) -> Estimate:
    """Day `first_day` and day `history_days` of the demo retailer at rows_per_day raw rows a day."""
    reads = step_reads() if reads is None else reads
    retailer = Retailer(rows_per_day)
    result = Estimate(rows_per_day, (first_day, history_days))
    days = (DayEstimate(retailer, first_day), DayEstimate(retailer, history_days))
    for step in contract.PIPELINE:
        if step.name not in reads:
            continue
        pairs = []
        for found in reads[step.name]:
            if found.kind == "unanalysed":
                result.unanalysed.setdefault(step.name, []).append(f"line {found.line}: {found.error}")
                continue
            pairs.append((days[0].statement(step.name, found), days[1].statement(step.name, found)))
        result.statements[step.name] = pairs
    return result


def demo_rows_per_day() -> float:
    """The demo retailer's raw rows on a regular delivery day (generator scale 1)."""
    from customer360.cost_model import MEASURED_DAILY_RAW_ROWS

    return round(sum(MEASURED_DAILY_RAW_ROWS.values()))


def format_bytes(value: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} B"


def ratio(first: float, last: float) -> str:
    if first <= 0:
        return "-" if last <= 0 else "new"
    return f"{last / first:.2f}x"


def as_json(result: Estimate) -> dict:
    first, last = result.days
    growing = result.growing_reads()
    return {
        "rows_per_day": result.rows_per_day,
        "days": [first, last],
        "steps": [
            {"step": s.name, "kind": s.kind, f"day_{first}_bytes": round(result.step_bytes(s.name, 0)),
             f"day_{last}_bytes": round(result.step_bytes(s.name, 1)),
             "unanalysed": result.unanalysed.get(s.name, [])}
            for s in contract.PIPELINE if s.name in result.statements
        ],
        "totals": {group: {f"day_{first}_bytes": round(result.group_bytes(group, 0)),
                           f"day_{last}_bytes": round(result.group_bytes(group, 1))}
                   for group in ("silver", "quality", "intermediate", "gold")},
        "stored_tables": {f"day_{first}_bytes": round(result.total_bytes(0) - result.temporary_bytes(0)),
                          f"day_{last}_bytes": round(result.total_bytes(1) - result.temporary_bytes(1))},
        "temporary_tables": {f"day_{first}_bytes": round(result.temporary_bytes(0)),
                             f"day_{last}_bytes": round(result.temporary_bytes(1))},
        "growing_reads": [
            {"step": g.step, "line": g.statement.line, "statement": g.statement.summary, "table": g.table,
             f"day_{first}_bytes": round(g.first_bytes), f"day_{last}_bytes": round(g.last_bytes), "reason": g.reason}
            for g in growing
        ],
    }


def steps_in(groups: Iterable[str]) -> list[contract.Step]:
    wanted = set(groups)
    return [s for s in contract.PIPELINE if STEP_KIND_GROUPS[s.kind] in wanted]

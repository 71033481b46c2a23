"""Test helpers: write small deliveries from rows and run them through the local engine."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb

from customer360 import contract, dialect, engine

DAY1 = dt.date(2026, 1, 5)
DAY2 = dt.date(2026, 1, 6)


def write_delivery(folder: Path, rows_by_source: dict[str, list[dict[str, str]]]) -> Path:
    """Writes <source>.csv files with the contract header; missing columns are empty."""
    folder.mkdir(parents=True, exist_ok=True)
    for source_name, rows in rows_by_source.items():
        columns = contract.SOURCES_BY_NAME[source_name].column_names
        unknown = {key for row in rows for key in row} - set(columns)
        assert not unknown, f"test rows for {source_name} name unknown columns {sorted(unknown)}"
        with (folder / f"{source_name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([row.get(c, "") for c in columns])
    return folder


class Pipeline:
    """One warehouse in a temporary folder, fed delivery by delivery."""

    def __init__(self, root: Path):
        self.root = root
        self.warehouse = root / "warehouse.duckdb"
        self._deliveries = 0

    def run(self, rows_by_source: dict[str, list[dict[str, str]]], run_date: dt.date = DAY1, **options):
        self._deliveries += 1
        folder = write_delivery(self.root / f"delivery-{self._deliveries}", rows_by_source)
        return engine.run_delivery(folder, run_date, self.warehouse, **options)

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        connection = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            return connection.execute(sql, parameters or []).fetchall()
        finally:
            connection.close()

    def rows(self, sql: str) -> list[dict]:
        connection = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            cursor = connection.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def one(self, sql: str) -> dict:
        found = self.rows(sql)
        assert len(found) == 1, f"expected one row from {sql!r}, got {len(found)}: {found}"
        return found[0]


def order_line(key: str, line: str = "1", **values: str) -> dict[str, str]:
    row = {
        "order_id": key, "line_number": line, "customer_id": "C1", "order_ts": "2026-01-05 10:00:00",
        "channel": "web", "product_id": "P1", "quantity": "1", "unit_price": "10.00", "discount_amount": "",
        "order_status": "completed",
    }
    row.update(values)
    return row


def sale_line(key: str, line: str = "1", **values: str) -> dict[str, str]:
    row = {
        "transaction_id": key, "line_number": line, "store_id": "S1", "loyalty_card_id": "",
        "transaction_ts": "2026-01-05 12:00:00", "product_id": "P1", "quantity": "1", "unit_price": "10.00",
        "discount_amount": "", "payment_method": "card",
    }
    row.update(values)
    return row


def ticket(key: str, **values: str) -> dict[str, str]:
    row = {
        "ticket_id": key, "customer_id": "", "customer_email": "", "agent_id": "A1", "channel": "email",
        "category": "billing", "created_at": "2026-01-05 09:00:00", "resolved_at": "", "status": "open",
        "csat_score": "",
    }
    row.update(values)
    return row


def customer(key: str, **values: str) -> dict[str, str]:
    row = {"customer_id": key, "first_name": "Ann", "last_name": "Lee", "updated_at": "2026-01-01 00:00:00"}
    row.update(values)
    return row


def member(key: str, **values: str) -> dict[str, str]:
    row = {"loyalty_card_id": key, "tier": "bronze", "points_balance": "0", "updated_at": "2026-01-01 00:00:00"}
    row.update(values)
    return row


_TRANSLATED: dict[tuple, str] = {}


def duckdb_sql(sql: str, parameters: dict[str, object] | None = None) -> str:
    """dialect.transpile_one(SQL, PARAMETERS), remembered for the test process: the tests translate the same
    reference queries with the same values example after example (a quarter of a second each)."""
    key = (sql, None if parameters is None else tuple(sorted((name, repr(value)) for name, value in parameters.items())))
    if key not in _TRANSLATED:
        _TRANSLATED[key] = dialect.transpile_one(sql, parameters)
    return _TRANSLATED[key]


def snapshot(warehouse: Path, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, so two warehouse states compare equal exactly when their data does."""
    if not warehouse.exists():
        return {}
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        return {
            name: sorted(connection.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            for (name,) in tables
            if name not in skip
        }
    finally:
        connection.close()


RUN_LOGS = ("ops.pipeline_runs", "ops.data_quality_results", "ops.run_partitions", "ops.run_changes",
            "ops.warehouse_info")
# Columns that name the run or the moment of a load or run: what a forced re-run may change.
RUN_COLUMNS = {
    "ops.rejected_rows": ("run_id",),
    "ops.processed_partitions": ("run_id", "processed_at", "loaded_at"),
    "ops.raw_partitions": ("loaded_at", "files"),
}


def without_run_ids(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Drops the run logs and the columns naming runs and load times: what a forced re-run may change."""
    kept = {name: rows for name, rows in tables.items() if name not in RUN_LOGS}
    for name, columns in RUN_COLUMNS.items():
        if name in kept:
            names = contract.table(name).column_names
            dropped = {names.index(c) for c in columns}
            kept[name] = sorted(
                (tuple(v for i, v in enumerate(row) if i not in dropped) for row in kept[name]), key=repr
            )
    return kept


# ---------------------------------------------------------------------------
# Row accounting and raw CSV bytes (robustness tests)
# ---------------------------------------------------------------------------

from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402


@dataclass
class Accounting:
    """Where the raw rows of one source and delivery day went."""

    raw: int = 0  # data rows in the day's raw partition (exact header lines excluded)
    header_lines: int = 0  # exact copies of the header line (a repeated header is not data)
    kept: int = 0  # not rejected, and their cleaned key is in silver
    rejected: Counter = field(default_factory=Counter)  # ops.rejected_rows of the day, by reason
    unaccounted: int = 0  # neither rejected nor kept: lost rows

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())


def _accounting_sql(source: contract.Source) -> str:
    exact_header = " and ".join(f"coalesce(delivered.{c}, '') = '{c}'" for c in source.column_names)
    rejected = (
        f"select raw_values from ops.rejected_rows where source = '{source.name}' and delivery_date = @run_date"
    )
    def cleaned_key(column: str) -> str:
        cleaner = "silver.parse_whole_number" if source.silver.column(column).type == "INT64" else "silver.clean_string"
        return f"{cleaner}(delivered.{column})"

    key_match = " and ".join(f"kept.{k} = {cleaned_key(k)}" for k in source.primary_key)
    raw_record = "to_json_string(struct(" + ", ".join(f"delivered.{c} as {c}" for c in source.column_names) + "))"
    return (
        f"select countif(not is_header) as raw, countif(is_header) as header_lines,\n"
        f"  countif(not is_header and not is_rejected and is_kept) as kept,\n"
        f"  countif(not is_header and not is_rejected and not is_kept) as unaccounted,\n"
        f"from (\n"
        f"  select ({exact_header}) as is_header,\n"
        f"    {raw_record} in ({rejected}) as is_rejected,\n"
        f"    exists (select 1 from {source.silver.ref} as kept where {key_match}) as is_kept,\n"
        f"  from raw.{source.name} as delivered where _PARTITIONDATE = @run_date\n"
        f")"
    )


def account(warehouse: Path, run_date: dt.date) -> dict[str, Accounting]:
    """For every source delivered on RUN_DATE: raw rows, kept, rejected by reason, and unaccounted (lost) rows.

    Independent of the pipeline's own conservation check: every raw row that is not an exact header line
    must be either in ops.rejected_rows (matched on its raw values) or kept under its cleaned key.
    """
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        found: dict[str, Accounting] = {}
        for source in contract.SOURCES:
            sql = duckdb_sql(_accounting_sql(source), {"run_date": run_date})
            raw, header_lines, kept, unaccounted = connection.execute(sql).fetchone()
            reasons = Counter(
                dict(
                    connection.execute(
                        "SELECT reason, count(*) FROM ops.rejected_rows "
                        "WHERE source = ? AND delivery_date = ? GROUP BY reason",
                        [source.name, run_date],
                    ).fetchall()
                )
            )
            if raw or header_lines or reasons:
                found[source.name] = Accounting(raw, header_lines, kept, reasons, unaccounted)
        return found
    finally:
        connection.close()


def csv_bytes(
    source_name: str,
    rows: list,
    *,
    header: list[str] | None = None,
    line_end: str = "\n",
    bom: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """A CSV file as bytes: the contract header (or HEADER) and ROWS (dicts in contract order, or lists)."""
    columns = list(contract.SOURCES_BY_NAME[source_name].column_names)

    def field(value: str) -> str:
        # RFC 4180: quote a value holding a comma, a quote, CR or LF (csv.writer leaves a bare CR unquoted
        # when the line end is LF).
        return '"' + value.replace('"', '""') + '"' if any(ch in value for ch in ',"\r\n') else value

    lines = [header if header is not None else columns]
    lines += [[row.get(c, "") for c in columns] if isinstance(row, dict) else row for row in rows]
    text = "".join(",".join(field(v) for v in line) + line_end for line in lines)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def comparable(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Tables with floats rounded to 12 significant digits, re-sorted.

    FLOAT64 averages (agent_performance_summary.avg_resolution_hours) depend on the order rows are summed
    in, which follows the order they were inserted: equal data may differ in the last bits.
    """

    def value(v):
        return float(f"{v:.12g}") if isinstance(v, float) else v

    return {name: sorted((tuple(value(v) for v in row) for row in rows), key=repr) for name, rows in tables.items()}


def without_delivery_dates(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Silver tables without _delivery_date (the delivery the kept row came from), re-sorted."""
    kept = {}
    for name, rows in tables.items():
        table = contract.TABLES_BY_REF.get(name)
        if table is not None and table.dataset == "silver" and contract.DELIVERY_DATE_COLUMN in table.column_names:
            position = table.column_names.index(contract.DELIVERY_DATE_COLUMN)
            rows = sorted((row[:position] + row[position + 1:] for row in rows), key=repr)
        kept[name] = rows
    return kept


def table_digests(warehouse: Path, *, skip: tuple[str, ...] = RUN_LOGS) -> dict[str, tuple[int, int]]:
    """Every table's row count and an order-independent hash of its rows: equality for warehouses too big
    to compare row by row. Like without_run_ids, it leaves out the run logs and the columns naming runs and
    load times (RUN_COLUMNS); FLOAT64 columns are rounded to 9 decimals (see comparable)."""
    if not warehouse.exists():
        return {}
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [name for (name,) in connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1").fetchall() if name not in skip]
        digests = {}
        for name in names:
            table = contract.TABLES_BY_REF.get(name)
            columns = "*"
            if table is not None:
                selected = [
                    f"round({c.name}, 9) as {c.name}" if c.type == "FLOAT64" else c.name
                    for c in table.columns if c.name not in RUN_COLUMNS.get(name, ())
                ]
                if table.dataset == "raw":
                    selected.append(f'"{contract.RAW_PARTITION_COLUMN}"')
                columns = ", ".join(selected)
            count, digest = connection.execute(
                f"SELECT count(*), coalesce(sum(hash(x)::HUGEINT), 0) FROM (SELECT {columns} FROM {name}) x"
            ).fetchone()
            digests[name] = (count, int(digest))
        return digests
    finally:
        connection.close()

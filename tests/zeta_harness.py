"""Runs the same BigQuery SQL on ZetaSQL's reference evaluator and on DuckDB, and compares the answers."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import duckdb
import pytest

from customer360 import contract, engine, zeta
from pipeline_harness import duckdb_sql

RUN_DATE = dt.date(2024, 3, 11)
PREVIOUS_DAY = RUN_DATE - dt.timedelta(days=1)
PARAMETERS = {"run_date": RUN_DATE, "run_id": "run-0001", "pipeline_digest": "d", "delivery_dates": [RUN_DATE],
              "fallback_dates": [PREVIOUS_DAY]}


@pytest.fixture(scope="session")
def reference() -> zeta.Runtime:
    """The ZetaSQL runtime, loaded once per test process (the compiled module is cached on disk)."""
    return zeta.runtime()


# ---------------------------------------------------------------------------
# Running one query on both engines
# ---------------------------------------------------------------------------


@dataclass
class Answer:
    columns: list[str]
    rows: list[tuple]


def run_reference(sql: str, tables: Mapping[str, Sequence[Mapping[str, Any]]], catalog: zeta.Catalog | None = None) -> Answer:
    result = zeta.evaluate(sql, tables, PARAMETERS, catalog=catalog)
    return Answer(result.column_names, result.rows)


def duckdb_with(tables: Mapping[str, Sequence[Mapping[str, Any]]], extra: Mapping[str, Sequence[tuple[str, str]]] = {}):
    """An in-memory warehouse with the contract's schema (and extra tables), holding the given rows."""
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    engine.ensure_schema(connection)
    for ref, columns in extra.items():
        schema = ref.split(".")[0]
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        connection.execute(
            f"CREATE TABLE {ref} ({', '.join(f'{n} {engine.DUCKDB_TYPES[t]}' for n, t in columns)})"
        )
    for ref, rows in tables.items():
        if not rows:
            continue
        if ref in extra:
            names = [n for n, _ in extra[ref]]
        else:
            names = list(contract.table(ref).column_names)
            if ref.startswith("raw."):
                names.append(contract.RAW_PARTITION_COLUMN)
        quoted = ", ".join(f'"{n}"' for n in names)
        connection.executemany(
            f"INSERT INTO {ref} ({quoted}) VALUES ({', '.join('?' for _ in names)})",
            [[row.get(n) for n in names] for row in rows],
        )
    return connection


def run_duckdb(sql: str, tables: Mapping[str, Sequence[Mapping[str, Any]]], extra=None,
               held: duckdb.DuckDBPyConnection | None = None) -> Answer:
    """SQL on a new in-memory warehouse holding TABLES, or on HELD (duckdb_with of the same tables, kept by
    the caller), inside a transaction rolled back afterwards so the next query finds it unchanged."""
    if held is None:
        connection = duckdb_with(tables, extra or {})
        try:
            cursor = connection.execute(duckdb_sql(sql, dict(PARAMETERS)))
            return Answer([d[0] for d in cursor.description], cursor.fetchall())
        finally:
            connection.close()
    held.execute("BEGIN TRANSACTION")
    try:
        cursor = held.execute(duckdb_sql(sql, dict(PARAMETERS)))
        return Answer([d[0] for d in cursor.description], cursor.fetchall())
    finally:
        held.execute("ROLLBACK")


# ---------------------------------------------------------------------------
# Comparing answers
# ---------------------------------------------------------------------------


def normalise(value: Any) -> Any:
    """One comparable form per value: exact decimals, UTC timestamps, floats to 12 significant digits."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return ("numeric", value.normalize(decimal.Context(prec=80)) if value else decimal.Decimal(0))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ("float", str(value))
        return ("float", float(f"{value:.12g}"))
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(normalise(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, normalise(v)) for k, v in value.items()))
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, repr(v)) for v in row)


def assert_same_answer(label: str, expected: Answer, actual: Answer) -> None:
    """ZetaSQL (expected) and DuckDB (actual) agree on columns and on the multiset of rows."""
    assert [c.lower() for c in actual.columns] == [c.lower() for c in expected.columns], (
        f"{label}: DuckDB returns columns {actual.columns}, ZetaSQL {expected.columns}"
    )
    reference_rows = sorted((tuple(normalise(v) for v in r) for r in expected.rows), key=_sort_key)
    local_rows = sorted((tuple(normalise(v) for v in r) for r in actual.rows), key=_sort_key)
    if reference_rows == local_rows:
        return
    only_reference = [r for r in reference_rows if r not in local_rows]
    only_local = [r for r in local_rows if r not in reference_rows]
    lines = [f"{label}: DuckDB and ZetaSQL (BigQuery) disagree ({len(reference_rows)} vs {len(local_rows)} rows)"]
    for row in only_reference[:5]:
        lines.append(f"  only in ZetaSQL: {dict(zip(expected.columns, row))}")
    for row in only_local[:5]:
        lines.append(f"  only in DuckDB:  {dict(zip(actual.columns, row))}")
    raise AssertionError("\n".join(lines))


def differential(label: str, sql: str, tables, *, catalog: zeta.Catalog | None = None, extra=None,
                 held: duckdb.DuckDBPyConnection | None = None) -> Answer:
    expected = run_reference(sql, tables, catalog)
    actual = run_duckdb(sql, tables, extra, held)
    assert_same_answer(label, expected, actual)
    return expected


# ---------------------------------------------------------------------------
# Edge-case pools: every value the cleaning rules must classify
# ---------------------------------------------------------------------------

TEXT = [None, "", "   ", " Ann ", "\tBo\n", "Ünïcödé", "O'Brien", "a,b", "x" * 40, "Zoë"]
IDS = [None, "", " ", "C1", " C1", "C1 ", "c1", "C2", "C3", "C10", "C9"]
EMAILS = [None, "", "A@B.com", " a@b.co ", "bad", "a@b", "a b@c.com", "x@y.z", "ÜBER@x.de", "a@@b.com", "first.last@sub.example.org"]
PHONES = [None, "", "(555) 123-4567", "1-555-123-4567", "+1 555 123 4567", "555-1234", "25551234567", "15551234567", "555.123.45678", "abc"]
DATES = [
    None, "", "2024-01-31", " 2024-01-31 ", "01/31/2024", "2024-02-30", "02/29/2023", "02/29/2024", "13/01/2024",
    "2024-1-5", "2024/01/05", "20240105", "0001-01-01", "9999-12-31", "31/12/2024", "12/31/2024", "2024-00-10",
    "1/5/2024", "2024-01-31T00:00:00",
]
TIMESTAMPS = [
    None, "", "2024-03-10 02:30:00", "2024-03-10T02:30:00", "2024-03-10 02:30:00.123456", "2024-03-10 02:30:00.1",
    "2024-03-10 02:30:00.1234567", "2024-03-10T23:59:59Z", "2024-03-10T23:59:59+05:30", "2024-03-10 01:00:00-08:00",
    "2024-03-10", "2024-13-01 00:00:00", "2024-02-30T00:00:00", "2024-03-10 24:00:00", "2024-03-10 23:60:00",
    "2024-03-10 23:59:60", "now", "1970-01-01T00:00:00+14:00", "2024-03-10T10:00:00+0530", "2024-03-10 10:00",
    "03/10/2024 10:00:00", "2024-03-10T10:00:00.000000Z", " 2024-03-11 00:00:00 ", "2024-03-10T18:00:00-12:00",
]
MONEY = [
    None, "", "0", "0.00", "$12.50", "-1", "-$1", "$-1", "12.3456789", "12.1234567891", "0.0000000005",
    "9999999999.999999999", "99999999999", "1e3", "1,000", " 7 ", ".5", "5.", "abc", "$", "19.99", "3",
]
QUANTITIES = [None, "", "1", "0", "-2", "2.0", "3", "99999999999999999999", " 4 ", "x", "+5", "007", "2"]
DISCOUNTS = [None, "", "0", "1.5", "-0.5", "abc", "$2", "1000000", "0.333333333", "2.0000000005"]
ONLINE_CHANNELS = [None, "", "web", " WEB ", "Mobile_App", "mobile app", "store", "web"]
ORDER_STATUSES = [None, "", "completed", " Completed ", "CANCELLED", "returned", "refunded", "completed"]
TICKET_CHANNELS = [None, "phone", " Email ", "CHAT", "fax", "chat"]
TICKET_STATUSES = [None, "open", "Pending", " resolved ", "CLOSED", "reopened", "closed"]
TIERS = [None, "", "gold", " Gold ", "PLATINUM", "silver", "bronze", "diamond", "Silver"]
CSAT = [None, "", "1", "5", "0", "6", "3.0", "4", " 2 ", "x", "-1"]
WHOLE_NUMBERS = [None, "", "0", "120", "-5", "1.5", "1e2", " 300 ", "99999999999999999999", "abc"]

_POOLS_BY_COLUMN = {
    "email": EMAILS,
    "customer_email": EMAILS,
    "phone": PHONES,
    "birth_date": DATES,
    "signup_date": DATES,
    "opened_date": DATES,
    "enrolled_date": DATES,
    "hire_date": DATES,
    "updated_at": TIMESTAMPS,
    "order_ts": TIMESTAMPS,
    "transaction_ts": TIMESTAMPS,
    "created_at": TIMESTAMPS,
    "resolved_at": TIMESTAMPS,
    "unit_price": MONEY,
    "discount_amount": DISCOUNTS,
    "quantity": QUANTITIES,
    "line_number": WHOLE_NUMBERS[:6] + ["1", "2", "3"],
    "points_balance": WHOLE_NUMBERS,
    "tier": TIERS,
    "csat_score": CSAT,
    "order_status": ORDER_STATUSES,
    "status": TICKET_STATUSES,
}


def _key_pool(source: contract.Source, column: str) -> list:
    prefix = {"customer_id": "C", "product_id": "P", "store_id": "S", "order_id": "O", "transaction_id": "T",
              "loyalty_card_id": "L", "ticket_id": "K", "agent_id": "A"}.get(column)
    if prefix is None:
        return TEXT
    return [None, "", " ", f"{prefix}1", f" {prefix}1", f"{prefix}1 ", f"{prefix}2", f"{prefix}3", f"{prefix}4", f"{prefix}10"]


def raw_rows(source: contract.Source, count: int = 45, seed: int = 7) -> list[dict[str, Any]]:
    """Raw delivery rows mixing valid and invalid values, duplicates and two partitions."""
    rng = random.Random(f"{source.name}-{seed}")
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {}
        for column in source.column_names:
            if column == "channel":
                pool = ONLINE_CHANNELS if source.name == "online_orders" else TICKET_CHANNELS
            elif column in _POOLS_BY_COLUMN and not (column == "line_number" and False):
                pool = _POOLS_BY_COLUMN[column]
            elif column.endswith("_id"):
                pool = _key_pool(source, column)
            else:
                pool = TEXT
            # Mostly valid-looking values, so that many rows survive to de-duplication.
            row[column] = rng.choice(pool[2:] if rng.random() < 0.7 and len(pool) > 3 else pool)
        row[contract.RAW_PARTITION_COLUMN] = RUN_DATE if rng.random() < 0.85 else PREVIOUS_DAY
        rows.append(row)
    # Exact duplicates and same-key rows differing in one column: ties for de-duplication.
    for row in list(rows[:6]):
        rows.append(dict(row))
        changed = dict(row)
        changed[source.column_names[-1]] = rng.choice(TEXT)
        rows.append(changed)
    # A header row kept by a cloud load (skip_leading_rows=0 or a second file).
    header = {c: c for c in source.column_names}
    header[contract.RAW_PARTITION_COLUMN] = RUN_DATE
    rows.append(header)
    return rows


def all_raw_tables(seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    return {source.raw.ref: raw_rows(source, seed=seed) for source in contract.SOURCES}


# ---------------------------------------------------------------------------
# Typed silver rows for the identity, quality and gold steps
# ---------------------------------------------------------------------------

_UTC = dt.timezone.utc
D = decimal.Decimal


def _ts(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute, second, micro, tzinfo=_UTC)


def silver_tables(seed: int = 11) -> dict[str, list[dict[str, Any]]]:
    """Silver rows with shared keys, unknown references, ties, NULLs and high-precision money."""
    rng = random.Random(seed)
    day = {contract.DELIVERY_DATE_COLUMN: RUN_DATE}
    emails = ["ann@x.com", "bo@y.org", None, "shared@z.net", "shared@z.net", "eve@q.io"]
    phones = ["+15551230001", None, "+15551230002", "+15551230002", None, "+15551230003"]
    customers = []
    for i in range(1, 10):
        customers.append({
            "customer_id": f"C{i}", "first_name": rng.choice(["Ann", None, "Zoë"]), "last_name": rng.choice(["Lee", None]),
            "email": emails[i % len(emails)], "phone": phones[i % len(phones)],
            "birth_date": rng.choice([None, dt.date(1990, 2, 28)]), "city": rng.choice(["Austin", None]),
            "state": "TX", "country": "US", "signup_date": rng.choice([None, dt.date(2023, 5, 1), dt.date(2024, 1, 1)]),
            "updated_at": rng.choice([None, _ts(1, 0)]), **day,
        })
    loyalty = []
    tiers = [None, "Bronze", "Silver", "Gold", "Platinum"]
    for i in range(1, 16):
        loyalty.append({
            "loyalty_card_id": f"L{i:02d}",
            "customer_id": rng.choice([None, "C1", "C2", "C3", "C99", f"C{i % 9 + 1}"]),
            "email": rng.choice([None, "shared@z.net", "bo@y.org", f"member{i}@m.com"]),
            "phone": rng.choice([None, "+15551230002", "+15551230003", f"+1555999{i:04d}"]),
            "first_name": rng.choice([None, "Lu"]), "last_name": rng.choice([None, "Ng"]),
            "tier": rng.choice(tiers), "points_balance": rng.choice([None, 0, 100, 100, 2500]),
            "enrolled_date": rng.choice([None, dt.date(2022, 7, 4)]), "updated_at": rng.choice([None, _ts(2, 3)]), **day,
        })
    products = [
        {"product_id": f"P{i}", "product_name": rng.choice([f"Product {i}", None]),
         "category": rng.choice(["Toys", "Books", "Uncategorized"]), "brand": rng.choice(["Acme", None]),
         "unit_price": rng.choice([None, D("19.99"), D("0.000000001")]), "updated_at": None, **day}
        for i in range(1, 6)
    ]
    stores = [
        {"store_id": f"S{i}", "store_name": rng.choice([f"Store {i}", None]), "city": "Austin", "state": "TX",
         "region": rng.choice(["South", None]), "opened_date": None, **day}
        for i in range(1, 4)
    ]
    prices = [D("19.99"), D("0.000000001"), D("12345678.123456789"), D("3"), D("0.1"), D("0.2"), D("1.005")]
    online = []
    for i in range(1, 41):
        quantity = rng.choice([1, 1, 2, 3, 7])
        price = rng.choice(prices)
        discount = rng.choice([D(0), D(0), D("0.01"), D("0.333333333")])
        discount = min(discount, quantity * price)
        online.append({
            "order_id": f"O{rng.randint(1, 16)}", "line_number": i,
            "customer_id": rng.choice([None, "C1", "C2", "C3", "C4", "C5", "C99"]),
            "order_ts": rng.choice([_ts(3, 0), _ts(3, 23, 59, 59, 999999), _ts(4, 12, 30), _ts(5, 9), _ts(9, 18, 0, 0, 1)]),
            "channel": rng.choice(["web", "mobile_app"]), "product_id": rng.choice([None, "P1", "P2", "P3", "P404"]),
            "quantity": quantity, "unit_price": price, "discount_amount": discount,
            "line_revenue": quantity * price - discount,
            "order_status": rng.choice(["completed", "completed", "cancelled", "returned"]), **day,
        })
    store_sales = []
    for i in range(1, 36):
        quantity = rng.choice([1, 2, 5])
        price = rng.choice(prices)
        discount = rng.choice([D(0), D("0.05")])
        discount = min(discount, quantity * price)
        store_sales.append({
            "transaction_id": f"T{rng.randint(1, 14)}", "line_number": i,
            "store_id": rng.choice([None, "S1", "S2", "S3", "S404"]),
            "loyalty_card_id": rng.choice([None, "L01", "L02", "L03", "L07", "L12", "L99"]),
            "transaction_ts": rng.choice([_ts(3, 10), _ts(6, 10), _ts(7, 23, 0, 0, 5), _ts(10, 0, 0, 0, 1)]),
            "product_id": rng.choice([None, "P1", "P4", "P5", "P404"]), "quantity": quantity, "unit_price": price,
            "discount_amount": discount, "line_revenue": quantity * price - discount,
            "payment_method": rng.choice(["card", "cash", None]), **day,
        })
    tickets = []
    for i in range(1, 31):
        created = rng.choice([_ts(3, 8), _ts(4, 8, 15), _ts(8, 23, 59), _ts(9, 0, 0, 30)])
        status = rng.choice(["open", "pending", "resolved", "closed"])
        resolved = None
        if status in ("resolved", "closed") and rng.random() < 0.85:
            resolved = created + dt.timedelta(minutes=rng.choice([0, 1, 59, 61, 1439, 1441, 4321]), microseconds=rng.choice([0, 1]))
        tickets.append({
            "ticket_id": f"K{i}", "customer_id": rng.choice([None, "C1", "C3", "C99"]),
            "customer_email": rng.choice([None, "shared@z.net", "member3@m.com", "ann@x.com", "nobody@n.com"]),
            "agent_id": rng.choice([None, "A1", "A2", "A3", "A9"]), "channel": rng.choice(["phone", "email", "chat"]),
            "category": rng.choice(["billing", None]), "created_at": created, "resolved_at": resolved, "status": status,
            "csat_score": rng.choice([None, 1, 3, 5]), **day,
        })
    agents = [
        {"agent_id": f"A{i}", "agent_name": rng.choice([f"Agent {i}", None]), "team": rng.choice(["Tier 1", None]),
         "hire_date": None, **day}
        for i in range(1, 5)
    ]
    tables = {
        "silver.customers": customers,
        "silver.loyalty_members": loyalty,
        "silver.products": products,
        "silver.stores": stores,
        "silver.online_order_lines": online,
        "silver.store_sale_lines": store_sales,
        "silver.support_tickets": tickets,
        "silver.support_agents": agents,
    }
    return tables | identifier_counts(tables)


def identifier_counts(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The identifier count tables (contract.IdentifierCounts) of the silver rows in TABLES, as their silver
    steps keep them: each non-NULL value with its number of rows."""
    counted = {}
    for source in contract.SOURCES:
        counts = source.identifier_counts
        if counts is None or source.silver.ref not in tables:
            continue
        tally: dict[str, int] = {}
        for row in tables[source.silver.ref]:
            if row.get(counts.column) is not None:
                tally[row[counts.column]] = tally.get(row[counts.column], 0) + 1
        counted[counts.table.ref] = [{counts.column: value, "row_count": n} for value, n in sorted(tally.items())]
    return counted


def as_rows(answer: Answer) -> list[dict[str, Any]]:
    return [dict(zip(answer.columns, row)) for row in answer.rows]

"""A small hand-made warehouse with the contract's tables, for the dashboard and export tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from customer360.contract import ALL_TABLES, DATASETS, PIPELINE, QUALITY_CHECKS, SOURCES, Table

DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "NUMERIC": "DECIMAL(38,9)",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
}

RUN_DATES = (dt.date(2024, 6, 1), dt.date(2024, 6, 2))
CHANNELS = ("web", "mobile_app", "in_store", "support_phone", "support_email", "support_chat")
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# A customer every lookup test can find: key, name and e-mail.
KNOWN_CUSTOMER = {"customer_key": "C003", "first_name": "Grace", "last_name": "Hopper", "email": "grace.hopper@example.com"}


def create_tables(connection: duckdb.DuckDBPyConnection, tables: tuple[Table, ...] = ALL_TABLES) -> None:
    for dataset in DATASETS:
        connection.execute(f"create schema if not exists {dataset}")
    for t in tables:
        columns = ", ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in t.columns)
        connection.execute(f"create table {t.ref} ({columns})")


def insert(connection: duckdb.DuckDBPyConnection, ref: str, rows: list[dict]) -> None:
    if not rows:
        return
    names = list(rows[0])
    row_placeholder = "(" + ", ".join("?" for _ in names) + ")"
    # One statement for all rows: DuckDB's executemany is slow row by row.
    connection.execute(
        f"insert into {ref} ({', '.join(names)}) values {', '.join(row_placeholder for _ in rows)}",
        [row[n] for row in rows for n in names],
    )


def _ts(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)


PEOPLE = [
    # key, crm id, card, first, last, tier, points, online orders, online revenue, store tx, store revenue, tickets, open, csat, segment
    ("C001", "C001", "LC100", "Ada", "Lovelace", "Platinum", 5400, 6, 1320.50, 4, 880.00, 2, 0, 4.5, "High-Value"),
    ("C002", "C002", "LC101", "Alan", "Turing", "Gold", 2100, 3, 310.00, 2, 140.25, 1, 1, None, "Loyalty Champions"),
    ("C003", "C003", None, "Grace", "Hopper", None, None, 1, 89.99, 0, 0.0, 3, 1, 3.0, "One-Time Buyers"),
    ("C004", "C004", "LC102", "Edsger", "Dijkstra", "Silver", 800, 2, 150.00, 1, 45.00, 0, 0, None, "Repeat Buyers"),
    ("C005", "C005", None, "Barbara", "Liskov", None, None, 0, 0.0, 0, 0.0, 1, 0, 5.0, "Prospects"),
    ("C006", "C006", "LC103", "Donald", "Knuth", "Bronze", 120, 1, 35.00, 0, 0.0, 0, 0, None, "One-Time Buyers"),
    ("C007", "C007", None, "Frances", "Allen", None, None, 4, 420.00, 0, 0.0, 0, 0, None, "Repeat Buyers"),
    ("C008", "C008", None, "Ken", "Thompson", None, None, 0, 0.0, 0, 0.0, 0, 0, None, "Prospects"),
    ("C009", "C009", "LC104", "Margaret", "Hamilton", "Gold", 3100, 5, 990.00, 3, 610.00, 1, 0, 2.0, "High-Value"),
    ("C010", "C010", None, "John", "Backus", None, None, 2, 75.50, 0, 0.0, 0, 0, None, "Repeat Buyers"),
    ("L-LC900", None, "LC900", "Radia", "Perlman", "Silver", 450, 0, 0.0, 2, 96.00, 0, 0, None, "Repeat Buyers"),
    ("L-LC901", None, "LC901", "Leslie", "Lamport", "Bronze", 20, 0, 0.0, 0, 0.0, 0, 0, None, "Prospects"),
]


def _customers() -> tuple[list[dict], list[dict]]:
    profiles, segments = [], []
    for index, (key, crm, card, first, last, tier, points, online_n, online_rev, store_n, store_rev,
                tickets, open_tickets, csat, segment) in enumerate(PEOPLE):
        orders = online_n + store_n
        first_order = _ts(dt.date(2024, 1, 5 + index), 10) if orders else None
        last_order = _ts(dt.date(2024, 5, 20 + index), 15) if orders else None
        email = f"{first}.{last}@example.com".lower()
        profiles.append({
            "customer_key": key, "crm_customer_id": crm, "loyalty_card_id": card,
            "first_name": first, "last_name": last, "email": email,
            "phone": f"+1555010{index:04d}", "city": "Springfield" if crm else None, "state": "IL" if crm else None,
            "signup_date": dt.date(2023, 3, 1 + index), "loyalty_tier": tier, "points_balance": points,
            "online_order_count": online_n, "online_revenue": online_rev,
            "store_transaction_count": store_n, "store_revenue": store_rev,
            "lifetime_revenue": round(online_rev + store_rev, 2),
            "first_order_at": first_order, "last_order_at": last_order,
            "support_ticket_count": tickets, "open_ticket_count": open_tickets, "avg_csat": csat,
            "last_interaction_at": last_order or (_ts(dt.date(2024, 5, 30), 9) if tickets else None),
            "segment": segment,
        })
        segments.append({
            "customer_key": key, "lifetime_revenue": round(online_rev + store_rev, 2), "order_count": orders,
            "first_order_at": first_order, "last_order_at": last_order, "loyalty_tier": tier,
            "is_high_value": segment == "High-Value", "is_one_time_buyer": orders == 1,
            "is_loyalty_champion": tier in ("Gold", "Platinum") and orders >= 2, "segment": segment,
        })
    return profiles, segments


def _average_order_value() -> list[dict]:
    groups = [
        ("store", "ONLINE", "Online", 24, 61, 3390.99),
        ("store", "S01", "Downtown", 12, 29, 1210.25),
        ("store", "S02", "Harbor Mall", 4, 9, 465.00),
        ("store", "S03", "Airport", 2, 3, 96.00),
        # Store ids no silver.stores row names: gold reports each under the name Unknown.
        ("store", "S404", "Unknown", 1, 1, 250.00),
        ("store", "S405", "Unknown", 1, 1, 12.00),
        ("category", "Electronics", "Electronics", 12, 15, 2890.00),
        ("category", "Home", "Home", 10, 30, 1120.24),
        ("category", "Apparel", "Apparel", 9, 33, 740.00),
        ("category", "Unknown", "Unknown", 2, 2, 12.00),
        ("category", "Uncategorized", "Uncategorized", 1, 2, 400.00),
        ("product", "P01", "Noise-cancelling headphones", 8, 9, 1790.00),
        ("product", "P02", "Espresso machine", 5, 5, 1100.00),
        ("product", "P03", "Linen duvet", 6, 12, 600.24),
        ("product", "P04", "Running jacket", 7, 10, 520.00),
        ("product", "P05", "Cast-iron pan", 4, 18, 520.00),
        ("product", "P06", "Wool socks", 5, 23, 220.00),
        ("product", "P07", "Gift card", 1, 2, 400.00),
        ("product", "P99", "Unknown", 2, 2, 12.00),
    ]
    return [
        {"dimension": d, "dimension_id": i, "dimension_name": n, "order_count": o, "units": u,
         "revenue": r, "average_order_value": round(r / o, 9)}
        for d, i, n, o, u, r in groups
    ]


def _channel_activity() -> list[dict]:
    rows = []
    for channel_index, channel in enumerate(CHANNELS):
        cells = []
        for day in range(1, 8):
            for hour in range(24):
                # A daytime hump that peaks at a different hour for every channel.
                busiest_hour = 9 + 2 * channel_index
                count = max(0, 9 - abs(hour - busiest_hour) - (day % 3)) + (3 if (day, hour) == (3, busiest_hour) else 0)
                if count:
                    cells.append((day, hour, count))
        for day, hour, count in cells:
            rank = 1 + sum(1 for _, _, other in cells if other > count)
            rows.append({
                "channel": channel, "day_of_week": DAY_NAMES[day - 1], "day_of_week_number": day,
                "hour_of_day": hour, "activity_count": count,
                "revenue": 0.0 if channel.startswith("support") else round(count * 42.5, 2),
                "distinct_customers": max(1, count - 1), "activity_rank": rank, "is_peak": rank == 1,
            })
    return rows


def _agents() -> list[dict]:
    agents = [
        ("A01", "Maya Chen", "Tier 1", 40, 34, 4, 6.5, 4.4),
        ("A02", "Omar Haddad", "Tier 1", 35, 25, 8, 9.25, 3.9),
        ("A03", "Ines Duarte", "Tier 2", 22, 20, 1, 18.0, 4.7),
        ("A04", "Tom Becker", "Tier 2", 12, 6, 5, 30.5, 3.1),
        ("A05", "Priya Nair", "Escalations", 0, 0, 0, None, None),
        ("A99", "Unknown", None, 3, 1, 2, 2.0, None),
    ]
    return [
        {"agent_id": a, "agent_name": n, "team": t, "tickets_assigned": assigned, "tickets_resolved": resolved,
         "open_tickets": open_, "resolution_rate": (resolved / assigned) if assigned else None,
         "avg_resolution_hours": hours, "avg_csat": csat}
        for a, n, t, assigned, resolved, open_, hours, csat in agents
    ]


def _identity() -> list[dict]:
    rows = [{"source": "customers", "source_id": p[0], "customer_key": p[0], "match_rule": "crm_customer"}
            for p in PEOPLE if p[1]]
    rows += [
        {"source": "loyalty_members", "source_id": "LC100", "customer_key": "C001", "match_rule": "customer_id"},
        {"source": "loyalty_members", "source_id": "LC101", "customer_key": "C002", "match_rule": "email"},
        {"source": "loyalty_members", "source_id": "LC102", "customer_key": "C004", "match_rule": "phone"},
        {"source": "loyalty_members", "source_id": "LC103", "customer_key": "C006", "match_rule": "customer_id"},
        {"source": "loyalty_members", "source_id": "LC104", "customer_key": "C009", "match_rule": "customer_id"},
        {"source": "loyalty_members", "source_id": "LC900", "customer_key": "L-LC900", "match_rule": "loyalty_only"},
        {"source": "loyalty_members", "source_id": "LC901", "customer_key": "L-LC901", "match_rule": "loyalty_only"},
    ]
    rows += [{"source": "online_orders", "source_id": k, "customer_key": k, "match_rule": "customer_id"}
             for k in ("C001", "C002", "C003", "C004", "C006", "C007", "C009", "C010")]
    rows.append({"source": "online_orders", "source_id": "C404", "customer_key": None, "match_rule": "unresolved"})
    rows += [{"source": "store_sales", "source_id": card, "customer_key": key, "match_rule": "loyalty_card"}
             for card, key in (("LC100", "C001"), ("LC101", "C002"), ("LC102", "C004"), ("LC104", "C009"), ("LC900", "L-LC900"))]
    rows += [{"source": "support_tickets", "source_id": f"T{n:03d}", "customer_key": key, "match_rule": rule}
             for n, key, rule in ((1, "C001", "customer_id"), (2, "C001", "customer_id"), (3, "C002", "email"),
                                  (4, "C003", "customer_id"), (5, "C003", "customer_id"), (6, "C003", "email"),
                                  (7, "C005", "customer_id"), (8, "C009", "email"), (9, None, "unresolved"))]
    return rows


def _runs() -> tuple[list[dict], list[dict]]:
    steps = [("load_raw", "load", "raw")]
    steps += [(s.name, s.kind, s.target) for s in PIPELINE]
    runs, checks = [], []
    for run_index, run_date in enumerate(RUN_DATES):
        run_id = f"run-{run_date:%Y%m%d}"
        clock = _ts(run_date + dt.timedelta(days=1), 2, 17)
        for position, (step, kind, target) in enumerate(steps):
            duration = 0.05 + (position % 7) * 0.04 + (0.6 if kind == "gold" else 0.0)
            finished = clock + dt.timedelta(seconds=duration)
            runs.append({
                "run_id": run_id, "run_date": run_date, "step": step, "step_kind": kind, "target_table": target,
                "started_at": clock, "finished_at": finished, "duration_seconds": duration,
                "rows_in": 100 + position, "rows_out": 97 + position,
                "rows_rejected": 3 if kind in ("load", "silver") and position % 3 == 0 else 0,
                "status": "succeeded", "message": None, "engine": "duckdb", "input_fingerprint": f"sha256-{run_index}",
            })
            clock = finished
        runs.append({
            "run_id": run_id, "run_date": run_date, "step": "run", "step_kind": "run", "target_table": None,
            "started_at": _ts(run_date + dt.timedelta(days=1), 2, 17), "finished_at": clock,
            "duration_seconds": (clock - _ts(run_date + dt.timedelta(days=1), 2, 17)).total_seconds(),
            "rows_in": 800, "rows_out": None, "rows_rejected": 7, "status": "succeeded", "message": None,
            "engine": "duckdb", "input_fingerprint": f"sha256-{run_index}",
        })
        for check in QUALITY_CHECKS:
            violating = 3 if check.severity == "warn" else 0
            checks.append({
                "run_id": run_id, "run_date": run_date, "check_name": check.name, "target_table": check.target,
                "severity": check.severity, "violating_rows": violating,
                "status": "warn" if violating else "pass", "checked_at": clock,
            })
    return runs, checks


def _rejects() -> list[dict]:
    rejects = [
        ("online_orders", RUN_DATES[0], "invalid_quantity", "O-17|1", {"order_id": "O-17", "quantity": "-2"}),
        ("online_orders", RUN_DATES[1], "invalid_quantity", "O-44|2", {"order_id": "O-44", "quantity": "1.5"}),
        ("online_orders", RUN_DATES[1], "invalid_channel", "O-45|1", {"order_id": "O-45", "channel": "fax"}),
        ("store_sales", RUN_DATES[0], "invalid_timestamp", "T-9|1", {"transaction_id": "T-9", "transaction_ts": "yesterday"}),
        ("store_sales", RUN_DATES[1], "missing_key", "|1", {"transaction_id": "", "line_number": "1"}),
        ("support_tickets", RUN_DATES[1], "invalid_resolution_time", "T-77", {"ticket_id": "T-77"}),
        ("customers", RUN_DATES[1], "missing_key", "", {"customer_id": ""}),
    ]
    return [
        {"source": s, "delivery_date": d, "reason": r, "record_key": k, "raw_values": json.dumps(v),
         "run_id": f"run-{d:%Y%m%d}"}
        for s, d, r, k, v in rejects
    ]


# The facts' events fall on these seven days (a Monday to a Sunday), so the heatmap covers a week.
ACTIVITY_DAYS = tuple(dt.date(2024, 5, 27) + dt.timedelta(days=n) for n in range(7))


def _silver_rows(identity: list[dict]) -> dict[str, list[dict]]:
    """Silver rows behind the identity map (so the match-rate report has records), keyed columns and event times."""
    old, new = RUN_DATES

    def event(n: int) -> dt.datetime:
        return _ts(ACTIVITY_DAYS[n % len(ACTIVITY_DAYS)], 9 + n % 8)

    ids = {source: [r["source_id"] for r in identity if r["source"] == source] for source in
           ("customers", "loyalty_members", "online_orders", "store_sales", "support_tickets")}
    return {
        "silver.customers": [{"customer_id": c, "_delivery_date": new if n % 2 else old}
                             for n, c in enumerate(ids["customers"])],
        "silver.loyalty_members": [{"loyalty_card_id": c, "_delivery_date": new} for c in ids["loyalty_members"]],
        "silver.online_order_lines": [{"order_id": f"O-{n}", "line_number": 1, "customer_id": c, "order_ts": event(n),
                                       "_delivery_date": new}
                                      for n, c in enumerate(ids["online_orders"])],
        # Two anonymous sales (no card) besides one sale per known card.
        "silver.store_sale_lines": [{"transaction_id": f"X-{n}", "line_number": 1, "loyalty_card_id": c,
                                     "transaction_ts": event(n + 3), "_delivery_date": new}
                                    for n, c in enumerate(ids["store_sales"] + [None, None])],
        "silver.support_tickets": [{"ticket_id": t, "created_at": event(n), "_delivery_date": new}
                                   for n, t in enumerate(ids["support_tickets"])],
        "silver.products": [{"product_id": f"P0{n}", "_delivery_date": new} for n in range(1, 8)],
        # Not delivered since the first day: one day behind the latest run.
        "silver.stores": [{"store_id": f"S0{n}", "_delivery_date": old} for n in range(1, 4)],
        "silver.support_agents": [{"agent_id": f"A0{n}", "_delivery_date": old} for n in range(1, 6)],
    }


def make_warehouse(path: Path) -> Path:
    """Write the sample warehouse to `path` (a new DuckDB file) and return the path."""
    connection = duckdb.connect(str(path))
    try:
        create_tables(connection)
        profiles, segments = _customers()
        insert(connection, "gold.customer_360", profiles)
        insert(connection, "gold.customer_segments", segments)
        insert(connection, "gold.average_order_value", _average_order_value())
        insert(connection, "gold.channel_activity_trends", _channel_activity())
        insert(connection, "gold.agent_performance_summary", _agents())
        identity = _identity()
        insert(connection, "silver.customer_identity", identity)
        for ref, rows in _silver_rows(identity).items():
            insert(connection, ref, rows)
        runs, checks = _runs()
        insert(connection, "ops.pipeline_runs", runs)
        insert(connection, "ops.data_quality_results", checks)
        insert(connection, "ops.rejected_rows", _rejects())
    finally:
        connection.close()
    return path


def huge_warehouse(path: Path) -> Path:
    """The sample warehouse for a retailer a thousand times bigger: billions of revenue, 123,456 rejected rows."""
    make_warehouse(path)
    connection = duckdb.connect(str(path))
    try:
        connection.execute("update gold.average_order_value set order_count = 123456789, revenue = 98765432109.87, "
                           "average_order_value = 800.00 where dimension_id = 'ONLINE'")
        connection.execute("delete from ops.rejected_rows")
        connection.execute("insert into ops.rejected_rows select 'online_orders', date '2024-06-02', 'invalid_quantity', "
                           "'O-' || range, '{}', 'run-20240602' from range(123456)")
    finally:
        connection.close()
    return path

"""The run summary and demo highlights, read back from a local warehouse and printed with rich."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
from rich.console import Console
from rich.table import Table

from customer360 import contract, dialect
from customer360.engine import RunResult


def report_query(name: str) -> str:
    """A report from sql/reports/, translated for the local warehouse."""
    return dialect.transpile_one((contract.SQL_DIR / contract.REPORTS[name]).read_text(encoding="utf-8"))


def _format(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _table(title: str, columns: list[str], rows: list[tuple], *, right: set[int] | None = None) -> Table:
    if right is None:
        right = {
            index
            for index in range(len(columns))
            if any(isinstance(row[index], (int, float, Decimal)) and not isinstance(row[index], bool) for row in rows)
        }
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index in right else "left")
    for row in rows:
        table.add_row(*(_format(v) for v in row))
    return table


def print_run_summary(console: Console, connection: duckdb.DuckDBPyConnection, result: RunResult) -> None:
    layer_rows = []
    for source in contract.SOURCES:
        layer_rows.append(
            (
                source.name,
                result.raw_rows.get(source.name, 0),
                next((s.rows_out for s in result.steps if s.step == source.silver.name), None),
                next((s.rows_rejected for s in result.steps if s.step == source.silver.name), None),
                connection.execute(f"SELECT count(*) FROM {source.silver.ref}").fetchone()[0],
            )
        )
    console.print(_table("Rows by source", ["source", "raw loaded", "accepted", "rejected", "silver total"], layer_rows))
    console.print()

    gold = [(t.ref, connection.execute(f"SELECT count(*) FROM {t.ref}").fetchone()[0]) for t in contract.GOLD_TABLES]
    console.print(_table("Gold tables", ["table", "rows"], gold))
    console.print()

    rejects = connection.execute(
        "SELECT source, reason, count(*) FROM ops.rejected_rows WHERE delivery_date = ? GROUP BY ALL ORDER BY 1, 2",
        [result.run_date],
    ).fetchall()
    console.print(_table(f"Rejected rows for {result.run_date}", ["source", "reason", "rows"], rejects or [("—", "none", 0)]))
    console.print()

    match_rates = connection.execute(report_query("identity_match_rate")).fetchall()
    console.print(
        _table(
            "Identity match rate",
            ["source", "records", "matched", "match rate"],
            [(s, r, m, f"{rate:.1%}" if rate is not None else "—") for s, r, m, rate in match_rates],
            right={1, 2, 3},
        )
    )
    console.print()

    checks = connection.execute(
        "SELECT check_name, severity, violating_rows, status FROM ops.data_quality_results WHERE run_id = ? ORDER BY check_name",
        [result.run_id],
    ).fetchall()
    console.print(_table("Data-quality checks", ["check", "severity", "violations", "status"], checks))
    console.print()

    timings = [(s.step, s.kind, s.rows_out, s.seconds) for s in result.steps]
    timings.append(("total", "", result.rows_loaded, result.seconds))
    console.print(_table("Steps", ["step", "kind", "rows out", "seconds"], timings, right={2, 3}))


def print_highlights(console: Console, connection: duckdb.DuckDBPyConnection) -> None:
    """The five gold tables at a glance."""
    queries = [
        (
            "Average order value by store",
            ["store", "orders", "revenue", "AOV"],
            "SELECT dimension_name, order_count, revenue, average_order_value FROM gold.average_order_value "
            "WHERE dimension = 'store' ORDER BY revenue DESC LIMIT 6",
        ),
        (
            "Average order value by category",
            ["category", "orders", "revenue", "AOV"],
            "SELECT dimension_name, order_count, revenue, average_order_value FROM gold.average_order_value "
            "WHERE dimension = 'category' ORDER BY revenue DESC LIMIT 6",
        ),
        (
            "Customer segments",
            ["segment", "customers", "revenue", "share of revenue"],
            "SELECT segment, count(*), sum(lifetime_revenue), "
            "sum(lifetime_revenue) / nullif(sum(sum(lifetime_revenue)) OVER (), 0) "
            "FROM gold.customer_segments GROUP BY segment ORDER BY 3 DESC",
        ),
        (
            "Peak hours per channel (UTC)",
            ["channel", "day", "hour", "activity", "revenue"],
            "SELECT channel, day_of_week, hour_of_day, activity_count, revenue FROM gold.channel_activity_trends "
            "WHERE is_peak ORDER BY channel, day_of_week_number, hour_of_day",
        ),
        (
            "Top support agents by resolution rate",
            ["agent", "team", "assigned", "resolution rate", "avg hours", "avg CSAT"],
            "SELECT agent_name, team, tickets_assigned, resolution_rate, avg_resolution_hours, avg_csat "
            "FROM gold.agent_performance_summary WHERE tickets_assigned >= 5 "
            "ORDER BY resolution_rate DESC, avg_csat DESC NULLS LAST, agent_id LIMIT 5",
        ),
        (
            "Top customers (Customer 360)",
            ["customer", "name", "tier", "orders", "lifetime revenue", "tickets", "segment"],
            "SELECT customer_key, concat_ws(' ', first_name, last_name), loyalty_tier, "
            "online_order_count + store_transaction_count, lifetime_revenue, support_ticket_count, segment "
            "FROM gold.customer_360 ORDER BY lifetime_revenue DESC, customer_key LIMIT 5",
        ),
    ]
    for title, columns, sql in queries:
        rows = connection.execute(sql).fetchall()
        if title == "Customer segments":
            rows = [(s, n, r, f"{share:.1%}" if share is not None else "—") for s, n, r, share in rows]
        console.print(_table(title, columns, rows))
        console.print()

"""What a run tells its user: the step lines, the totals, the detailed summary, run_results.json and the demo highlights."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from customer360 import contract, dialect, values
from customer360.engine import RunResult, StepResult

# The version of run_results.json's layout (docs/run_results.schema.json); raised on any incompatible change.
RESULTS_SCHEMA_VERSION = 1
RESULTS_FILE = "run_results.json"


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


STATUS_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "ERROR"}


def step_line(index: int, total: int, step: StepResult) -> str:
    """One line per finished step, in the spirit of dbt's run log: `  4/26 OK silver online_order_lines ... [0.4s]`."""
    if step.status == "skipped":
        word, figures = "SKIP", "nothing pending"
    elif step.status == "failed" and step.kind != "quality":
        word, figures = "ERROR", step.detail or "failed"
    elif step.kind == "quality":
        word = STATUS_WORDS.get(step.check_status or "pass", "PASS")
        figures = f"{step.rows_out or 0:,} violating" + (f" — {step.detail}" if step.detail else "")
    elif step.kind == "load":
        word, figures = "OK", f"{step.rows_out or 0:,} rows loaded"
    elif step.kind == "silver":
        word = "OK"
        figures = f"in {step.rows_in or 0:,}, accepted {step.rows_out or 0:,}, rejected {step.rows_rejected or 0:,}"
    else:
        word, figures = "OK", f"{step.rows_out or 0:,} rows"
    label = f"{step.kind} {step.step}"
    return f"{index:>3}/{total} {word:<5} {label:<44} {figures} [{step.seconds:.1f}s]"


def step_counts(steps: list[StepResult]) -> dict[str, int]:
    """PASS / WARN / ERROR / SKIP over the steps: a check counts by its status, a failed step as ERROR."""
    counts = {"PASS": 0, "WARN": 0, "ERROR": 0, "SKIP": 0}
    for step in steps:
        if step.status == "skipped":
            counts["SKIP"] += 1
        elif step.kind == "quality":
            counts[STATUS_WORDS.get(step.check_status or "pass", "PASS")] += 1
        elif step.status == "failed":
            counts["ERROR"] += 1
        else:
            counts["PASS"] += 1
    return counts


def totals_line(result: RunResult) -> str:
    return (
        " ".join(f"{k}={v}" for k, v in step_counts(result.steps).items())
        + f"  rows loaded={result.rows_loaded:,} rejected={result.rows_rejected:,}"
        + f"  partitions={len(result.partitions)}"
    )


def check_totals_line(result: RunResult) -> str:
    """The closing line of `c360 check`."""
    violating = sum(s.rows_out or 0 for s in result.steps)
    return " ".join(f"{k}={v}" for k, v in step_counts(result.steps).items()) + f"  violating rows={violating:,}"


def _step_record(index: int, step: StepResult) -> dict:
    return {
        "index": index,
        "name": step.step,
        "kind": step.kind,
        "target": step.target,
        "status": step.status,
        "check_status": step.check_status,
        "started_at": step.started_at,
        "seconds": round(step.seconds, 6),
        "rows_in": step.rows_in,
        "rows_out": step.rows_out,
        "rows_rejected": step.rows_rejected,
        "detail": step.detail,
    }


def run_results(result: RunResult | None, *, command: str, status: str, exit_code: int, error: str | None,
                warehouse: Path, delivery_folder: Path | None, day: dt.date | None,
                selection: tuple[str, tuple[str, ...]] | None = None, seconds: float = 0.0,
                peak_memory_bytes: int = 0) -> dict:
    """run_results.json: what the run did, as the README's schema (version RESULTS_SCHEMA_VERSION) describes it.

    RESULT is what the engine recorded (None when the run failed before it began, say on a bad folder).
    """
    steps = list(result.steps) if result else []
    records = ([_step_record(0, result.load)] if result and result.load else [])
    records += [_step_record(index, step) for index, step in enumerate(steps, start=1)]
    thresholds = {c.name: c for c in contract.QUALITY_CHECKS}
    checks = [
        {**row, "error_if": thresholds[row["check"]].error_if, "warn_if": thresholds[row["check"]].warn_if}
        for step in steps for row in step.checks
    ]
    counts = step_counts(steps)
    document = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "error": error,
        "run_id": result.run_id if result else None,
        "warehouse": str(warehouse),
        "delivery": {"folder": str(delivery_folder) if delivery_folder is not None else None, "day": day},
        "selection": {"expression": selection[0], "steps": list(selection[1])} if selection else None,
        "seconds": round(seconds, 6),
        "partitions": [
            {"source": source, "delivery_date": delivery_date, "reason": reason}
            for source, delivery_date, reason in (result.partitions if result else [])
        ],
        "steps": records,
        "checks": checks,
        "totals": {
            "pass": counts["PASS"], "warn": counts["WARN"], "error": counts["ERROR"], "skip": counts["SKIP"],
            "rows_loaded": result.rows_loaded if result else 0,
            "rows_rejected": result.rows_rejected if result else 0,
            "partitions": len(result.partitions) if result else 0,
        },
        "peak_memory_bytes": peak_memory_bytes,
    }
    return values.json_value(document)


def print_run_summary(console: Console, result: RunResult) -> None:
    """The detailed tables of a run, from what the run recorded (the warehouse is not read again)."""
    layer_rows = []
    for source in contract.SOURCES:
        step = next((s for s in result.steps if s.step == source.silver.name), None)
        layer_rows.append(
            (
                source.name,
                result.raw_rows.get(source.name, 0),
                step.rows_out if step else None,
                step.rows_rejected if step else None,
                result.table_rows.get(source.silver.ref),
            )
        )
    console.print(_table("Rows by source", ["source", "raw loaded", "accepted", "rejected", "silver total"], layer_rows))
    console.print()
    gold = [(ref, n) for ref, n in result.table_rows.items() if ref.startswith("gold.")]
    console.print(_table("Gold tables", ["table", "rows"], gold))
    console.print()
    console.print(_table("Rejected rows of the processed days", ["source", "reason", "rows"],
                         result.rejected_by_reason or [("—", "none", 0)]))
    console.print()
    console.print(
        _table(
            "Identity match rate",
            ["source", "records", "matched", "match rate"],
            [(s, r, m, f"{rate:.1%}" if rate is not None else "—") for s, r, m, rate in result.match_rates],
            right={1, 2, 3},
        )
    )
    console.print()
    checks = [(c["check"], c["subject"] or "", c["severity"], c["violating_rows"], c["status"], c["detail"] or "")
              for c in result.check_results]
    console.print(_table("Data-quality checks", ["check", "subject", "severity", "violations", "status", "detail"], checks))
    console.print()


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

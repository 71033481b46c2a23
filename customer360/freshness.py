"""`c360 freshness`: per source, its expected delivery frequency, newest delivery and missing days, like `dbt source freshness`.

It runs the query of the deliveries_arrived check (customer360/sqlgen/checks.py) against the warehouse,
so the command and the check cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from customer360 import contract, dialect, engine, warehouse
from customer360.sqlgen import checks


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    expected: str
    newest_day: dt.date | None
    days_behind: int | None
    missing_days: int
    missing: str | None

    @property
    def status(self) -> str:
        return "warn" if self.missing_days or self.newest_day is None else "pass"


def read(path: Path, as_of: dt.date | None = None) -> list[SourceFreshness]:
    """Freshness as of AS_OF (default: the newest delivery day the warehouse holds)."""
    try:
        if not warehouse.check_file(path):
            raise engine.InputError(f"{path}: warehouse not found")
        connection = warehouse.connect(path, read_only=True)
    except warehouse.WarehouseError as error:
        raise engine.InputError(str(error)) from None
    try:
        if as_of is None:
            as_of = connection.execute("SELECT max(delivery_date) FROM ops.raw_partitions").fetchone()[0]
            if as_of is None:
                return [SourceFreshness(s.name, s.expected, None, None, 0, None) for s in contract.SOURCES]
        sql = dialect.transpile_one(checks.deliveries_arrived_query(), {"run_date": as_of})
        rows = connection.execute(sql).fetchall()
    finally:
        connection.close()
    order = {s.name: i for i, s in enumerate(contract.SOURCES)}
    return sorted((SourceFreshness(*row) for row in rows), key=lambda r: order[r.source])


def render(rows: list[SourceFreshness]) -> str:
    header = f"{'source':<17} {'expected':<10} {'newest delivery':<16} {'behind':>6}  {'status':<6} missing in the last {contract.FRESHNESS_WINDOW_DAYS} days"
    lines = [header, "-" * len(header)]
    for row in rows:
        newest = row.newest_day.isoformat() if row.newest_day else "never"
        behind = "" if row.days_behind is None else f"{row.days_behind}d"
        lines.append(
            f"{row.source:<17} {row.expected:<10} {newest:<16} {behind:>6}  {row.status.upper():<6} {row.missing or ''}"
        )
    warned = sum(r.status != "pass" for r in rows)
    lines.append(f"PASS={len(rows) - warned} WARN={warned}")
    return "\n".join(lines)

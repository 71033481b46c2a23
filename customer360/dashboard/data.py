"""Fetch every dashboard query from a source and derive the headline figures, in plain JSON-ready values."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from customer360.contract import PIPELINE
from customer360.dashboard.queries import QUERIES
from customer360.dashboard.sources import Source

def plain(value: Any) -> Any:
    """A query value as JSON wants it: numbers as float/int, times as UTC text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Headline:
    customers: int
    orders: int
    revenue: float
    average_order_value: float | None
    identity_match_rate: float | None
    rejected_rows: int


@dataclass
class DashboardData:
    source_label: str
    results: dict[str, list[dict[str, Any]]]
    headline: Headline = field(init=False)

    def __post_init__(self) -> None:
        stores = [r for r in self.results["average_order_value"] if r["dimension"] == "store"]
        revenue = sum(r["revenue"] or 0.0 for r in stores)
        orders = sum(r["order_count"] or 0 for r in stores)
        # Over every record the identity report counts: loyalty cards, order lines, sale lines, tickets.
        records = sum(r["records"] for r in self.results["identity_match"])
        self.headline = Headline(
            customers=len(self.results["customers"]),
            orders=orders,
            revenue=revenue,
            average_order_value=revenue / orders if orders else None,
            identity_match_rate=sum(r["matched"] for r in self.results["identity_match"]) / records if records else None,
            rejected_rows=sum(r["rejected_rows"] for r in self.results["rejects"]),
        )

    def __getitem__(self, query_name: str) -> list[dict[str, Any]]:
        return self.results[query_name]

    @property
    def latest_run(self) -> dict[str, Any] | None:
        runs = self.results["recent_runs"]
        return runs[0] if runs else None


_KIND_ORDER = ("load", "silver", "identity", "quality", "gold")
_STEP_POSITION = {step.name: index for index, step in enumerate(PIPELINE)}


def _pipeline_order(step_run: dict[str, Any]) -> tuple:
    """Loads first, then the contract's step order; steps it does not know go last, by name."""
    kind = step_run["step_kind"]
    return (
        _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER),
        _STEP_POSITION.get(step_run["step"], len(_STEP_POSITION)),
        step_run["step"],
    )


def load(source: Source) -> DashboardData:
    results = {
        name: [{key: plain(value) for key, value in row.items()} for row in source.fetch(name)]
        for name in QUERIES
    }
    # The shared identity report has no order of its own.
    results["identity_match"].sort(key=lambda r: r["source"])
    results["latest_step_runs"].sort(key=_pipeline_order)
    return DashboardData(source.label, results)

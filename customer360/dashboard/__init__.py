"""Dashboard of the gold tables and pipeline health, from the local warehouse or from BigQuery."""

from __future__ import annotations

import importlib
from typing import Any

from customer360.dashboard.sources import BigQuerySource, DuckDBSource, SourceError

# The page builder imports altair and jinja2 (about a second): loaded on first use, so that
# commands which only read a warehouse (c360 export, c360 sql) start quickly.
_LAZY = {
    "BuildResult": "customer360.dashboard.page",
    "build_dashboard": "customer360.dashboard.page",
    "write_dashboard": "customer360.dashboard.page",
    "looker_studio_link": "customer360.dashboard.looker",
}

__all__ = ["BigQuerySource", "DuckDBSource", "SourceError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

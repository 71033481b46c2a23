"""Dashboard of the gold tables and pipeline health, from the local warehouse or from BigQuery."""

from customer360.dashboard.looker import looker_studio_link
from customer360.dashboard.page import BuildResult, build_dashboard, write_dashboard
from customer360.dashboard.sources import BigQuerySource, DuckDBSource, SourceError

__all__ = [
    "BigQuerySource",
    "BuildResult",
    "DuckDBSource",
    "SourceError",
    "build_dashboard",
    "looker_studio_link",
    "write_dashboard",
]

"""Looker Studio links that open a new report on a BigQuery table (the Linking API)."""

from __future__ import annotations

from urllib.parse import urlencode

LOOKER_STUDIO_CREATE = "https://lookerstudio.google.com/reporting/create"


def looker_studio_link(project: str, dataset: str, table: str, report_name: str | None = None) -> str:
    """A Linking API URL for a blank report whose one data source is `project.dataset.table`."""
    for name, value in (("project", project), ("dataset", dataset), ("table", table)):
        if not value:
            raise ValueError(f"looker_studio_link needs a {name}")
    parameters = {
        "c.mode": "edit",
        "r.reportName": report_name or f"Customer 360: {table}",
        "ds.ds0.connector": "bigQuery",
        "ds.ds0.type": "TABLE",
        "ds.ds0.projectId": project,
        "ds.ds0.datasetId": dataset,
        "ds.ds0.tableId": table,
        "ds.ds0.datasourceName": f"{dataset}.{table}",
    }
    return f"{LOOKER_STUDIO_CREATE}?{urlencode(parameters)}"

"""Console and Looker Studio links, and the transfer-config names they are built from; no cloud client needed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

CONSOLE = "https://console.cloud.google.com"
LOOKER_STUDIO_CREATE = "https://lookerstudio.google.com/reporting/create"

# pulumi-gcp bigquery/data_transfer_config.py (`name`), as the Data Transfer API documents it
# (https://cloud.google.com/bigquery/docs/reference/datatransfer/rest/v1/projects.locations.transferConfigs):
# "projects/{projectId}/locations/{location}/transferConfigs/{configId}
#  or projects/{projectId}/transferConfigs/{configId}".
_TRANSFER_CONFIG_NAME = re.compile(
    r"^projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?/transferConfigs/(?P<config_id>[^/]+)$"
)


class TransferConfigNameError(ValueError):
    """A string that is not a transfer config name in either documented form."""


@dataclass(frozen=True)
class TransferConfigName:
    project: str  # the project id or number, as the name carries it
    location: str | None  # None in the location-less form
    config_id: str

    def runs_link(self, project: str, default_location: str) -> str:
        """The console page of the config's runs; the location-less form falls back to the stack's location."""
        location = (self.location or default_location).lower()
        return f"{CONSOLE}/bigquery/transfers/locations/{location}/configs/{self.config_id}/runs?project={project}"


def parse_transfer_config_name(name: str) -> TransferConfigName:
    match = _TRANSFER_CONFIG_NAME.match(name or "")
    if not match:
        raise TransferConfigNameError(
            f"{name!r} is not a transfer config name (projects/P/locations/L/transferConfigs/ID "
            "or projects/P/transferConfigs/ID)"
        )
    return TransferConfigName(match["project"], match["location"], match["config_id"])


def transfer_runs_link(config_name: str, project: str, default_location: str) -> str:
    return parse_transfer_config_name(config_name).runs_link(project, default_location)


def dataset_link(project: str, dataset: str) -> str:
    return f"{CONSOLE}/bigquery?project={project}&ws=!1m4!1m3!3m2!1s{project}!2s{dataset}"


def looker_studio_link(project: str, dataset: str, table: str, report_name: str | None = None) -> str:
    """A Linking API URL for a blank report whose one data source is `project.dataset.table`."""
    for label, value in (("project", project), ("dataset", dataset), ("table", table)):
        if not value:
            raise ValueError(f"looker_studio_link needs a {label}")
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

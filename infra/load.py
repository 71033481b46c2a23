"""Cloud Storage load transfers per source: the delivery day's folder, and again for each day of the late-delivery window."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from customer360 import contract
from infra.settings import Settings
from infra.stage import Stage

GCS_DATA_SOURCE = "google_cloud_storage"
HOURS_PER_DAY = 24


def delivery_day_parameter(days_late: int) -> str:
    """The runtime parameter naming the delivery day a run loads, as YYYYMMDD.

    "Runtime parameters in Cloud Storage transfers"
    (https://cloud.google.com/bigquery/docs/gcs-transfer-parameters): `{run_date}` is the run's
    date as %Y%m%d; `{run_time[+\\-offset]|"time_format"}` offsets the run time in hours, minutes
    and seconds (days are not a supported unit) with no whitespace, and %Y%m%d is the form a
    partition decorator needs. So the folder N days before the run is `{run_time-<24N>h|"%Y%m%d"}`.
    """
    if days_late < 0:
        raise ValueError(f"days_late must be 0 or more, got {days_late}")
    if days_late == 0:
        return "{run_date}"
    return f'{{run_time-{HOURS_PER_DAY * days_late}h|"%Y%m%d"}}'


def delivery_files_template(bucket: str, source: contract.Source, day: str) -> str:
    """The one place that says which objects are a source's delivery for a day: gs://<bucket>/<source>/<day>/*.csv*.

    The delivery contract's data files are the entries ending .csv or .csv.gz directly in the day
    folder. `*` is the wildcard a transfer URI supports ("Wildcard support for Cloud Storage URIs",
    https://cloud.google.com/bigquery/docs/cloud-storage-transfer-overview), and one MIRROR transfer
    per day and source must load both forms (two would overwrite each other's partition), so the
    pattern is `*.csv*`. It also matches any other name with `.csv` followed by more text
    (`orders.csv.tmp`); the local loader refuses such names, the transfer would load them. One load
    job cannot mix gzip and plain files ("Load CSV data from Cloud Storage",
    https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-csv): a day folder is all
    .csv or all .csv.gz per source.
    """
    return contract.cloud_data_path_template(bucket, source, day)


def load_params(bucket: str, source: contract.Source, days_late: int = 0) -> dict[str, str]:
    """The transfer's params; every value a string, as the Data Transfer API takes them."""
    day = delivery_day_parameter(days_late)
    return {
        "data_path_template": delivery_files_template(bucket, source, day),
        # MIRROR with a partition decorator replaces just that day's partition, so a re-delivered
        # or late day reloads idempotently
        # (https://cloud.google.com/bigquery/docs/cloud-storage-transfer-overview, "Truncated transfers").
        "destination_table_name_template": f"{source.raw.name}${day}",
        "write_disposition": "MIRROR",
        "file_format": "CSV",
        "field_delimiter": ",",
        "quote": '"',
        "encoding": "UTF8",
        # RFC 4180 allows line breaks inside quoted fields.
        "allow_quoted_newlines": "true",
        # CSV columns load by position. Keeping the header row as a data row lets the pipeline
        # compare it with the contract: the silver SQL drops the exact header and a blocking
        # quality check fails the run on any other header, so a renamed or reordered file never
        # loads silently into the wrong columns.
        "skip_leading_rows": "0",
        # A row with too few or too many columns fails the whole load loudly.
        "allow_jagged_rows": "false",
        "ignore_unknown_values": "false",
        "max_bad_records": "0",
        "delete_source_files": "false",
    }


def display_name(prefix: str, source: contract.Source, days_late: int) -> str:
    """What the console lists; `c360 backfill --stack` finds the configs by it."""
    late = f" ({days_late} day{'s' if days_late > 1 else ''} late)" if days_late else ""
    return f"{prefix} load {source.name}{late}"


def transfer_key(source: contract.Source, days_late: int) -> str:
    """`customers` for the day's own transfer, `customers+1d` for the one a day late (stack output keys)."""
    return source.name if days_late == 0 else f"{source.name}+{days_late}d"


@dataclass(frozen=True)
class LoadArgs:
    settings: Settings
    bucket: gcp.storage.Bucket
    raw_dataset: gcp.bigquery.Dataset
    raw_tables: dict[str, gcp.bigquery.Table]
    loader_email: pulumi.Input[str]


class Load(Stage):
    """The load transfers, all at transferSchedule, before the daily pipeline, run as the loader account.

    For lateDeliveryDays = N a day folder D is loaded at transferSchedule on D, D+1, ... D+N: a file
    that lands in it before the last of those runs reaches raw without anyone re-running a transfer.
    """

    def __init__(self, name: str, args: LoadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("load", name, opts)
        settings = args.settings
        self.transfers: dict[str, gcp.bigquery.DataTransferConfig] = {}
        for source in contract.SOURCES:
            for days_late in range(settings.late_delivery_days + 1):
                self.transfers[transfer_key(source, days_late)] = gcp.bigquery.DataTransferConfig(
                    f"{name}-{source.name}" + (f"-late-{days_late}d" if days_late else ""),
                    project=settings.project,
                    display_name=display_name(settings.prefix, source, days_late),
                    data_source_id=GCS_DATA_SOURCE,
                    location=settings.location,
                    destination_dataset_id=args.raw_dataset.dataset_id,
                    schedule=str(settings.transfer_schedule),
                    service_account_name=args.loader_email,
                    params=args.bucket.name.apply(
                        lambda bucket, source=source, days_late=days_late: load_params(bucket, source, days_late)
                    ),
                    # The destination table, with its schema, must exist before the transfer
                    # (https://cloud.google.com/bigquery/docs/cloud-storage-transfer, "Limitations").
                    opts=self.child(depends_on=[args.raw_tables[source.raw.ref]]),
                )
        self.register_outputs({key: transfer.name for key, transfer in self.transfers.items()})

"""One Cloud Storage load transfer per source, into its raw table's delivery-day partition."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from customer360 import contract
from infra.settings import Settings
from infra.stage import Stage

GCS_DATA_SOURCE = "google_cloud_storage"


def delivery_path_template(bucket: str, source: contract.Source) -> str:
    """SPEC section 1: gs://<bucket>/<source>/<YYYYMMDD>/*.csv; {run_date} is YYYYMMDD."""
    return f"gs://{bucket}/{source.name}/{{run_date}}/*.csv"


def load_params(bucket: str, source: contract.Source) -> dict[str, str]:
    """The transfer's params; every value a string (FACTS.md)."""
    return {
        "data_path_template": delivery_path_template(bucket, source),
        # The partition decorator with MIRROR replaces just that day's partition, so a
        # re-delivered day reloads idempotently (FACTS.md).
        "destination_table_name_template": f"{source.raw.name}${{run_date}}",
        "write_disposition": "MIRROR",
        "file_format": "CSV",
        "field_delimiter": ",",
        "quote": '"',
        "encoding": "UTF8",
        # RFC 4180 allows line breaks inside quoted fields.
        "allow_quoted_newlines": "true",
        # CSV columns load by position (FACTS.md). Keeping the header row as a data row
        # lets the pipeline compare it with the contract: the silver SQL drops the exact
        # header and a blocking quality check fails the run on any other header, so a
        # renamed or reordered file never loads silently into the wrong columns.
        "skip_leading_rows": "0",
        # A row with too few or too many columns fails the whole load loudly.
        "allow_jagged_rows": "false",
        "ignore_unknown_values": "false",
        "max_bad_records": "0",
        "delete_source_files": "false",
    }


@dataclass(frozen=True)
class LoadArgs:
    settings: Settings
    bucket: gcp.storage.Bucket
    raw_dataset: gcp.bigquery.Dataset
    raw_tables: dict[str, gcp.bigquery.Table]
    loader_email: pulumi.Input[str]


class Load(Stage):
    """The load transfers, scheduled before the daily pipeline and run as the loader account."""

    def __init__(self, name: str, args: LoadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("load", name, opts)
        settings = args.settings
        self.transfers: dict[str, gcp.bigquery.DataTransferConfig] = {}
        for source in contract.SOURCES:
            self.transfers[source.name] = gcp.bigquery.DataTransferConfig(
                f"{name}-{source.name}",
                project=settings.project,
                display_name=f"{settings.prefix} load {source.name}",
                data_source_id=GCS_DATA_SOURCE,
                location=settings.location,
                destination_dataset_id=args.raw_dataset.dataset_id,
                schedule=str(settings.transfer_schedule),
                service_account_name=args.loader_email,
                params=args.bucket.name.apply(lambda bucket, source=source: load_params(bucket, source)),
                # FACTS.md: the destination table, with its schema, must exist before the transfer.
                opts=self.child(depends_on=[args.raw_tables[source.raw.ref]]),
            )
        self.register_outputs({source: transfer.name for source, transfer in self.transfers.items()})

"""The raw, silver, gold and ops datasets and every table of the contract, typed and described."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from customer360 import contract
from infra.settings import Settings
from infra.stage import Stage

MILLISECONDS_PER_DAY = 24 * 60 * 60 * 1000

# The schema JSON is written as the API returns it (legacy type names), so that it reads back
# unchanged (pulumi-gcp bigquery/table.py, `schema`).
_API_TYPE_NAMES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
# pulumi-gcp bigquery/table.py (clusterings): up to four top-level columns.
MAX_CLUSTERING_COLUMNS = 4


def schema_json(table: contract.Table) -> str:
    """The table's BigQuery schema, every column with its description (shown in the console)."""
    return json.dumps(
        [
            {
                "name": column.name,
                "type": _API_TYPE_NAMES.get(column.type, column.type),
                "mode": "REQUIRED" if column.required else "NULLABLE",
                "description": column.description,
            }
            for column in table.columns
        ],
        separators=(",", ":"),
    )


def table_description(table: contract.Table) -> str:
    if table.dataset == "raw":
        source = contract.SOURCES_BY_NAME[table.name]
        return (
            f"{source.description} Delivered by {source.system}; {table.grain}. "
            "Every column STRING; the file's header row is kept and checked by the pipeline."
        )
    return f"{table.grain[:1].upper()}{table.grain[1:]}."


@dataclass(frozen=True)
class WarehouseArgs:
    settings: Settings


class Warehouse(Stage):
    """One dataset per layer of the contract and one table per contract table."""

    def __init__(self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("warehouse", name, opts)
        settings = args.settings
        protect = settings.deletion_protection
        self.datasets: dict[str, gcp.bigquery.Dataset] = {}
        for layer in contract.DATASETS:
            self.datasets[layer] = gcp.bigquery.Dataset(
                f"{name}-{layer}",
                project=settings.project,
                dataset_id=settings.dataset_names[layer],
                friendly_name=f"Customer 360 {layer} ({settings.environment})",
                description=contract.DATASET_DESCRIPTIONS[layer],
                location=settings.location,
                labels=settings.labels(layer),
                delete_contents_on_destroy=not protect,
                default_encryption_configuration=(
                    gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=settings.kms_key_name)
                    if settings.kms_key_name
                    else None
                ),
                opts=self.child(protect=protect),
            )

        self.tables: dict[str, gcp.bigquery.Table] = {}
        for table in contract.ALL_TABLES:
            self.tables[table.ref] = gcp.bigquery.Table(
                f"{name}-{table.dataset}-{table.name}",
                project=settings.project,
                dataset_id=self.datasets[table.dataset].dataset_id,
                table_id=table.name,
                description=table_description(table),
                labels=settings.labels(table.dataset),
                schema=schema_json(table),
                time_partitioning=_partitioning(table, settings),
                clusterings=list(table.cluster_by) or None,
                # Optional and ForceNew in the provider, whose Read stores the key the API reports,
                # which a table inherits from its dataset's default: left undeclared, the next
                # preview would plan a replacement of every table (terraform-provider-google-beta
                # google-beta/services/bigquery/resource_bigquery_table.go, encryption_configuration).
                encryption_configuration=(
                    gcp.bigquery.TableEncryptionConfigurationArgs(kms_key_name=settings.kms_key_name)
                    if settings.kms_key_name
                    else None
                ),
                deletion_protection=protect,
                opts=self.child(protect=protect),
            )

        self.register_outputs(
            {
                "datasets": {layer: ds.dataset_id for layer, ds in self.datasets.items()},
                "tables": sorted(self.tables),
            }
        )


def _partitioning(table: contract.Table, settings: Settings) -> gcp.bigquery.TableTimePartitioningArgs | None:
    if table.partition_by is None:
        return None
    if table.partition_by == contract.RAW_PARTITION_COLUMN:
        # Ingestion-time partitions: the load transfer writes `<table>$YYYYMMDD` and
        # the raw SQL reads `_PARTITIONDATE = @run_date`.
        return gcp.bigquery.TableTimePartitioningArgs(
            type="DAY",
            expiration_ms=settings.raw_partition_expiration_days * MILLISECONDS_PER_DAY,
        )
    return gcp.bigquery.TableTimePartitioningArgs(type="DAY", field=table.partition_by)

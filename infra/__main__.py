"""The Pulumi program: composes the pipeline's stages in data-flow order and exports what operators need."""

import sys
from pathlib import Path

# Pulumi runs this folder as a script; make the repository root importable so that
# `infra.*` and `customer360.*` resolve the same way here as in the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from customer360 import contract  # noqa: E402
from customer360.links import CONSOLE, dataset_link, looker_studio_link, transfer_runs_link  # noqa: E402
from infra.access import Access, AccessArgs  # noqa: E402
from infra.apis import Apis, ApisArgs  # noqa: E402
from infra.encryption import Encryption, EncryptionArgs  # noqa: E402
from infra.landing import Landing, LandingArgs  # noqa: E402
from infra.load import Load, LoadArgs  # noqa: E402
from infra.monitoring import Monitoring, MonitoringArgs  # noqa: E402
from infra.settings import load_settings  # noqa: E402
from infra.transform import Transform, TransformArgs  # noqa: E402
from infra.warehouse import Warehouse, WarehouseArgs  # noqa: E402

settings = load_settings()


def runs_link(config_name: str) -> str:
    return transfer_runs_link(config_name, settings.project, settings.location)


apis = Apis("apis", ApisArgs(settings))
after_apis = pulumi.ResourceOptions(depends_on=[apis])
encryption = Encryption("encryption", EncryptionArgs(settings), after_apis)
after_encryption = pulumi.ResourceOptions(depends_on=[apis, encryption])
landing = Landing("landing", LandingArgs(settings), after_encryption)
warehouse = Warehouse("warehouse", WarehouseArgs(settings), after_encryption)
access = Access("access", AccessArgs(settings, landing.bucket, warehouse.datasets), after_apis)
# Transfers created before their account's grants would fail their first runs.
after_access = pulumi.ResourceOptions(depends_on=[apis, warehouse, access])
load = Load(
    "load",
    LoadArgs(settings, landing.bucket, warehouse.datasets["raw"], warehouse.tables, access.accounts["loader"].email),
    after_access,
)
transform = Transform(
    "transform", TransformArgs(settings, warehouse.datasets, access.accounts["transformer"].email), after_access
)
monitoring = Monitoring(
    "monitoring", MonitoringArgs(settings, warehouse.datasets["ops"]), pulumi.ResourceOptions(depends_on=[apis, warehouse])
)

pulumi.export("bucket", landing.bucket.name)
pulumi.export("datasets", {layer: dataset.dataset_id for layer, dataset in warehouse.datasets.items()})
pulumi.export(
    "dataset_console_links", {layer: dataset_link(settings.project, name) for layer, name in settings.dataset_names.items()}
)
pulumi.export(
    "transfer_console_links",
    {
        **{key: t.name.apply(runs_link) for key, t in load.transfers.items()},
        "daily_pipeline": transform.scheduled_query.name.apply(runs_link),
        "missing_deliveries": transform.missing_deliveries_check.name.apply(runs_link),
    },
)
# Read by `c360 backfill --stack` (customer360/cloud_backfill.py): keys are `<source>` for the
# day's own transfer, `<source>+<N>d` for the one that re-loads the folder N days old.
pulumi.export(
    "transfer_config_names",
    {
        **{key: t.name for key, t in load.transfers.items()},
        "daily_pipeline": transform.scheduled_query.name,
        "missing_deliveries": transform.missing_deliveries_check.name,
    },
)
pulumi.export(
    "looker_studio_links",
    {
        table.name: looker_studio_link(settings.project, settings.dataset_names["gold"], table.name)
        for table in contract.GOLD_TABLES
    },
)
pulumi.export("transfers_console_page", f"{CONSOLE}/bigquery/transfers?project={settings.project}")
pulumi.export("dashboards_console_page", f"{CONSOLE}/monitoring/dashboards?project={settings.project}")
pulumi.export("service_accounts", {role: account.email for role, account in access.accounts.items()})
sources = " ".join(source.name for source in contract.SOURCES)
pulumi.export(
    "upload_command",
    f'for source in {sources}; do gcloud storage cp "DELIVERY_DIR/$source.csv" '
    f'"gs://{settings.bucket_name}/$source/$(date -u +%Y%m%d)/$source.csv"; done',
)

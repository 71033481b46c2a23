"""The provider's own rules for an input change: update in place or replace, delete-first or not, and what holds data.

Each rule names the provider source it comes from. pulumi-gcp 10.x bridges the Terraform
google-beta provider; paths below are in github.com/hashicorp/terraform-provider-google-beta
(`google-beta/services/...`) and github.com/pulumi/pulumi-gcp (`provider/resources.go`).
Keys are the flattened Pulumi input names `customer360.plan.flatten` produces (camelCase,
dotted, `[i]` for list items, `schema.NN.<column>` for a table's columns).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TABLE = "gcp:bigquery/table:Table"
DATASET = "gcp:bigquery/dataset:Dataset"
BUCKET = "gcp:storage/bucket:Bucket"
TRANSFER = "gcp:bigquery/dataTransferConfig:DataTransferConfig"
PROTECT_KEY = "(protect)"

_IAM_MEMBER = "google-beta/tpgiamresource/resource_iam_member.go: role, member and condition are ForceNew"


@dataclass(frozen=True)
class ForceNew:
    """Input keys (a key, or every key under it) whose change replaces the resource, and where the rule is."""

    keys: tuple[str, ...]
    source: str


# The ForceNew fields of every resource type the program declares. A type missing here fails
# tests/infra/test_plan_diff.py, so a new resource type cannot be classified by guesswork.
FORCE_NEW: dict[str, ForceNew] = {
    TABLE: ForceNew(
        ("project", "datasetId", "tableId", "encryptionConfiguration", "timePartitioning.field",
         "rangePartitioning", "materializedView.query", "materializedView.allowNonIncrementalDefinition",
         "tableReplicationInfo", "biglakeConfiguration", "schemaForeignTypeInfo"),
        "google-beta/services/bigquery/resource_bigquery_table.go (schema: ForceNew fields)",
    ),
    DATASET: ForceNew(
        ("project", "datasetId", "location", "externalDatasetReference"),
        "google-beta/services/bigquery/resource_bigquery_dataset.go",
    ),
    "gcp:bigquery/routine:Routine": ForceNew(
        ("project", "datasetId", "routineId", "routineType"),
        "google-beta/services/bigquery/resource_bigquery_routine.go",
    ),
    TRANSFER: ForceNew(
        ("project", "location", "dataSourceId"),
        "google-beta/services/bigquerydatatransfer/resource_bigquery_data_transfer_config.go",
    ),
    BUCKET: ForceNew(
        ("project", "name", "location", "enableObjectRetention", "hierarchicalNamespace"),
        "google-beta/services/storage/resource_storage_bucket.go",
    ),
    "gcp:projects/service:Service": ForceNew(
        ("project", "service"), "google-beta/services/resourcemanager/resource_google_project_service.go"
    ),
    "gcp:projects/serviceIdentity:ServiceIdentity": ForceNew(
        ("project", "service"), "google-beta/services/resourcemanager/resource_project_service_identity.go"
    ),
    "gcp:projects/iAMCustomRole:IAMCustomRole": ForceNew(
        ("project", "roleId"), "google-beta/services/resourcemanager/resource_google_project_iam_custom_role.go"
    ),
    "gcp:serviceaccount/account:Account": ForceNew(
        ("project", "accountId"), "google-beta/services/resourcemanager/resource_google_service_account.go"
    ),
    "gcp:projects/iAMMember:IAMMember": ForceNew(("project", "role", "member", "condition"), _IAM_MEMBER),
    "gcp:bigquery/datasetIamMember:DatasetIamMember": ForceNew(
        ("project", "datasetId", "role", "member", "condition"), _IAM_MEMBER
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ForceNew(("bucket", "role", "member", "condition"), _IAM_MEMBER),
    "gcp:serviceaccount/iAMMember:IAMMember": ForceNew(
        ("serviceAccountId", "role", "member", "condition"), _IAM_MEMBER
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ForceNew(
        ("cryptoKeyId", "role", "member", "condition"), _IAM_MEMBER
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": ForceNew(
        ("project",), "google-beta/services/monitoring/resource_monitoring_notification_channel.go"
    ),
    "gcp:monitoring/alertPolicy:AlertPolicy": ForceNew(
        ("project",), "google-beta/services/monitoring/resource_monitoring_alert_policy.go"
    ),
    "gcp:monitoring/dashboard:Dashboard": ForceNew(
        ("project",), "google-beta/services/monitoring/resource_monitoring_dashboard.go"
    ),
}

# pulumi-gcp provider/resources.go sets DeleteBeforeReplace for these: the old resource is
# deleted before its replacement exists.
DELETE_BEFORE_REPLACE = {
    TABLE: "pulumi-gcp provider/resources.go: google_bigquery_table DeleteBeforeReplace",
    "gcp:projects/iAMMember:IAMMember": "pulumi-gcp provider/resources.go: google_project_iam_member DeleteBeforeReplace",
}

_TABLE_SCHEMA_RULES = (
    "google-beta/services/bigquery/resource_bigquery_table.go, resourceBigQueryTableSchemaIsChangeable"
)
_TRANSFER_PARAMS_RULE = (
    "google-beta/services/bigquerydatatransfer/resource_bigquery_data_transfer_config.go, ParamsCustomizeDiffFunc"
)
# bigQueryTableTypeEq: case-insensitive, and these legacy and standard names are the same type.
_EQUIVALENT_TYPES = ({"INTEGER", "INT64"}, {"FLOAT", "FLOAT64"}, {"BOOLEAN", "BOOL"})
# `schema.NN.<column>` in the inventory, `schema.<column>` in the plan diff (column names hold no dots).
_SCHEMA_KEY = re.compile(r"^schema\.(?:\d+\.)?(?P<column>[A-Za-z_][A-Za-z0-9_]*)$")
_SCHEMA_VALUE = re.compile(r"^(?P<type>\S+) (?P<mode>\S+)(?:: (?P<description>.*))?$", re.DOTALL)


@dataclass(frozen=True)
class FieldChange:
    key: str
    before: str | None
    after: str | None
    replaces: bool
    rule: str | None  # where the replacement rule comes from, when it replaces


@dataclass(frozen=True)
class Classification:
    fields: tuple[FieldChange, ...]
    replaces: bool
    dropped_columns: tuple[str, ...]  # dropped in place: the column's data is lost

    @property
    def replace_rules(self) -> list[str]:
        return sorted({f.rule for f in self.fields if f.replaces and f.rule})


def is_data_holding(resource_type: str, inputs: dict[str, str]) -> bool:
    """The bucket, a dataset, or a table that is not a view (raw, silver, gold, ops)."""
    if resource_type in (BUCKET, DATASET):
        return True
    return resource_type == TABLE and not any(k.startswith(("view.", "materializedView.")) for k in inputs)


def _matches(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith((prefix + ".", prefix + "["))


def types_equal(old: str, new: str) -> bool:
    old, new = old.upper(), new.upper()
    return old == new or any(old in same and new in same for same in _EQUIVALENT_TYPES)


def _columns(flat: dict[str, str]) -> dict[str, tuple[str, str]]:
    columns = {}
    for key, value in flat.items():
        match = _SCHEMA_KEY.match(key)
        if match:
            shape = _SCHEMA_VALUE.match(value)
            columns[match["column"]] = (shape["type"], shape["mode"]) if shape else (value, "NULLABLE")
    return columns


def schema_change(before: dict[str, str], after: dict[str, str]) -> tuple[bool, list[str], list[str]]:
    """(changeable in place, reasons it is not, dropped columns), as resource_bigquery_table.go decides it.

    New columns must not be REQUIRED; kept columns keep their type (INTEGER = INT64 and so on) and
    their mode, except REQUIRED -> NULLABLE; top-level columns may be dropped in place, but not in
    the same change as an addition (the provider cannot tell a rename from a drop and an add).
    """
    old, new = _columns(before), _columns(after)
    reasons = []
    for column, (_, mode) in new.items():
        if column not in old and mode == "REQUIRED":
            reasons.append(f"new column {column} is REQUIRED")
    for column, (old_type, old_mode) in old.items():
        if column not in new:
            continue
        new_type, new_mode = new[column]
        relaxed = old_mode.upper() == "REQUIRED" and new_mode.upper() == "NULLABLE"
        if not types_equal(old_type, new_type):
            reasons.append(f"column {column} changes type {old_type} -> {new_type}")
        elif old_mode.upper() != new_mode.upper() and not relaxed:
            reasons.append(f"column {column} changes mode {old_mode} -> {new_mode}")
    dropped = [column for column in old if column not in new]
    added = [column for column in new if column not in old]
    if dropped and added:
        reasons.append(
            f"drops {', '.join(dropped)} while adding {', '.join(added)} (a rename is a drop and an add)"
        )
    return not reasons, reasons, [] if reasons else dropped


def classify(resource_type: str, before: dict[str, str], after: dict[str, str]) -> Classification:
    """Every changed key of one resource, each marked as replacing or not, with the rule that says so."""
    force_new = FORCE_NEW.get(resource_type)
    if force_new is None:
        raise KeyError(f"no provider rules for {resource_type}: add its ForceNew fields to customer360/provider_rules.py")
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    fields: list[FieldChange] = []
    schema_reasons: list[str] = []
    dropped: list[str] = []
    if resource_type == TABLE and any(_SCHEMA_KEY.match(k) for k in changed):
        _, schema_reasons, dropped = schema_change(before, after)
    transfer_paths = ("params.data_path_template", "params.destination_table_name_template")
    for key in changed:
        old, new = before.get(key), after.get(key)
        rule = None
        if key == PROTECT_KEY:
            rule = None
        elif any(_matches(key, prefix) for prefix in force_new.keys):
            rule = force_new.source
        elif resource_type == TABLE and _SCHEMA_KEY.match(key) and schema_reasons:
            rule = f"{_TABLE_SCHEMA_RULES}: {'; '.join(schema_reasons)}"
        elif (
            resource_type == TRANSFER
            and key in transfer_paths
            and old is not None
            and new is not None
            and after.get("dataSourceId") == "google_cloud_storage"
        ):
            rule = _TRANSFER_PARAMS_RULE
        fields.append(FieldChange(key, old, new, rule is not None, rule))
    return Classification(tuple(fields), any(f.replaces for f in fields), tuple(dropped))

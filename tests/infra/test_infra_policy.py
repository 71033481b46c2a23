"""Policies every committed stack must meet, checked on the resources the real program declares under mocks."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from infra_harness import StackRun, name

from customer360 import bigquery_script, contract, sqlgen
from infra import access, load, monitoring, transform, warehouse

BUCKET = "gcp:storage/bucket:Bucket"
DATASET = "gcp:bigquery/dataset:Dataset"
TABLE = "gcp:bigquery/table:Table"
ROUTINE = "gcp:bigquery/routine:Routine"
TRANSFER = "gcp:bigquery/dataTransferConfig:DataTransferConfig"
SERVICE = "gcp:projects/service:Service"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
# The params of a Cloud Storage transfer (https://cloud.google.com/bigquery/docs/cloud-storage-transfer, bq tab).
GCS_TRANSFER_PARAMS = {
    "data_path_template", "destination_table_name_template", "write_disposition", "file_format",
    "max_bad_records", "skip_leading_rows", "field_delimiter", "quote", "allow_quoted_newlines",
    "allow_jagged_rows", "ignore_unknown_values", "preserve_ascii_control_characters", "encoding",
    "delete_source_files", "decimal_target_types", "reference_file_schema_uri",
}
# Only a single SELECT may set these (https://cloud.google.com/bigquery/docs/scheduling-queries).
DESTINATION_PARAMS = {"destination_table_name_template", "write_disposition", "partitioning_field"}
# BigQuery clustered tables: clustering columns must be top-level and of an orderable, non-floating type.
CLUSTERABLE_TYPES = {"STRING", "INT64", "NUMERIC", "BIGNUMERIC", "DATE", "DATETIME", "TIMESTAMP", "BOOL"}


def is_view(resource: dict) -> bool:
    return "view" in resource["inputs"]


def data_tables(run: StackRun) -> list[dict]:
    return [t for t in run.of_type(TABLE) if not is_view(t)]


def walk(value, path=""):
    """Every (path, scalar) inside a resource's inputs."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
    else:
        yield path, value


# ---------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------


def test_nothing_is_public(stack_run):
    offenders = [
        f"{name(r)} {path}={value}"
        for r in stack_run.resources
        for path, value in walk(r["inputs"])
        if isinstance(value, str) and any(member in value for member in PUBLIC_MEMBERS)
    ]
    assert not offenders, f"public grants: {offenders}"
    for bucket in stack_run.of_type(BUCKET):
        assert bucket["inputs"].get("publicAccessPrevention") == "enforced", f"{name(bucket)} allows public access"
        assert bucket["inputs"].get("uniformBucketLevelAccess") is True, f"{name(bucket)} allows object ACLs"


def test_no_basic_roles_anywhere(stack_run):
    offenders = [name(r) for r in stack_run.resources if r["inputs"].get("role") in BASIC_ROLES]
    assert not offenders, f"basic roles granted by {offenders}"


def test_project_level_grants_are_only_job_creation(stack_run):
    offenders = [
        f"{name(r)} role={r['inputs']['role']}"
        for r in stack_run.of_type(PROJECT_IAM)
        if r["inputs"]["role"] != "roles/bigquery.jobUser"
    ]
    assert not offenders, f"project-wide roles other than roles/bigquery.jobUser: {offenders}"
    authoritative = [name(r) for r in stack_run.resources if re.search(r"/iAM(Binding|Policy):", r["type"])]
    assert not authoritative, f"authoritative IAM resources would drop others' grants: {authoritative}"


def test_no_service_account_keys(stack_run):
    keys = [name(r) for r in stack_run.resources if r["type"] == "gcp:serviceaccount/key:Key"]
    assert not keys, f"service account keys declared: {keys}"


def granted_role(run: StackRun, role: str) -> str:
    """The role string a grant carries: a predefined role, or the stack's custom role for `custom:` names."""
    if role == access.LOADER_ROLE:
        role_id = access.custom_role_id(run.settings.prefix, "loader")
        return f"projects/{run.settings.project}/roles/{role_id}"
    return role


def test_each_role_gets_only_its_dataset_and_bucket_roles(stack_run):
    accounts = {r["inputs"]["accountId"]: r for r in stack_run.of_type(ACCOUNT)}
    prefix = stack_run.settings.prefix
    assert sorted(accounts) == sorted(f"{prefix}-{role}" for role in access.ACCOUNT_PURPOSES)
    names = stack_run.settings.dataset_names
    granted = {
        (r["inputs"]["member"], r["inputs"]["datasetId"], r["inputs"]["role"])
        for r in stack_run.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
    }
    expected = {
        (
            f"serviceAccount:{prefix}-{role}@{stack_run.settings.project}.iam.gserviceaccount.com",
            names[layer],
            granted_role(stack_run, grant),
        )
        for role, roles in access.DATASET_ROLES.items()
        for layer, grant in roles.items()
    }
    assert granted == expected, f"dataset grants differ: extra {granted - expected}, missing {expected - granted}"
    bucket_grants = stack_run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    for grant in bucket_grants:
        assert grant["inputs"]["bucket"] == stack_run.settings.bucket_name, f"{name(grant)} is on another bucket"
        assert grant["inputs"]["role"] == "roles/storage.objectViewer", f"{name(grant)} grants more than reading"


def pipeline_members(run: StackRun) -> set[str]:
    return {
        f"serviceAccount:{r['inputs']['accountId']}@{run.settings.project}.iam.gserviceaccount.com"
        for r in run.of_type(ACCOUNT)
    }


def test_pipeline_accounts_hold_no_owner_or_admin_role(stack_run):
    members = pipeline_members(stack_run)
    offenders = [
        f"{name(r)} role={r['inputs']['role']}"
        for r in stack_run.resources
        if r["inputs"].get("member") in members
        and re.search(r"(dataOwner|[aA]dmin|owner|editor)$", r["inputs"].get("role", ""))
    ]
    assert not offenders, f"pipeline accounts hold owner or admin roles: {offenders}"


def test_the_loader_role_grants_exactly_the_cited_permissions(stack_run):
    (role,) = stack_run.of_type("gcp:projects/iAMCustomRole:IAMCustomRole")
    assert role["inputs"]["roleId"] == access.custom_role_id(stack_run.settings.prefix, "loader"), name(role)
    assert re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role["inputs"]["roleId"]), f"{name(role)}: invalid role id"
    assert sorted(role["inputs"]["permissions"]) == sorted(access.LOADER_PERMISSIONS), name(role)
    for permission, source in access.LOADER_PERMISSIONS.items():
        assert source.startswith("https://cloud.google.com/"), f"{permission} is not cited to Google's documentation"
    forbidden = {"bigquery.datasets.delete", "bigquery.tables.delete", "bigquery.tables.getData",
                 "bigquery.datasets.setIamPolicy", "bigquery.tables.setIamPolicy"}
    granted = set(role["inputs"]["permissions"])
    assert not forbidden & granted, f"{name(role)} grants {forbidden & granted}"


def test_the_transfer_service_agent_comes_from_a_service_identity_and_may_only_mint_tokens(stack_run):
    (identity,) = stack_run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")
    assert identity["inputs"]["service"] == "bigquerydatatransfer.googleapis.com", name(identity)
    agent = f"serviceAccount:{access.transfer_service_agent('123456789012')}"
    grants = stack_run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert len(grants) == len(stack_run.of_type(ACCOUNT))
    for grant in grants:
        assert grant["inputs"]["member"] == agent, f"{name(grant)} grants {grant['inputs']['member']}"
        assert grant["inputs"]["role"] == access.TOKEN_CREATOR, f"{name(grant)} grants {grant['inputs']['role']}"
        assert identity["urn"] in grant["dependencies"], f"{name(grant)} does not wait for the service identity"
    for resource in stack_run.resources:
        if resource["inputs"].get("member") == agent:
            assert resource in grants, f"{name(resource)} grants the transfer service agent more"


def test_the_agent_member_falls_back_to_the_documented_address_when_the_identity_has_none():
    documented = "serviceAccount:service-42@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
    assert access.transfer_agent_member("serviceAccount:x@y", "42") == "serviceAccount:x@y"
    assert access.transfer_agent_member("", "42") == documented
    assert access.transfer_agent_member(None, "42") == documented


# ---------------------------------------------------------------------------
# Location, labels, descriptions
# ---------------------------------------------------------------------------


def test_one_location_everywhere(stack_run):
    location = stack_run.settings.location
    located = [r for r in stack_run.resources if "location" in r["inputs"]]
    assert {r["type"] for r in located} == {BUCKET, DATASET, TRANSFER}, "a located resource type is unchecked"
    offenders = [f"{name(r)} location={r['inputs']['location']}" for r in located if r["inputs"]["location"] != location]
    assert not offenders, f"not in {location}: {offenders}"
    for view in filter(is_view, stack_run.of_type(TABLE)):
        for region in re.findall(r"region-[a-z0-9-]+", view["inputs"]["view"]["query"]):
            assert region == stack_run.settings.information_schema_region, f"{name(view)} reads {region}"


def test_every_resource_is_in_the_stack_project(stack_run):
    offenders = [
        f"{name(r)} project={r['inputs']['project']}"
        for r in stack_run.resources
        if "project" in r["inputs"] and r["inputs"]["project"] != stack_run.settings.project
    ]
    assert not offenders, offenders


def test_labels_everywhere(stack_run):
    env = stack_run.settings.environment
    for resource in stack_run.of_type(BUCKET, DATASET, TABLE):
        labels = resource["inputs"].get("labels") or {}
        assert labels.get("env") == env and labels.get("managed-by") == "pulumi" and labels.get("layer"), (
            f"{name(resource)} labels {labels}"
        )
    for resource in stack_run.of_type(CHANNEL, ALERT):
        labels = resource["inputs"].get("userLabels") or {}
        assert labels.get("env") == env and labels.get("managed-by") == "pulumi", f"{name(resource)} labels {labels}"
    for resource in stack_run.of_type(DATASET):
        layer = resource["inputs"]["labels"]["layer"]
        assert resource["inputs"]["datasetId"] == stack_run.settings.dataset_names[layer], name(resource)
    for dashboard in stack_run.of_type(DASHBOARD):
        assert json.loads(dashboard["inputs"]["dashboardJson"])["labels"]["env"] == env, name(dashboard)


def test_descriptions_everywhere(stack_run):
    for resource in stack_run.of_type(DATASET, TABLE, ROUTINE, ACCOUNT, CHANNEL):
        assert (resource["inputs"].get("description") or "").strip(), f"{name(resource)} has no description"
    for table in data_tables(stack_run):
        for column in json.loads(table["inputs"]["schema"]):
            assert column.get("description"), f"{name(table)} column {column['name']} has no description"
    for alert in stack_run.of_type(ALERT):
        assert alert["inputs"]["documentation"]["content"], f"{name(alert)} has no documentation"


# ---------------------------------------------------------------------------
# Tables from the contract
# ---------------------------------------------------------------------------


def tables_by_ref(run: StackRun) -> dict[str, dict]:
    layer_of = {dataset: layer for layer, dataset in run.settings.dataset_names.items()}
    return {f"{layer_of[t['inputs']['datasetId']]}.{t['inputs']['tableId']}": t for t in data_tables(run)}


def test_every_contract_table_is_declared_once(stack_run):
    declared = Counter(
        f"{t['inputs']['datasetId']}.{t['inputs']['tableId']}" for t in data_tables(stack_run)
    )
    names = stack_run.settings.dataset_names
    expected = Counter(f"{names[t.dataset]}.{t.name}" for t in contract.ALL_TABLES)
    assert declared == expected, f"extra {declared - expected}, missing {expected - declared}"


def test_raw_tables_are_all_string_and_partitioned_by_delivery_day(stack_run):
    tables = tables_by_ref(stack_run)
    days = stack_run.settings.raw_partition_expiration_days
    for source in contract.SOURCES:
        table = tables[source.raw.ref]
        schema = json.loads(table["inputs"]["schema"])
        assert [c["name"] for c in schema] == list(source.column_names), f"{name(table)} columns out of file order"
        assert {c["type"] for c in schema} == {"STRING"}, f"{name(table)} is not all STRING"
        partitioning = table["inputs"]["timePartitioning"]
        # Ingestion-time partitions: no field; the SQL filters _PARTITIONDATE.
        assert partitioning == {"type": "DAY", "expirationMs": days * 86_400_000}, f"{name(table)} {partitioning}"


def test_typed_tables_follow_the_contract(stack_run):
    tables = tables_by_ref(stack_run)
    for table in contract.SILVER_TABLES + contract.GOLD_TABLES + contract.OPS_TABLES:
        declared = tables[table.ref]
        schema = json.loads(declared["inputs"]["schema"])
        expected = json.loads(warehouse.schema_json(table))
        assert schema == expected, f"{name(declared)} schema differs from contract table {table.ref}"
        partitioning = declared["inputs"].get("timePartitioning")
        if table.partition_by:
            assert partitioning == {"type": "DAY", "field": table.partition_by}, f"{name(declared)} {partitioning}"
        else:
            assert partitioning is None, f"{name(declared)} is partitioned but its contract table is not"
        assert declared["inputs"].get("clusterings", []) == list(table.cluster_by), name(declared)


def test_contract_partition_and_clustering_hints_are_valid_for_bigquery():
    for table in contract.ALL_TABLES:
        types = {c.name: c.type for c in table.columns}
        if table.partition_by and table.partition_by != contract.RAW_PARTITION_COLUMN:
            assert types[table.partition_by] in ("DATE", "TIMESTAMP"), f"{table.ref} partitions on {table.partition_by}"
        assert len(table.cluster_by) <= warehouse.MAX_CLUSTERING_COLUMNS, f"{table.ref} clusters on too many columns"
        for column in table.cluster_by:
            assert types[column] in CLUSTERABLE_TYPES, f"{table.ref} clusters on {column} {types[column]}"


# ---------------------------------------------------------------------------
# Transfers and the scheduled query
# ---------------------------------------------------------------------------


def load_transfers(run: StackRun) -> list[dict]:
    return [t for t in run.of_type(TRANSFER) if t["inputs"]["dataSourceId"] == load.GCS_DATA_SOURCE]


def test_every_source_is_loaded_on_its_day_and_again_for_each_late_day(stack_run):
    settings = stack_run.settings
    days = [
        "{run_date}",
        *(f'{{run_time-{24 * late}h|"%Y%m%d"}}' for late in range(1, settings.late_delivery_days + 1)),
    ]
    transfers = load_transfers(stack_run)
    loaded = Counter(
        (t["inputs"]["params"]["destination_table_name_template"], t["inputs"]["params"]["data_path_template"])
        for t in transfers
    )
    expected = Counter(
        (f"{s.raw.name}${day}", f"gs://{settings.bucket_name}/{s.name}/{day}/*.csv*") for s in contract.SOURCES for day in days
    )
    assert loaded == expected, f"load transfers differ: extra {loaded - expected}, missing {expected - loaded}"
    loader = f"{settings.prefix}-loader@{settings.project}.iam.gserviceaccount.com"
    for transfer in transfers:
        inputs, params = transfer["inputs"], transfer["inputs"]["params"]
        assert set(params) <= GCS_TRANSFER_PARAMS, f"{name(transfer)} unknown params {set(params) - GCS_TRANSFER_PARAMS}"
        assert all(isinstance(v, str) for v in params.values()), f"{name(transfer)} has non-string params"
        assert params["write_disposition"] == "MIRROR", f"{name(transfer)} would not replace a re-delivered day"
        # A header row must reach SQL, where it is checked against the contract.
        assert params["skip_leading_rows"] == "0", f"{name(transfer)} skips the header row unchecked"
        assert params["allow_jagged_rows"] == "false", name(transfer)
        assert params["ignore_unknown_values"] == "false", name(transfer)
        assert params["max_bad_records"] == "0", name(transfer)
        assert params["file_format"] == "CSV", name(transfer)
        assert inputs["destinationDatasetId"] == settings.dataset_names["raw"], name(transfer)
        assert inputs["serviceAccountName"] == loader, f"{name(transfer)} runs as {inputs.get('serviceAccountName')}"
        assert inputs["schedule"] == str(settings.transfer_schedule), name(transfer)
        # The folder and the partition are always the same day.
        day = params["destination_table_name_template"].split("$", 1)[1]
        assert f"/{day}/" in params["data_path_template"], f"{name(transfer)} loads another day than it writes"


def test_the_late_day_parameter_uses_hour_offsets():
    # https://cloud.google.com/bigquery/docs/gcs-transfer-parameters: offsets in h, m, s; days unsupported.
    assert load.delivery_day_parameter(0) == "{run_date}"
    assert load.delivery_day_parameter(1) == '{run_time-24h|"%Y%m%d"}'
    assert load.delivery_day_parameter(3) == '{run_time-72h|"%Y%m%d"}'
    assert re.fullmatch(r'\{run_time-\d+h\|"%Y%m%d"\}', load.delivery_day_parameter(14))


def scheduled_queries(run: StackRun) -> list[dict]:
    return [t for t in run.of_type(TRANSFER) if t["inputs"]["dataSourceId"] == transform.SCHEDULED_QUERY_DATA_SOURCE]


def scheduled_query(run: StackRun, display_name: str) -> dict:
    named = [t for t in scheduled_queries(run) if t["inputs"]["displayName"] == display_name]
    assert len(named) == 1, f"{run.stack}: {len(named)} scheduled queries named {display_name!r}"
    return named[0]


def daily_pipeline(run: StackRun) -> dict:
    return scheduled_query(run, transform.pipeline_display_name(run.settings.prefix))


def missing_deliveries_check(run: StackRun) -> dict:
    return scheduled_query(run, transform.missing_deliveries_display_name(run.settings.prefix))


def test_the_scheduled_queries_are_the_daily_pipeline_and_the_missing_deliveries_check(stack_run):
    prefix = stack_run.settings.prefix
    names = sorted(t["inputs"]["displayName"] for t in scheduled_queries(stack_run))
    assert names == sorted([transform.pipeline_display_name(prefix), transform.missing_deliveries_display_name(prefix)]), (
        f"{stack_run.stack}: scheduled queries {names}"
    )


def test_the_missing_deliveries_check_runs_as_the_transformer_after_the_pipeline_with_no_destination(stack_run):
    settings = stack_run.settings
    check = missing_deliveries_check(stack_run)
    inputs = check["inputs"]
    assert set(inputs["params"]) == {"query"}, f"{name(check)} params {sorted(inputs['params'])}"
    assert "destinationDatasetId" not in inputs, f"{name(check)} sets a destination dataset"
    transformer = f"{settings.prefix}-transformer@{settings.project}.iam.gserviceaccount.com"
    assert inputs["serviceAccountName"] == transformer, f"{name(check)} runs as {inputs.get('serviceAccountName')}"
    assert inputs["location"] == settings.location, name(check)
    assert inputs["schedule"] == str(settings.missing_deliveries_schedule), f"{name(check)} schedule {inputs['schedule']}"
    check_time = re.fullmatch(r"every day (\d\d:\d\d)", inputs["schedule"])[1]
    pipeline_time = re.fullmatch(r"every day (\d\d:\d\d)", daily_pipeline(stack_run)["inputs"]["schedule"])[1]
    assert check_time > pipeline_time, f"{name(check)} at {check_time} runs before the pipeline at {pipeline_time}"


def test_the_missing_deliveries_check_runs_the_script_rendered_for_the_stack(stack_run):
    settings = stack_run.settings
    check = missing_deliveries_check(stack_run)
    query = check["inputs"]["params"]["query"]
    assert query == bigquery_script.missing_deliveries_script(settings.dataset_names, settings.project), (
        f"{name(check)} does not run the missing-deliveries script generated for the stack"
    )
    partitions = f"`{settings.project}.{settings.dataset_names['raw']}.INFORMATION_SCHEMA.PARTITIONS`"
    assert partitions in query, f"{name(check)} does not read {partitions}"
    for source in contract.SOURCES:
        listed = f"'{source.name}'" in query
        assert listed is (source.expected == "daily"), (
            f"{name(check)}: source {source.name} (expected {source.expected}) is {'' if listed else 'not '}checked"
        )


def test_the_transformer_may_read_raw_partitions_for_the_missing_deliveries_check(stack_run):
    # INFORMATION_SCHEMA.PARTITIONS needs bigquery.tables.get and bigquery.tables.list on the dataset,
    # both in roles/bigquery.dataViewer (docs/bigquery-behaviour.md#partitions-view).
    settings = stack_run.settings
    transformer = f"serviceAccount:{settings.prefix}-transformer@{settings.project}.iam.gserviceaccount.com"
    raw_roles = {
        r["inputs"]["role"]
        for r in stack_run.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
        if r["inputs"]["member"] == transformer and r["inputs"]["datasetId"] == settings.dataset_names["raw"]
    }
    assert raw_roles & {"roles/bigquery.dataViewer", "roles/bigquery.dataEditor"}, (
        f"{stack_run.stack}: the transformer holds {sorted(raw_roles)} on raw, which cannot list its partitions"
    )


def test_a_failed_missing_deliveries_check_trips_the_failed_run_alert(stack_run):
    # The alert counts every Data Transfer config's FAILED runs, not a list of configs: the check's
    # failure reaches the same channels as a failed load or pipeline run.
    (alert,) = stack_run.of_type(ALERT)
    condition = alert["inputs"]["conditions"][0]["conditionThreshold"]["filter"]
    assert "resource.label.config_id" not in condition and "config_id" not in condition, (
        f"{name(alert)} is limited to some configs: {condition}"
    )
    assert f'resource.type = "{monitoring.TRANSFER_RESOURCE_TYPE}"' in condition, name(alert)
    assert missing_deliveries_check(stack_run)["inputs"]["dataSourceId"] == transform.SCHEDULED_QUERY_DATA_SOURCE


def test_one_daily_scheduled_query_sets_no_destination(stack_run):
    settings = stack_run.settings
    query = daily_pipeline(stack_run)
    inputs = query["inputs"]
    assert set(inputs["params"]) == {"query"}, f"{name(query)} params {sorted(inputs['params'])}"
    assert not set(inputs["params"]) & DESTINATION_PARAMS, name(query)
    assert "destinationDatasetId" not in inputs, f"{name(query)} sets a destination dataset"
    assert inputs["serviceAccountName"] == f"{settings.prefix}-transformer@{settings.project}.iam.gserviceaccount.com"
    assert inputs["schedule"] == str(settings.pipeline_schedule), name(query)
    assert inputs["params"]["query"] == bigquery_script.daily_script(
        settings.dataset_names, settings.project, environment=settings.environment
    ), f"{name(query)} does not run the script generated for the stack"
    assert f'set @@query_label = "{bigquery_script.query_label(settings.environment)}";' in inputs["params"]["query"]


def test_schedules_are_off_the_hour_with_loads_first(stack_run):
    times = {}
    for transfer in stack_run.of_type(TRANSFER):
        match = re.fullmatch(r"every day (\d\d):(\d\d)", transfer["inputs"]["schedule"])
        assert match, f"{name(transfer)} schedule {transfer['inputs']['schedule']!r}"
        assert match[2] != "00", f"{name(transfer)} runs on the hour (see infra/settings.py)"
        times[transfer["inputs"]["dataSourceId"]] = max(times.get(transfer["inputs"]["dataSourceId"], ""), match[0])
    assert times[load.GCS_DATA_SOURCE] < times[transform.SCHEDULED_QUERY_DATA_SOURCE], times


def test_every_sql_step_is_deployed_exactly_once(stack_run):
    settings = stack_run.settings
    procedures = [r for r in stack_run.of_type(ROUTINE) if r["inputs"]["routineType"] == "PROCEDURE"]
    deployed = Counter(r["inputs"]["routineId"] for r in procedures)
    assert deployed == Counter(step.procedure_name for step in contract.PIPELINE), deployed
    by_id = {r["inputs"]["routineId"]: r for r in procedures}
    script = daily_pipeline(stack_run)["inputs"]["params"]["query"]
    calls = re.findall(r"^\s*call `[^`]+\.(\w+)`\(", script, flags=re.MULTILINE)
    assert calls == [step.procedure_name for step in contract.PIPELINE], "the script calls steps out of order"
    for step in contract.PIPELINE:
        routine = by_id[step.procedure_name]
        dataset = settings.dataset_names[step.procedure_dataset]
        assert routine["inputs"]["datasetId"] == dataset, f"{name(routine)} is not in {dataset}"
        assert f"call `{settings.project}.{dataset}.{step.procedure_name}`(@run_date, pipeline_run_id, pipeline_sql_digest);" in script
        argument_types = [json.loads(a["dataType"])["typeKind"] for a in routine["inputs"]["arguments"]]
        assert argument_types == list(contract.QUERY_PARAMETERS.values()), f"{name(routine)} arguments {argument_types}"
        expected = sqlgen.procedure_body(step, settings.dataset_names, settings.project)
        assert routine["inputs"]["definitionBody"] == expected, f"{name(routine)} body is not the step's SQL"


def test_every_sql_function_is_deployed_once_before_its_callers(stack_run):
    functions = [r for r in stack_run.of_type(ROUTINE) if r["inputs"]["routineType"] == "SCALAR_FUNCTION"]
    deployed = Counter(
        (r["inputs"]["datasetId"], r["inputs"]["routineId"]) for r in functions
    )
    names = stack_run.settings.dataset_names
    assert deployed == Counter((names[f.dataset], f.name) for f in sqlgen.functions()), deployed
    urns = {(r["inputs"]["datasetId"], r["inputs"]["routineId"]): r["urn"] for r in functions}
    for function in functions:
        for called in sqlgen.functions():
            key = (names[called.dataset], called.name)
            if key != (function["inputs"]["datasetId"], function["inputs"]["routineId"]) and re.search(
                rf"`?{re.escape(stack_run.settings.project)}\.{names[called.dataset]}`?\.{called.name}\s*\(",
                function["inputs"]["definitionBody"],
            ):
                assert urns[key] in function["dependencies"], f"{name(function)} does not wait for {called.ref}"


def test_step_procedures_are_legal_inside_the_daily_transaction():
    # A transaction allows DML and temp objects, not DDL on permanent tables
    # (https://cloud.google.com/bigquery/docs/transactions, "Statements supported in transactions"),
    # and transactions cannot nest.
    for step in contract.PIPELINE:
        body = re.sub(r"--[^\n]*", "", sqlgen.procedure_body(step)).lower()
        assert not re.search(r"\bbegin\s+transaction\b|\bcommit\b|\brollback\b", body), (
            f"procedure {step.procedure_name} manages its own transaction"
        )
        permanent_ddl = re.findall(r"\b(?:create|drop|alter)\s+(?:or\s+replace\s+)?(?!temp\b|temporary\b)(\w+)", body)
        permanent_ddl = [kind for kind in permanent_ddl if kind in ("table", "view", "schema", "function")]
        temp_tables = set(re.findall(r"create\s+(?:or\s+replace\s+)?temp(?:orary)?\s+table\s+(\w+)", body))
        dropped = set(re.findall(r"\bdrop\s+table\s+(?:if\s+exists\s+)?(\w+)", body))
        assert not (dropped - temp_tables), f"procedure {step.procedure_name} drops permanent tables {dropped - temp_tables}"
        assert all(kind == "table" for kind in permanent_ddl), f"procedure {step.procedure_name}: {permanent_ddl}"


def temp_tables_read_but_not_created(body: str) -> set[str]:
    """Unqualified tables a body reads or writes that it neither creates as temp tables nor names as CTEs."""
    code = re.sub(r"--[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'", " ", body, flags=re.DOTALL)
    code = re.sub(r"\bextract\s*\(\s*\w+\s+from\b", "extract(", code, flags=re.IGNORECASE)
    created = set(re.findall(r"create\s+(?:or\s+replace\s+)?temp(?:orary)?\s+table\s+(\w+)", code, re.IGNORECASE))
    named = set(re.findall(r"(?:\bwith|,)\s*(\w+)\s+as\s*\(", code, re.IGNORECASE))
    used = set(re.findall(r"\b(?:from|join|into|update|merge)\s+([a-z_]\w*)\b(?!\s*[.(])", code, re.IGNORECASE))
    return {name.lower() for name in used - created - named} - {"unnest"}


def test_every_procedure_reads_only_the_temporary_tables_it_creates():
    # Whether a temp table made in one procedure is visible to the next CALL of the same script is
    # settled only by tests/live/ (docs/bigquery-behaviour.md#settled-by-the-live-suite); no step
    # relies on it.
    assert temp_tables_read_but_not_created("create temp table a as select 1; select * from a join b using (x)") == {"b"}
    for step in contract.PIPELINE:
        borrowed = temp_tables_read_but_not_created(sqlgen.procedure_body(step))
        assert not borrowed, f"procedure {step.procedure_name} uses temp tables it does not create: {sorted(borrowed)}"


# ---------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------


def test_stateful_resources_follow_the_deletion_protection_switch(stack_run):
    protected = stack_run.settings.deletion_protection
    for resource in stack_run.of_type(BUCKET) + stack_run.of_type(DATASET) + data_tables(stack_run):
        assert resource["protect"] is protected, f"{name(resource)} protect={resource['protect']}"
    for bucket in stack_run.of_type(BUCKET):
        assert bucket["inputs"]["forceDestroy"] is (not protected), f"{name(bucket)} forceDestroy"
    for dataset in stack_run.of_type(DATASET):
        assert dataset["inputs"]["deleteContentsOnDestroy"] is (not protected), f"{name(dataset)} deleteContentsOnDestroy"
    for table in data_tables(stack_run):
        assert table["inputs"]["deletionProtection"] is protected, f"{name(table)} deletionProtection"


def test_prod_is_protected_and_dev_is_destroyable():
    from infra_harness import run_stack

    assert run_stack("prod").settings.deletion_protection, "Pulumi.prod.yaml must keep deletionProtection true"
    assert not run_stack("dev").settings.deletion_protection, "Pulumi.dev.yaml must be destroyable"


def test_cmek_is_applied_when_configured(stack_run):
    key = stack_run.settings.kms_key_name
    for bucket in stack_run.of_type(BUCKET):
        assert (bucket["inputs"].get("encryption") or {}).get("defaultKmsKeyName") == key, name(bucket)
    for dataset in stack_run.of_type(DATASET):
        configured = (dataset["inputs"].get("defaultEncryptionConfiguration") or {}).get("kmsKeyName")
        assert configured == key, name(dataset)
    # ForceNew and read back from the API: a table inheriting the key without declaring it would be
    # planned for replacement on the next preview.
    for table in data_tables(stack_run):
        configured = (table["inputs"].get("encryptionConfiguration") or {}).get("kmsKeyName")
        assert configured == key, f"{name(table)} declares encryption key {configured!r}, the stack's is {key!r}"
    grants = stack_run.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert len(grants) == (2 if key else 0), [name(g) for g in grants]
    for grant in grants:
        assert grant["inputs"]["cryptoKeyId"] == key, name(grant)
        assert grant["inputs"]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter", name(grant)


# ---------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------


def test_everything_waits_for_the_apis(stack_run):
    services = {r["urn"] for r in stack_run.of_type(SERVICE)}
    enabled = {r["inputs"]["service"] for r in stack_run.of_type(SERVICE)}
    assert {"bigquery.googleapis.com", "bigquerydatatransfer.googleapis.com"} <= enabled, enabled
    for resource in stack_run.resources:
        if resource["type"] != SERVICE:
            assert services <= set(resource["dependencies"]), f"{name(resource)} does not wait for the APIs"


def test_resources_are_children_of_stage_components():
    run_dir = Path(__file__).resolve().parents[2] / "infra"
    from infra_harness import run_stack

    run = run_stack("dev")
    components = {c["urn"]: c for c in run.components}
    for component in run.components:
        match = re.fullmatch(r"customer360:(\w+):(\w+)", component["type"])
        assert match, f"component {component['name']} has type {component['type']}"
        assert (run_dir / f"{match[1]}.py").exists(), f"{component['type']}: no infra/{match[1]}.py"
    for resource in run.resources:
        assert resource["parent"] in components, f"{name(resource)} is not parented to a stage component"
        parent = components[resource["parent"]]
        assert resource["name"].startswith(f"{parent['name']}-"), f"{name(resource)} is not named after {parent['name']}"


def test_monitoring_alerts_on_failed_transfer_runs(stack_run):
    (alert,) = stack_run.of_type(ALERT)
    condition = alert["inputs"]["conditions"][0]["conditionThreshold"]
    assert condition["filter"] == monitoring.FAILED_RUNS_FILTER, name(alert)
    assert 'metric.label.completion_state = "FAILED"' in condition["filter"], name(alert)
    channels = stack_run.of_type(CHANNEL)
    assert sorted(c["inputs"]["labels"]["email_address"] for c in channels) == sorted(stack_run.settings.alert_emails)
    assert len(alert["inputs"]["notificationChannels"]) == len(channels), f"{name(alert)} misses a channel"
    views = {t["inputs"]["tableId"] for t in stack_run.of_type(TABLE) if is_view(t)}
    assert views == set(monitoring.OPS_VIEWS), views


def unqualified_references(sql: str) -> set[str]:
    """Logical `dataset.name` references left in SQL (comments, strings and quoted identifiers removed)."""
    code = re.sub(r"--[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`[^`]*`", " ", sql, flags=re.DOTALL)
    return set(re.findall(rf"\b(?:{'|'.join(contract.DATASETS)})\.\w+", code, flags=re.IGNORECASE))


def test_deployed_sql_names_only_real_datasets(stack_run):
    # A logical name such as raw.customers would be looked up as dataset `raw` of the
    # default project, which does not exist: every reference must name the stack's datasets.
    offenders = {}
    for resource in stack_run.of_type(ROUTINE, TABLE, TRANSFER):
        inputs = resource["inputs"]
        sql = inputs.get("definitionBody") or (inputs.get("view") or {}).get("query") or inputs.get("params", {}).get("query")
        if sql and (left := unqualified_references(sql)):
            offenders[name(resource)] = sorted(left)
    assert not offenders, f"logical dataset names left in deployed SQL: {offenders}"


def test_unqualified_references_are_found():
    assert unqualified_references("begin truncate table gold.customer_360; select 'raw.x' -- ops.y\nend") == {
        "gold.customer_360"
    }
    assert unqualified_references("select * from `p.c360_raw.customers` join c360_dev_raw.stores using (id)") == set()

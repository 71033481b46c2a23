"""Deploys a throwaway stack to a real Google Cloud project and checks BigQuery's results against the local engine.

Skipped unless all of these are present:
- C360_LIVE_PROJECT: a project where the caller may create buckets, datasets, transfers,
  service accounts, IAM bindings and monitoring resources (see README, "Deploying to BigQuery");
- Google application-default credentials (`gcloud auth application-default login`);
- the `pulumi` CLI on PATH (the Automation API drives it), logged in to a backend
  (`pulumi login --local` is enough);
- the live extras: `.venv/bin/pip install -e '.[live]'`.
Optional: C360_LIVE_LOCATION (default US), C360_LIVE_ALERT_EMAIL.

Run with: `.venv/bin/pytest tests/live -m live -s` (about 15-30 minutes, mostly waiting for transfers).
The stack is destroyed and removed at the end, also when a check fails.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from customer360 import contract, engine

pytestmark = pytest.mark.live

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("C360_LIVE_PROJECT")
LOCATION = os.environ.get("C360_LIVE_LOCATION", "US")


def _missing_prerequisite() -> str | None:
    if not PROJECT:
        return "C360_LIVE_PROJECT is not set"
    if shutil.which("pulumi") is None:
        return "the pulumi CLI is not on PATH"
    try:
        import google.auth
        from google.cloud import bigquery_datatransfer, storage  # noqa: F401
        from pulumi import automation  # noqa: F401

        google.auth.default()
    except ImportError as error:
        return f"live extras not installed ({error.name}); pip install -e '.[live]'"
    except Exception as error:  # google.auth.exceptions.DefaultCredentialsError and friends
        return f"no Google credentials: {error}"
    return None


_reason = _missing_prerequisite()
if _reason:
    pytest.skip(f"live BigQuery suite skipped: {_reason}", allow_module_level=True)

from google.cloud import bigquery, bigquery_datatransfer, storage  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from pulumi import automation as auto  # noqa: E402

from customer360 import generate  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    suffix = uuid.uuid4().hex[:6]
    name = f"live-{suffix}"
    workspace = auto.create_or_select_stack(stack_name=name, work_dir=str(REPO_ROOT))
    config = {
        "customer360:project": PROJECT,
        "customer360:location": LOCATION,
        "customer360:prefix": f"c360-t{suffix}",
        "customer360:environment": "live-test",
        "customer360:deletionProtection": "false",
        "customer360:rawPartitionExpirationDays": "7",
        "customer360:landingRetentionDays": "7",
    }
    for key, value in config.items():
        workspace.set_config(key, auto.ConfigValue(value=value))
    workspace.set_config(
        "customer360:alertEmails",
        auto.ConfigValue(value=f'["{os.environ.get("C360_LIVE_ALERT_EMAIL", "nobody@example.com")}"]'),
    )
    try:
        result = workspace.up(on_output=print)
        yield {key: output.value for key, output in result.outputs.items()}
    finally:
        workspace.destroy(on_output=print)
        workspace.workspace.remove_stack(name)


def _wait_for_runs(client, runs, timeout_seconds: int = 1800) -> None:
    pending = {run.name for run in runs}
    deadline = time.monotonic() + timeout_seconds
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            run = client.get_transfer_run(name=name)
            state = bigquery_datatransfer.TransferState(run.state)
            if state == bigquery_datatransfer.TransferState.SUCCEEDED:
                pending.discard(name)
            elif state in (bigquery_datatransfer.TransferState.FAILED, bigquery_datatransfer.TransferState.CANCELLED):
                pytest.fail(f"transfer run {name} ended {state.name}: {run.error_status.message}")
        time.sleep(20)
    assert not pending, f"transfer runs still pending after {timeout_seconds} s: {sorted(pending)}"


def _start(client, config_name: str, when: dt.datetime):
    stamp = Timestamp()
    stamp.FromDatetime(when)
    response = client.start_manual_transfer_runs(
        request={"parent": config_name, "requested_run_time": stamp}
    )
    return list(response.runs)


def _normalise(value):
    if isinstance(value, float):
        return round(value, 9) if not math.isnan(value) else "nan"
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    return value


def _rows(rows) -> list[tuple]:
    return sorted((tuple(_normalise(v) for v in row) for row in rows), key=repr)


def test_bigquery_computes_what_the_local_engine_computes(stack, tmp_path):
    run_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    delivery = tmp_path / "data"
    generate.generate(delivery, days=1, scale=0.05, seed=11, start=run_at.date())
    day_dir = next(p for p in delivery.iterdir() if p.is_dir())

    bucket = storage.Client(project=PROJECT).bucket(stack["bucket"])
    for csv_file in sorted(day_dir.glob("*.csv")):
        bucket.blob(f"{csv_file.stem}/{run_at:%Y%m%d}/{csv_file.name}").upload_from_filename(str(csv_file))

    transfers = bigquery_datatransfer.DataTransferServiceClient()
    names = stack["transfer_config_names"]
    runs = [run for source in contract.SOURCES for run in _start(transfers, names[source.name], run_at)]
    _wait_for_runs(transfers, runs)
    _wait_for_runs(transfers, _start(transfers, names["daily_pipeline"], run_at))

    local_warehouse = tmp_path / "local.duckdb"
    engine.run_delivery(day_dir, run_at.date(), local_warehouse)
    connection = engine.connect(local_warehouse)
    client = bigquery.Client(project=PROJECT, location=LOCATION)
    datasets = stack["datasets"]
    try:
        for table in contract.GOLD_TABLES + contract.SILVER_TABLES:
            columns = ", ".join(c for c in table.column_names if c != contract.DELIVERY_DATE_COLUMN)
            local = _rows(connection.execute(f"SELECT {columns} FROM {table.ref}").fetchall())
            cloud = _rows(
                client.query(f"SELECT {columns} FROM `{PROJECT}.{datasets[table.dataset]}.{table.name}`").result()
            )
            assert cloud == local, f"{table.ref}: BigQuery and the local engine disagree"
        rejected_local = connection.execute("SELECT source, reason, count(*) FROM ops.rejected_rows GROUP BY ALL").fetchall()
        rejected_cloud = client.query(
            f"SELECT source, reason, count(*) FROM `{PROJECT}.{datasets['ops']}.rejected_rows` GROUP BY 1, 2"
        ).result()
        assert _rows(rejected_cloud) == _rows(rejected_local), "ops.rejected_rows differ"
        statuses = {
            row[0]
            for row in client.query(
                f"SELECT status FROM `{PROJECT}.{datasets['ops']}.pipeline_runs` WHERE run_date = @day",
                job_config=bigquery.QueryJobConfig(
                    query_parameters=[bigquery.ScalarQueryParameter("day", "DATE", run_at.date())]
                ),
            ).result()
        }
        assert statuses == {"succeeded"}, f"ops.pipeline_runs statuses for the run: {statuses}"
    finally:
        connection.close()

"""Deploys a throwaway stack to a real Google Cloud project and checks BigQuery's results against the local engine.

Skipped unless all of these are present:
- C360_LIVE_PROJECT: a project where the caller may create buckets, datasets, routines, transfers,
  service accounts, IAM bindings and monitoring resources (see README, "Deploying to BigQuery");
- Google application-default credentials (`gcloud auth application-default login`);
- the `pulumi` CLI on PATH (the Automation API drives it), logged in to a backend
  (`pulumi login --local` is enough);
- the live extras: `.venv/bin/pip install -e '.[live]'`.
Optional: C360_LIVE_LOCATION (default US), C360_LIVE_ALERT_EMAIL (who gets the alerts the suite trips).

Run with: `.venv/bin/pytest tests/live -m live -s -n 0` (about 45-90 minutes, mostly waiting for
transfer runs). The tests share one stack and run in file order, each building on the one before; the
stack is destroyed and removed at the end, also when a check fails. While it exists, the stack's
settings file Pulumi.live-<id>.yaml sits in the repository root (`c360 backfill --stack` reads it).

The scenario, over three delivery days ending yesterday (every run is a manual run at the day's schedule
time; the stack's schedules are set 12 hours away so that no scheduled run interferes):
1. day 1 delivered whole, loaded, processed: silver, gold and the rejected rows equal the local engine's;
2. day 2 delivered without online_orders: the pipeline processes the rest, the missing-deliveries check
   fails naming online_orders (and passes for day 1);
3. day 2's online_orders lands late; day 3's transfers and late-delivery transfers run, then the pipeline:
   the late file is processed, and the check passes for day 2 now;
4. day 1 is re-delivered without one order line: the line leaves silver and gold;
5. a run with nothing pending writes nothing;
6. `c360 backfill --stack` re-loads day 3 and runs the pipeline.
Then the facts that cannot be known offline, each its own test printing what it found (lines starting
`LIVE FACT`), as listed in docs/bigquery-behaviour.md#settled-by-the-live-suite.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from live_harness import (
    LocalReference,
    Waiter,
    cloud_table,
    comparable_rows,
    compared_tables,
    copy_day,
    delivery_uploads,
    differences,
    keys_held_by_one_day_only,
    live_days,
    missing_prerequisite,
    object_name,
    rejected_rows_sql,
    run_time,
    stack_config,
    typed_key,
    write_without_key,
)

from customer360 import contract

pytestmark = pytest.mark.live

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("C360_LIVE_PROJECT", "")
LOCATION = os.environ.get("C360_LIVE_LOCATION", "US")

_reason = missing_prerequisite(os.environ)
if _reason:
    pytest.skip(f"live BigQuery suite skipped: {_reason}", allow_module_level=True)

from google.cloud import bigquery, bigquery_datatransfer, storage  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from pulumi import automation as auto  # noqa: E402

from customer360 import generate  # noqa: E402

TODAY = dt.datetime.now(dt.timezone.utc).date()
DAY1, DAY2, DAY3 = live_days(TODAY)
# Days the fact probes use, which the scenario never touches.
NEVER_DELIVERED_DAY = TODAY - dt.timedelta(days=5)
EMPTIED_DAY = TODAY - dt.timedelta(days=6)
LATE_SOURCE = contract.SOURCES_BY_NAME["online_orders"]
PROBE_SOURCE = contract.SOURCES_BY_NAME["support_agents"]
DEPLOY_RETRY_SECONDS = 120


def fact(text: str) -> None:
    print(f"LIVE FACT: {text}", flush=True)


class Live:
    """The deployed stack and the clients that drive it."""

    def __init__(self, stack_name: str, config: dict[str, str], outputs: dict, deployed_at: dt.datetime):
        self.stack_name = stack_name
        self.config = config
        self.outputs = outputs
        self.deployed_at = deployed_at
        self.datasets: dict[str, str] = outputs["datasets"]
        self.configs: dict[str, str] = outputs["transfer_config_names"]
        self.transfers = bigquery_datatransfer.DataTransferServiceClient()
        self.bigquery = bigquery.Client(project=PROJECT, location=LOCATION)
        self.bucket = storage.Client(project=PROJECT).bucket(outputs["bucket"])
        self.waiter = Waiter(self.transfers)
        self.done: set[str] = set()

    def require(self, *steps: str) -> None:
        missing = [step for step in steps if step not in self.done]
        if missing:
            pytest.skip(f"needs the earlier steps {missing}, which did not complete")

    def upload(self, uploads: list[tuple[Path, str]]) -> None:
        for path, name in uploads:
            self.bucket.blob(name).upload_from_filename(str(path))

    def start(self, config_key: str, day: dt.date, schedule_key: str) -> str:
        stamp = Timestamp()
        stamp.FromDatetime(run_time(day, self.config[schedule_key]))
        response = self.transfers.start_manual_transfer_runs(
            request={"parent": self.configs[config_key], "requested_run_time": stamp}
        )
        (run,) = response.runs
        return run.name

    def load(self, day: dt.date, config_keys: list[str]) -> dict:
        """Each transfer's run for DAY, waited for: {config key: RunOutcome}, whatever the outcome."""
        started = {key: self.start(key, day, "transferSchedule") for key in config_keys}
        finished = self.waiter.wait(started.values())
        return {key: finished[name] for key, name in started.items()}

    def run_pipeline(self, day: dt.date) -> None:
        self.waiter.wait_succeeded([self.start("daily_pipeline", day, "pipelineSchedule")])

    def run_missing_deliveries_check(self, day: dt.date):
        name = self.start("missing_deliveries", day, "pipelineSchedule")
        return self.waiter.wait([name])[name]

    def query(self, sql: str, **parameters) -> list:
        """Rows of SQL; a parameter is a value (DATE or STRING) or a (BigQuery type, value) pair."""

        def parameter(key, value):
            kind, value = value if isinstance(value, tuple) else ("DATE" if isinstance(value, dt.date) else "STRING", value)
            return bigquery.ScalarQueryParameter(key, kind, value)

        job_config = bigquery.QueryJobConfig(query_parameters=[parameter(k, v) for k, v in parameters.items()])
        return list(self.bigquery.query(sql, job_config=job_config).result())

    def ref(self, table: contract.Table) -> str:
        return cloud_table(PROJECT, self.datasets, table)

    def tables(self) -> dict[str, list[tuple]]:
        found = {
            table.ref: comparable_rows(self.query(f"SELECT {', '.join(table.column_names)} FROM {self.ref(table)}"))
            for table in compared_tables()
        }
        found["ops.rejected_rows"] = comparable_rows(self.query(rejected_rows_sql(self.ref(contract.table("ops.rejected_rows")))))
        return found

    def partition_rows(self, source: contract.Source, day: dt.date) -> int | None:
        rows = self.query(
            f"SELECT total_rows FROM `{PROJECT}.{self.datasets['raw']}.INFORMATION_SCHEMA.PARTITIONS` "
            "WHERE table_name = @source AND partition_id = @partition",
            source=source.name, partition=f"{day:%Y%m%d}",
        )
        return rows[0][0] if rows else None


def assert_same(local: LocalReference, live: Live, after: str) -> dict[str, list[tuple]]:
    expected = local.tables()
    problems = differences(expected, live.tables())
    assert not problems, f"after {after}, BigQuery and the local engine disagree:\n  " + "\n  ".join(problems)
    return expected


@pytest.fixture(scope="module")
def live():
    suffix = uuid.uuid4().hex[:6]
    name = f"live-{suffix}"
    now = dt.datetime.now(dt.timezone.utc)
    config = stack_config(PROJECT, LOCATION, suffix, os.environ.get("C360_LIVE_ALERT_EMAIL", "nobody@example.com"), now)
    stack = auto.create_or_select_stack(stack_name=name, work_dir=str(REPO_ROOT))
    try:
        for key, value in config.items():
            stack.set_config(f"customer360:{key}", auto.ConfigValue(value=value))
        try:
            result = stack.up(on_output=print)
        except auto.CommandError as error:
            # A first deployment can fail while new IAM grants propagate; a second `pulumi up` creates
            # only what is missing (README, "Deploy", first-run notes).
            print(f"pulumi up failed, retrying once in {DEPLOY_RETRY_SECONDS} s: {str(error).splitlines()[-1:]}")
            time.sleep(DEPLOY_RETRY_SECONDS)
            result = stack.up(on_output=print)
        yield Live(name, config, {key: output.value for key, output in result.outputs.items()}, dt.datetime.now(dt.timezone.utc))
    finally:
        try:
            stack.destroy(on_output=print)
        finally:
            stack.workspace.remove_stack(name)
            (REPO_ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> dict[dt.date, Path]:
    root = tmp_path_factory.mktemp("deliveries")
    generate.generate(root, days=3, scale=0.05, seed=11, start=DAY1)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    return dict(zip((DAY1, DAY2, DAY3), folders, strict=True))


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> LocalReference:
    return LocalReference(tmp_path_factory.mktemp("local") / "warehouse.duckdb")


# ---------------------------------------------------------------------------
# Right after the deploy
# ---------------------------------------------------------------------------


def test_fact_whether_a_newly_created_scheduled_query_runs_at_once(live):
    # Observed before any manual run; the schedules are 12 hours away, so a run of today is one the
    # creation started. The pipeline's run over an empty raw must succeed and write nothing.
    time.sleep(max(0.0, 180 - (dt.datetime.now(dt.timezone.utc) - live.deployed_at).total_seconds()))
    for key in ("daily_pipeline", "missing_deliveries"):
        runs = list(live.transfers.list_transfer_runs(parent=live.configs[key]))
        fact(f"{key}: {len(runs)} run(s) within 3 minutes of creation: "
             + ", ".join(f"{r.run_time} {bigquery_datatransfer.TransferState(r.state).name}" for r in runs))
        if key == "daily_pipeline" and runs:
            finished = live.waiter.wait([r.name for r in runs])
            failed = [o for o in finished.values() if o.state != "SUCCEEDED"]
            assert not failed, f"the daily pipeline's first, unasked run failed: {failed}"
            written = live.query(f"SELECT count(*) FROM {live.ref(contract.table('ops.processed_partitions'))}")[0][0]
            assert written == 0, f"a run over an empty raw dataset processed {written} partitions"


# ---------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------


def test_day_one_loaded_and_processed_equals_the_local_engine(live, deliveries, local):
    live.upload(delivery_uploads(deliveries[DAY1], DAY1))
    finished = live.load(DAY1, [s.name for s in contract.SOURCES])
    failed = [o for o in finished.values() if o.state != "SUCCEEDED"]
    assert not failed, f"day 1 load runs failed: {failed}"
    live.run_pipeline(DAY1)
    local.run(deliveries[DAY1], DAY1)
    assert_same(local, live, "day 1")
    statuses = {row[0] for row in live.query(
        f"SELECT status FROM {live.ref(contract.table('ops.pipeline_runs'))} WHERE run_date = @day", day=DAY1)}
    assert statuses == {"succeeded"}, f"ops.pipeline_runs statuses for day 1: {statuses}"
    check = live.run_missing_deliveries_check(DAY1)
    assert check.state == "SUCCEEDED", f"the missing-deliveries check failed for day 1, delivered whole: {check.message}"
    live.done.add("day1")


def test_a_source_not_delivered_fails_the_missing_deliveries_check_and_the_others_are_processed(
    live, deliveries, local, tmp_path_factory
):
    live.require("day1")
    without = copy_day(deliveries[DAY2], tmp_path_factory.mktemp("day2") / "partial", without=[LATE_SOURCE.name])
    live.upload(delivery_uploads(without, DAY2, [s.name for s in contract.SOURCES if s is not LATE_SOURCE]))
    finished = live.load(DAY2, [s.name for s in contract.SOURCES])
    empty_run = finished[LATE_SOURCE.name]
    fact(f"the own transfer of {LATE_SOURCE.name} over an absent day folder ended {empty_run.state}"
         f"{': ' + empty_run.message if empty_run.message else ''}; partition rows now {live.partition_rows(LATE_SOURCE, DAY2)}")
    failed = [o for key, o in finished.items() if o.state != "SUCCEEDED" and key != LATE_SOURCE.name]
    assert not failed, f"day 2 load runs of delivered sources failed: {failed}"
    live.run_pipeline(DAY2)
    local.run(without, DAY2)
    assert_same(local, live, f"day 2 without {LATE_SOURCE.name}")

    check = live.run_missing_deliveries_check(DAY2)
    fact(f"a scheduled query ending in RAISE ended {check.state}: {check.message}")
    assert check.state == "FAILED", f"the missing-deliveries check did not fail for day 2: {check.state}"
    assert LATE_SOURCE.name in check.message, f"the check's error does not name {LATE_SOURCE.name}: {check.message}"
    others = [s.name for s in contract.SOURCES if s is not LATE_SOURCE and s.name in check.message]
    assert not others, f"the check names delivered sources {others}: {check.message}"
    live.done.add("day2")


def test_a_late_file_is_loaded_by_the_next_days_late_transfer_and_processed_by_the_next_run(live, deliveries, local):
    live.require("day2")
    live.upload(delivery_uploads(deliveries[DAY2], DAY2, [LATE_SOURCE.name]))
    live.upload(delivery_uploads(deliveries[DAY3], DAY3))
    own = [s.name for s in contract.SOURCES]
    late = [f"{s.name}+1d" for s in contract.SOURCES]
    finished = live.load(DAY3, own + late)
    failed = [o for o in finished.values() if o.state != "SUCCEEDED"]
    assert not failed, f"day 3 load runs (own and late-delivery) failed: {failed}"
    rows = live.partition_rows(LATE_SOURCE, DAY2)
    assert rows, f"the late-delivery transfer did not load {object_name(LATE_SOURCE.name, DAY2, '')} (rows {rows})"
    live.run_pipeline(DAY3)
    local.load(deliveries[DAY2], DAY2)
    local.run(deliveries[DAY3], DAY3)
    assert_same(local, live, "the late file of day 2 and day 3")
    processed = live.query(
        f"SELECT count(*) FROM {live.ref(LATE_SOURCE.silver)} WHERE {contract.DELIVERY_DATE_COLUMN} = @day", day=DAY2)
    assert processed[0][0] > 0, f"silver holds no {LATE_SOURCE.name} row delivered on {DAY2}"
    check = live.run_missing_deliveries_check(DAY2)
    assert check.state == "SUCCEEDED", f"the check still fails for day 2 after the late file: {check.message}"
    live.done.add("late")


def test_a_redelivered_day_without_a_row_removes_it_from_silver_and_gold(live, deliveries, local, tmp_path_factory):
    live.require("late")
    file_name = f"{LATE_SOURCE.name}.csv"
    candidates = keys_held_by_one_day_only(
        LATE_SOURCE, deliveries[DAY1] / file_name, [deliveries[DAY2] / file_name, deliveries[DAY3] / file_name]
    )
    # A key that silver holds (a rejected row would not leave anything to withdraw).
    key = next(k for k in candidates if local.holds(LATE_SOURCE.silver, typed_key(LATE_SOURCE.silver, LATE_SOURCE.primary_key, k)))
    key_parameters = typed_key(LATE_SOURCE.silver, LATE_SOURCE.primary_key, key)
    key_filter = " AND ".join(f"{column} = @{column}" for column in LATE_SOURCE.primary_key)
    silver_sql = f"SELECT count(*) FROM {live.ref(LATE_SOURCE.silver)} WHERE {key_filter}"
    assert live.query(silver_sql, **key_parameters)[0][0] == 1, f"silver does not hold {key} before the re-delivery"

    redelivered = copy_day(deliveries[DAY1], tmp_path_factory.mktemp("day1") / "redelivered")
    dropped = write_without_key(deliveries[DAY1] / file_name, LATE_SOURCE, key, redelivered / file_name)
    assert dropped == 1, f"{file_name} of day 1 held {dropped} rows of {key}"
    before = local.tables()
    gold_before = {t.ref: before[t.ref] for t in contract.GOLD_TABLES}
    live.upload(delivery_uploads(redelivered, DAY1, [LATE_SOURCE.name]))
    reload = live.load(DAY1, [LATE_SOURCE.name])[LATE_SOURCE.name]
    assert reload.state == "SUCCEEDED", f"the re-delivery's load ended {reload.state}: {reload.message}"
    live.run_pipeline(DAY3)
    local.load(redelivered, DAY1)
    local.process(DAY3)
    expected = assert_same(local, live, f"day 1 re-delivered without {key}")
    assert live.query(silver_sql, **key_parameters)[0][0] == 0, f"silver still holds {key} after the re-delivery"
    assert any(expected[ref] != rows for ref, rows in gold_before.items()), (
        f"no gold table changed when {key} left: the scenario does not exercise gold"
    )
    live.done.add("withdrawal")


def test_a_run_with_nothing_pending_writes_nothing(live):
    live.require("withdrawal")
    tables = [t for t in contract.ALL_TABLES if t.dataset != "raw"]

    def modified() -> dict[str, tuple]:
        found = {}
        for table in tables:
            stored = live.bigquery.get_table(live.ref(table).strip("`"))
            found[table.ref] = (stored.modified, stored.num_rows)
        return found

    before = modified()
    live.run_pipeline(DAY3)
    after = modified()
    changed = {ref: (before[ref], after[ref]) for ref in before if before[ref] != after[ref]}
    assert not changed, f"a run with nothing pending changed {changed}"
    live.done.add("nothing pending")


def test_c360_backfill_with_the_stack_reloads_the_days_and_runs_the_pipeline(live, local):
    live.require("nothing pending")
    command = [str(Path(sys.executable).with_name("c360")), "backfill", "--stack", live.stack_name,
               "--from", str(DAY3), "--to", str(DAY3)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600)
    print(done.stdout, done.stderr)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}"
    assert f"{DAY3}: daily pipeline run succeeded" in done.stdout, done.stdout
    assert_same(local, live, "c360 backfill --stack of day 3 (same files)")


# ---------------------------------------------------------------------------
# Facts that cannot be known offline
# ---------------------------------------------------------------------------


def test_fact_what_a_transfer_over_an_empty_day_folder_does(live, deliveries):
    outcome = live.load(NEVER_DELIVERED_DAY, [PROBE_SOURCE.name])[PROBE_SOURCE.name]
    rows = live.partition_rows(PROBE_SOURCE, NEVER_DELIVERED_DAY)
    fact(f"a transfer over a day folder that never existed ended {outcome.state} {outcome.message!r}; "
         f"partition: {'absent' if rows is None else f'{rows} rows'}")
    # The missing-deliveries check counts a day as delivered only when its partition has rows.
    assert not rows, f"a transfer over an empty folder left {rows} rows in {PROBE_SOURCE.name} {NEVER_DELIVERED_DAY}"

    live.upload(delivery_uploads(deliveries[DAY1], EMPTIED_DAY, [PROBE_SOURCE.name]))
    loaded = live.waiter.wait_succeeded([live.start(PROBE_SOURCE.name, EMPTIED_DAY, "transferSchedule")])
    held = live.partition_rows(PROBE_SOURCE, EMPTIED_DAY)
    live.bucket.blob(object_name(PROBE_SOURCE.name, EMPTIED_DAY, f"{PROBE_SOURCE.name}.csv")).delete()
    emptied = live.load(EMPTIED_DAY, [PROBE_SOURCE.name])[PROBE_SOURCE.name]
    after = live.partition_rows(PROBE_SOURCE, EMPTIED_DAY)
    fact(f"a MIRROR transfer over a folder emptied after a load ended {emptied.state} {emptied.message!r}; "
         f"partition rows {held} before, {'absent' if after is None else after} after")
    assert loaded and held, f"the probe's first load of {PROBE_SOURCE.name} {EMPTIED_DAY} loaded nothing"


def _script_outcome(live: Live, script: str) -> tuple[bool, str]:
    try:
        rows = list(live.bigquery.query(script).result())
    except Exception as error:  # google.api_core.exceptions.GoogleAPICallError and friends
        return False, str(error).splitlines()[0]
    return True, repr([tuple(row) for row in rows])


def test_fact_call_works_inside_a_multi_statement_transaction(live):
    ops = f"{PROJECT}.{live.datasets['ops']}"
    live.bigquery.query(
        f"CREATE TABLE `{ops}.live_probe_calls` (n INT64);"
        f"CREATE PROCEDURE `{ops}.live_probe_insert`() BEGIN INSERT INTO `{ops}.live_probe_calls` VALUES (1); END;"
    ).result()
    committed = _script_outcome(
        live, f"BEGIN TRANSACTION; CALL `{ops}.live_probe_insert`(); COMMIT TRANSACTION;"
              f"SELECT count(*) FROM `{ops}.live_probe_calls`;")
    rolled_back = _script_outcome(
        live, f"BEGIN TRANSACTION; CALL `{ops}.live_probe_insert`(); ROLLBACK TRANSACTION;"
              f"SELECT count(*) FROM `{ops}.live_probe_calls`;")
    fact(f"CALL inside a transaction, committed: {committed}; then rolled back: {rolled_back}")
    # The daily script calls every step's procedure between BEGIN and COMMIT TRANSACTION.
    assert committed == (True, "[(1,)]"), f"CALL inside a committed transaction: {committed}"
    assert rolled_back == (True, "[(1,)]"), f"CALL inside a rolled-back transaction kept its write: {rolled_back}"


def test_fact_whether_a_temp_table_made_in_a_procedure_is_seen_by_the_next_call(live):
    ops = f"{PROJECT}.{live.datasets['ops']}"
    live.bigquery.query(
        f"CREATE PROCEDURE `{ops}.live_probe_make_temp`() BEGIN CREATE TEMP TABLE live_probe_temp AS SELECT 1 AS n; END;"
        f"CREATE PROCEDURE `{ops}.live_probe_read_temp`() BEGIN SELECT count(*) FROM live_probe_temp; END;"
    ).result()
    next_call = _script_outcome(live, f"CALL `{ops}.live_probe_make_temp`(); CALL `{ops}.live_probe_read_temp`();")
    caller = _script_outcome(live, f"CALL `{ops}.live_probe_make_temp`(); SELECT count(*) FROM live_probe_temp;")
    in_transaction = _script_outcome(
        live, f"BEGIN TRANSACTION; CALL `{ops}.live_probe_make_temp`(); CALL `{ops}.live_probe_read_temp`(); COMMIT TRANSACTION;")
    live.bigquery.query(
        f"CREATE PROCEDURE `{ops}.live_probe_own_temp`() BEGIN CREATE OR REPLACE TEMP TABLE live_probe_own AS SELECT 1 AS n; "
        "SELECT count(*) FROM live_probe_own; DROP TABLE live_probe_own; END;"
    ).result()
    own = _script_outcome(
        live, f"BEGIN TRANSACTION; CALL `{ops}.live_probe_own_temp`(); CALL `{ops}.live_probe_own_temp`(); "
              "COMMIT TRANSACTION; SELECT 1;")
    fact(f"temp table made in a procedure, read by the next CALL: {next_call}; by the caller: {caller}; "
         f"by the next CALL inside a transaction: {in_transaction}; made, read and dropped by the same "
         f"procedure called twice inside a transaction: {own}")
    # What the steps do: each procedure creates, reads and drops its own temp tables inside the daily
    # transaction, and reads no other (tests/infra/test_infra_policy.py).
    assert own == (True, "[(1,)]"), f"a procedure's own temp tables inside a transaction: {own}"
    # Nothing relies on the other answers; the probes must still give a definite one.
    for outcome in (next_call, caller, in_transaction):
        ok, detail = outcome
        assert ok or "live_probe_temp" in detail, f"the probe failed for another reason: {detail}"


def test_fact_information_schema_partitions_can_be_read_inside_a_transaction(live):
    partitions = f"`{PROJECT}.{live.datasets['raw']}.INFORMATION_SCHEMA.PARTITIONS`"
    outcome = _script_outcome(
        live, f"DECLARE n INT64; BEGIN TRANSACTION; SET n = (SELECT count(*) FROM {partitions}); COMMIT TRANSACTION; SELECT n;")
    fact(f"INFORMATION_SCHEMA.PARTITIONS read inside a transaction: {outcome}")
    # The daily script lists raw's partitions inside its transaction.
    assert outcome[0], f"INFORMATION_SCHEMA.PARTITIONS cannot be read inside a transaction: {outcome[1]}"


def test_fact_a_failed_assert_inside_a_transaction_fails_the_script_with_its_description(live):
    passing = _script_outcome(live, "BEGIN TRANSACTION; ASSERT TRUE AS 'live probe passes'; COMMIT TRANSACTION; SELECT 1;")
    failing = _script_outcome(live, "BEGIN TRANSACTION; ASSERT FALSE AS 'live probe fails'; COMMIT TRANSACTION; SELECT 1;")
    fact(f"ASSERT inside a transaction, true: {passing}; false: {failing}")
    # Every blocking quality check's procedure ASSERTs inside the daily transaction.
    assert passing == (True, "[(1,)]"), f"a passing ASSERT inside a transaction: {passing}"
    assert not failing[0] and "live probe fails" in failing[1], f"a failing ASSERT inside a transaction: {failing}"

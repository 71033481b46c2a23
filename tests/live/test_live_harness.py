"""The live suite's offline parts: why it skips, the stack it deploys, the deliveries it uploads, how it compares and waits."""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from infra_harness import run_stack
from live_harness import (
    LIVE_MODULES,
    Waiter,
    comparable_rows,
    compared_tables,
    copy_day,
    delivery_uploads,
    differences,
    keys_held_by_one_day_only,
    keys_of,
    live_days,
    live_settings_error,
    missing_prerequisite,
    run_time,
    stack_config,
    typed_key,
    write_without_key,
)
from pipeline_harness import order_line, write_delivery

from customer360 import contract
from customer360.contract import REPO_ROOT
from infra import load

LIVE_MODULE = REPO_ROOT / "tests" / "live" / "test_live_pipeline.py"
NOW = dt.datetime(2026, 3, 9, 14, 5, tzinfo=dt.timezone.utc)


def present(_name: str) -> str:
    return "/usr/bin/pulumi"


def importable(_module: str) -> object:
    return object()


def credentials() -> tuple:
    return (object(), "project")


# ---------------------------------------------------------------------------
# Why it skips
# ---------------------------------------------------------------------------


def test_the_live_suite_names_the_first_missing_prerequisite():
    ready = {"C360_LIVE_PROJECT": "sandbox"}
    assert missing_prerequisite({}, present, importable, credentials) == "C360_LIVE_PROJECT is not set"
    assert missing_prerequisite(ready, lambda _: None, importable, credentials) == "the pulumi CLI is not on PATH"

    def without_storage(module: str) -> object:
        if module == "google.cloud.storage":
            raise ImportError("no module", name="google.cloud.storage")
        return object()

    reason = missing_prerequisite(ready, present, without_storage, credentials)
    assert reason == "live extras not installed (google.cloud.storage); pip install -e '.[live]'", reason

    def no_credentials() -> tuple:
        raise RuntimeError("Your default credentials were not found")

    reason = missing_prerequisite(ready, present, importable, no_credentials)
    assert reason == "no Google credentials: Your default credentials were not found", reason
    assert missing_prerequisite(ready, present, importable, credentials) is None


def test_the_modules_the_live_suite_needs_are_declared_dependencies():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = " ".join(project["dependencies"] + project["optional-dependencies"]["live"])
    distributions = {
        "google.auth": "google-cloud-bigquery",  # a dependency of every google-cloud client
        "google.cloud.bigquery": "google-cloud-bigquery",
        "google.cloud.bigquery_datatransfer": "google-cloud-bigquery-datatransfer",
        "google.cloud.storage": "google-cloud-storage",
        "pulumi.automation": "pulumi",
    }
    assert set(distributions) == set(LIVE_MODULES)
    for module, distribution in distributions.items():
        assert distribution in declared, f"{module} comes from {distribution}, which pyproject.toml does not declare"


def test_without_a_project_the_live_module_is_skipped_with_its_reason():
    environment = {k: v for k, v in os.environ.items() if k != "C360_LIVE_PROJECT"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:xdist", "-p", "no:cacheprovider", str(LIVE_MODULE)],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 5 or done.returncode == 0, done.stdout + done.stderr
    assert "live BigQuery suite skipped: C360_LIVE_PROJECT is not set" in done.stdout, done.stdout


# ---------------------------------------------------------------------------
# The stack it deploys
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", range(0, 24 * 60, 13))
def test_the_live_stack_is_valid_destroyable_and_scheduled_far_from_now(minutes):
    now = dt.datetime(2026, 3, 9, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=minutes)
    config = stack_config("acme-live-sandbox", "US", "a1b2c3", "team@example.com", now)
    assert live_settings_error(config) is None, live_settings_error(config)
    assert config["deletionProtection"] == "false", "the live stack must be destroyable"
    for key in ("transferSchedule", "pipelineSchedule"):
        moment = run_time(now.date(), config[key])
        distance = (moment - now) % dt.timedelta(days=1)
        assert distance >= dt.timedelta(hours=9), f"{key} {config[key]} is {distance} after {now:%H:%M}"


def test_the_live_days_are_recent_enough_to_stay_in_raw_and_in_the_bucket():
    config = stack_config("acme-live-sandbox", "US", "a1b2c3", "team@example.com", NOW)
    first, second, third = live_days(NOW.date())
    assert (second - first, third - second) == (dt.timedelta(days=1), dt.timedelta(days=1))
    assert third == NOW.date() - dt.timedelta(days=1), "the last live day is yesterday"
    assert (NOW.date() - first).days < min(int(config["rawPartitionExpirationDays"]), int(config["landingRetentionDays"]))


def test_a_manual_run_at_the_schedule_time_has_the_day_as_run_date():
    assert run_time(dt.date(2026, 1, 5), "every day 21:17") == dt.datetime(2026, 1, 5, 21, 17, tzinfo=dt.timezone.utc)


def test_every_config_the_live_suite_starts_is_exported_by_the_stack():
    exported = set(run_stack("dev").captured["outputs"]["transfer_config_names"])
    used = {s.name for s in contract.SOURCES} | {f"{s.name}+1d" for s in contract.SOURCES} | {
        "daily_pipeline", "missing_deliveries"}
    assert used <= exported, f"the live suite starts configs the stack does not export: {sorted(used - exported)}"


# ---------------------------------------------------------------------------
# The deliveries it uploads
# ---------------------------------------------------------------------------


def test_uploaded_objects_are_where_the_transfers_look(tmp_path):
    day = dt.date(2026, 1, 5)
    folder = write_delivery(tmp_path / "day", {s.name: [] for s in contract.SOURCES})
    uploads = delivery_uploads(folder, day)
    assert sorted(path.stem for path, _ in uploads) == sorted(s.name for s in contract.SOURCES)
    for path, name in uploads:
        source = contract.SOURCES_BY_NAME[path.stem]
        pattern = load.delivery_files_template("bucket", source, f"{day:%Y%m%d}").removeprefix("gs://bucket/")
        assert fnmatch.fnmatch(name, pattern), f"{name} is not matched by the transfer's {pattern}"


def test_uploads_of_a_day_without_a_source_file_are_refused(tmp_path):
    folder = write_delivery(tmp_path / "day", {"customers": []})
    with pytest.raises(ValueError, match=r"no file for \['online_orders'\]"):
        delivery_uploads(folder, dt.date(2026, 1, 5), ["customers", "online_orders"])
    with pytest.raises(ValueError, match="not sources of the contract"):
        delivery_uploads(folder, dt.date(2026, 1, 5), ["orders"])


def test_a_day_copied_without_a_source_lacks_only_that_file(tmp_path):
    folder = write_delivery(tmp_path / "day", {s.name: [] for s in contract.SOURCES})
    copied = copy_day(folder, tmp_path / "copy", without=["online_orders"])
    assert sorted(p.name for p in copied.iterdir()) == sorted(f"{s.name}.csv" for s in contract.SOURCES if s.name != "online_orders")


def test_the_withdrawn_key_is_held_by_that_day_alone_and_written_out_once(tmp_path):
    source = contract.SOURCES_BY_NAME["online_orders"]
    day1 = write_delivery(tmp_path / "d1", {"online_orders": [order_line("O1"), order_line("O2"), order_line("O2", "2")]})
    day2 = write_delivery(tmp_path / "d2", {"online_orders": [order_line("O1")]})
    keys = keys_held_by_one_day_only(source, day1 / "online_orders.csv", [day2 / "online_orders.csv"])
    assert keys == [("O2", "1"), ("O2", "2")], keys
    key = keys[0]
    target = tmp_path / "out" / "online_orders.csv"
    assert write_without_key(day1 / "online_orders.csv", source, key, target) == 1
    assert keys_of(target, source) == {("O1", "1"), ("O2", "2")}
    with pytest.raises(ValueError, match="every key of online_orders"):
        keys_held_by_one_day_only(source, day2 / "online_orders.csv", [day1 / "online_orders.csv"])


def test_a_key_becomes_typed_query_parameters_of_the_silver_columns():
    silver = contract.SOURCES_BY_NAME["online_orders"].silver
    assert typed_key(silver, ("order_id", "line_number"), ("O2", "3")) == {
        "order_id": ("STRING", "O2"), "line_number": ("INT64", 3)}
    with pytest.raises(ValueError, match="only STRING and INT64 keys"):
        typed_key(silver, ("order_ts",), ("2026-01-05 10:00:00",))


def test_a_generated_first_day_has_a_key_the_next_days_do_not_hold(tmp_path):
    from customer360 import generate

    generate.generate(tmp_path, days=3, scale=0.05, seed=11, start=dt.date(2026, 1, 5))
    folders = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    source = contract.SOURCES_BY_NAME["online_orders"]
    keys = keys_held_by_one_day_only(source, folders[0] / "online_orders.csv", [f / "online_orders.csv" for f in folders[1:]])
    assert keys and all(key not in keys_of(f / "online_orders.csv", source) for f in folders[1:] for key in keys), keys


# ---------------------------------------------------------------------------
# How it compares and waits
# ---------------------------------------------------------------------------


def test_rows_compare_alike_across_engines_spellings():
    naive = dt.datetime(2026, 1, 5, 10, 0)
    aware = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert comparable_rows([(naive, Decimal("1.50"), 0.1 + 0.2)]) == comparable_rows([(aware, Decimal("1.5"), 0.3)])
    assert comparable_rows([(1,), (2,)]) == comparable_rows([(2,), (1,)])


def test_differences_name_the_table_and_rows_only_one_side_holds():
    assert differences({"silver.customers": [(1,)]}, {"silver.customers": [(1,)]}) == []
    (problem,) = differences({"silver.customers": [(1,), (2,)]}, {"silver.customers": [(1,), (3,)]})
    assert problem == "silver.customers: 2 local rows, 2 in BigQuery; only local [(2,)]; only BigQuery [(3,)]", problem
    (missing,) = differences({"gold.customer_360": []}, {})
    assert missing == "gold.customer_360: only the local engine has it", missing


def test_every_silver_and_gold_table_is_compared():
    assert {t.ref for t in compared_tables()} == {t.ref for t in contract.SILVER_TABLES + contract.GOLD_TABLES}


class FakeTransfers:
    """Answers get_transfer_run from a script of states per run name."""

    def __init__(self, states: dict[str, list[str]], messages: dict[str, str] | None = None):
        self.states = {name: list(sequence) for name, sequence in states.items()}
        self.messages = messages or {}
        self.asked: list[str] = []

    def get_transfer_run(self, name: str):
        self.asked.append(name)
        sequence = self.states[name]
        state = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return SimpleNamespace(state=SimpleNamespace(name=state),
                               error_status=SimpleNamespace(message=self.messages.get(name, "")))


def test_the_waiter_polls_until_every_run_finished():
    client = FakeTransfers({"a": ["PENDING", "RUNNING", "SUCCEEDED"], "b": ["FAILED"]}, {"b": "no files"})
    naps: list[float] = []
    finished = Waiter(client, sleep=naps.append, poll_seconds=5).wait(["a", "b"])
    assert {n: (o.state, o.message) for n, o in finished.items()} == {"a": ("SUCCEEDED", ""), "b": ("FAILED", "no files")}
    assert naps == [5, 5], naps


def test_waiting_for_success_names_the_failed_run():
    client = FakeTransfers({"a": ["SUCCEEDED"], "b": ["FAILED"]}, {"b": "no files"})
    with pytest.raises(AssertionError, match="b ended FAILED: no files"):
        Waiter(client, sleep=lambda _: None).wait_succeeded(["a", "b"])


def test_a_run_that_never_finishes_times_out_naming_it():
    ticks = iter(range(0, 10_000, 100))
    client = FakeTransfers({"stuck": ["RUNNING"]})
    waiter = Waiter(client, sleep=lambda _: None, timeout_seconds=250, clock=lambda: next(ticks))
    with pytest.raises(TimeoutError, match=r"\['stuck'\]"):
        waiter.wait(["stuck"])



def test_the_local_half_of_the_scenario_withdraws_a_held_key_and_changes_gold(tmp_path):
    # What the live suite asks of the local engine, on the same generated days: the preconditions the
    # cloud half relies on (a held key to withdraw, a gold table it changes) hold before any deploy.
    from customer360 import generate
    from live_harness import LocalReference

    day1, day2, day3 = live_days(dt.date(2026, 1, 8))
    generate.generate(tmp_path / "data", days=3, scale=0.05, seed=11, start=day1)
    folders = dict(zip((day1, day2, day3), sorted(p for p in (tmp_path / "data").iterdir() if p.is_dir()), strict=True))
    source = contract.SOURCES_BY_NAME["online_orders"]
    local = LocalReference(tmp_path / "local.duckdb")
    local.run(folders[day1], day1)
    local.run(copy_day(folders[day2], tmp_path / "partial", without=[source.name]), day2)
    local.load(folders[day2], day2)
    local.run(folders[day3], day3)
    file_name = f"{source.name}.csv"
    candidates = keys_held_by_one_day_only(source, folders[day1] / file_name, [folders[d] / file_name for d in (day2, day3)])
    key = next(k for k in candidates if local.holds(source.silver, typed_key(source.silver, source.primary_key, k)))
    before = local.tables()
    assert set(before) == {t.ref for t in compared_tables()} | {"ops.rejected_rows"}
    redelivered = copy_day(folders[day1], tmp_path / "redelivered")
    assert write_without_key(folders[day1] / file_name, source, key, redelivered / file_name) == 1
    local.load(redelivered, day1)
    local.process(day3)
    after = local.tables()
    assert not local.holds(source.silver, typed_key(source.silver, source.primary_key, key)), f"silver still holds {key}"
    assert any(before[t.ref] != after[t.ref] for t in contract.GOLD_TABLES), f"no gold table changed when {key} left"

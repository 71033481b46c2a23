"""`c360 backfill --stack`: the requests it sends to the Data Transfer API, checked against a fake client that records them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from customer360 import cloud_backfill, contract, plan
from customer360.cli import app

SETTINGS = plan.stack_settings("dev")
PARENT = f"projects/{SETTINGS.project}/locations/{SETTINGS.location.lower()}"


@dataclass
class FakeTransferClient:
    """Lists the stack's configs by display name; each started run finishes with `outcome` after one poll."""

    display_names: list[str]
    outcome: dict[str, str] = field(default_factory=dict)  # config id -> final state, SUCCEEDED by default
    requests: list[tuple[str, dict]] = field(default_factory=list)
    runs: dict[str, dict] = field(default_factory=dict)

    def list_transfer_configs(self, request):
        self.requests.append(("list_transfer_configs", request))
        return [
            SimpleNamespace(display_name=name, name=f"{request['parent']}/transferConfigs/config-{index}")
            for index, name in enumerate(self.display_names)
        ]

    def start_manual_transfer_runs(self, request):
        self.requests.append(("start_manual_transfer_runs", request))
        name = f"{request['parent']}/runs/run-{len(self.runs)}"
        config = request["parent"].rsplit("/", 1)[1]
        self.runs[name] = {"polls": 0, "final": self.outcome.get(config, "SUCCEEDED")}
        return SimpleNamespace(runs=[SimpleNamespace(name=name)])

    def get_transfer_run(self, request):
        self.requests.append(("get_transfer_run", request))
        run = self.runs[request["name"]]
        run["polls"] += 1
        state = run["final"] if run["polls"] > 1 else "RUNNING"
        error = SimpleNamespace(message="Not found: file" if state == "FAILED" else "")
        return SimpleNamespace(name=request["name"], state=SimpleNamespace(name=state), error_status=error)

    def sent(self, method: str) -> list[dict]:
        return [request for name, request in self.requests if name == method]


def stack_display_names() -> list[str]:
    from infra import load, transform

    names = [
        load.display_name(SETTINGS.prefix, source, late)
        for source in contract.SOURCES
        for late in range(SETTINGS.late_delivery_days + 1)
    ]
    return [*names, transform.pipeline_display_name(SETTINGS.prefix), "someone else's transfer"]


def config_of(client: FakeTransferClient, display_name: str) -> str:
    index = client.display_names.index(display_name)
    return f"{PARENT}/transferConfigs/config-{index}"


def run(client, first="2026-01-05", last="2026-01-07"):
    said: list[str] = []
    result = cloud_backfill.cloud_backfill(
        "dev", dt.date.fromisoformat(first), dt.date.fromisoformat(last), client, said.append, sleep=lambda _: None
    )
    return result, said


def seconds(day: str, schedule) -> int:
    moment = dt.datetime.fromisoformat(day).replace(hour=schedule.hour, minute=schedule.minute, tzinfo=dt.timezone.utc)
    return int(moment.timestamp())


def test_every_days_own_transfer_is_run_at_the_transfer_time_of_that_day():
    from infra import load

    client = FakeTransferClient(stack_display_names())
    result, said = run(client)
    assert client.sent("list_transfer_configs") == [{"parent": PARENT}]
    loads = client.sent("start_manual_transfer_runs")[: 3 * len(contract.SOURCES)]
    expected = [
        (config_of(client, load.display_name(SETTINGS.prefix, source, 0)), seconds(day, SETTINGS.transfer_schedule))
        for day in ("2026-01-05", "2026-01-06", "2026-01-07")
        for source in contract.SOURCES
    ]
    assert [(r["parent"], r["requested_run_time"].seconds) for r in loads] == expected
    assert len(result.load_runs) == 3 * len(contract.SOURCES)
    assert said[0] == f"2026-01-05: started {len(contract.SOURCES)} load runs (run time 2026-01-05 01:47 UTC)", said


def test_the_pipeline_runs_per_day_in_order_only_after_every_load_finished():
    from infra import transform

    client = FakeTransferClient(stack_display_names())
    result, said = run(client)
    starts = [i for i, (method, _) in enumerate(client.requests) if method == "start_manual_transfer_runs"]
    pipeline_config = config_of(client, transform.pipeline_display_name(SETTINGS.prefix))
    pipeline_starts = [i for i in starts if client.requests[i][1]["parent"] == pipeline_config]
    assert len(pipeline_starts) == 3 and len(result.pipeline_runs) == 3
    polls = [i for i, (method, request) in enumerate(client.requests)
             if method == "get_transfer_run" and request["name"] in result.load_runs]
    assert max(polls) < pipeline_starts[0], "the pipeline started before every load run had finished"
    times = [client.requests[i][1]["requested_run_time"].seconds for i in pipeline_starts]
    assert times == [seconds(d, SETTINGS.pipeline_schedule) for d in ("2026-01-05", "2026-01-06", "2026-01-07")]
    for index, earlier in enumerate(result.pipeline_runs[:-1]):
        finished = max(i for i, (m, r) in enumerate(client.requests) if m == "get_transfer_run" and r["name"] == earlier)
        assert finished < pipeline_starts[index + 1], f"pipeline run {index + 2} started before run {index + 1} finished"
    assert said[-1] == "2026-01-07: daily pipeline run succeeded", said


def test_a_failed_load_stops_before_the_pipeline_and_names_the_run():
    from infra import load, transform

    names = stack_display_names()
    failing = config_of(FakeTransferClient(names), load.display_name(SETTINGS.prefix, contract.SOURCES[2], 0))
    client = FakeTransferClient(names, outcome={failing.rsplit("/", 1)[1]: "FAILED"})
    with pytest.raises(cloud_backfill.BackfillError) as raised:
        run(client, last="2026-01-05")
    message = str(raised.value)
    assert message.startswith("1 of 8 load runs did not succeed, pipeline not started: "), message
    assert f"{failing}/runs/" in message and "FAILED: Not found: file" in message, message
    pipeline = config_of(client, transform.pipeline_display_name(SETTINGS.prefix))
    assert all(r["parent"] != pipeline for r in client.sent("start_manual_transfer_runs"))


def test_a_missing_or_duplicated_config_is_named():
    names = stack_display_names()
    missing = FakeTransferClient([n for n in names if n != f"{SETTINGS.prefix} load stores"])
    with pytest.raises(cloud_backfill.BackfillError, match=f"no transfer config named '{SETTINGS.prefix} load stores'"):
        run(missing)
    doubled = FakeTransferClient([*names, f"{SETTINGS.prefix} daily pipeline"])
    with pytest.raises(cloud_backfill.BackfillError, match=f"2 transfer configs named '{SETTINGS.prefix} daily pipeline'"):
        run(doubled)
    assert not missing.sent("start_manual_transfer_runs") and not doubled.sent("start_manual_transfer_runs")


def test_a_backwards_range_is_refused_before_any_request():
    client = FakeTransferClient(stack_display_names())
    with pytest.raises(cloud_backfill.BackfillArgumentError, match="--to 2026-01-04 is before --from 2026-01-05"):
        run(client, last="2026-01-04")
    assert client.requests == []


def test_the_command_reports_a_bad_range_in_one_line():
    result = CliRunner().invoke(app, ["backfill", "--stack", "dev", "--from", "2026-01-05", "--to", "2026-01-01"])
    assert result.exit_code == 2, result.output
    assert "--to 2026-01-01 is before --from 2026-01-05" in result.output

"""`c360 backfill --stack S --from D1 --to D2`: re-load a range of delivery days into raw, then run the daily pipeline.

Talks to the BigQuery Data Transfer API (google-cloud-bigquery-datatransfer) only:

1. It finds the stack's transfer configs by the display names the Pulumi program gives them
   (infra/load.py `display_name`, infra/transform.py `pipeline_display_name`), listing the configs
   of the stack's project and location: it needs the committed Pulumi.<stack>.yaml and
   credentials, not the Pulumi CLI or its state.
2. For every day D of the range and every source it starts one manual run of the source's own
   transfer with requested_run_time = D at transferSchedule, so `{run_date}` is D and the run
   replaces partition D from folder D. The late-delivery transfers load the very same folders at
   later run times, so they are not started again.
3. It waits for those runs; if any failed it stops before the pipeline, naming them.
4. It runs the daily scheduled query once per day of the range, in day order, each at
   pipelineSchedule of that day and waiting for the previous one (two runs of the one script at
   once would contend for the same tables).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from customer360 import contract, plan

FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}
MAX_DAYS = 366


class BackfillError(RuntimeError):
    """A transfer config that is missing, or a run that failed; the message is one line."""


class BackfillArgumentError(BackfillError):
    """A bad range or stack; nothing was started."""


@dataclass
class BackfillResult:
    load_runs: list[str] = field(default_factory=list)  # run names
    pipeline_runs: list[str] = field(default_factory=list)


def _state(run) -> str:
    state = getattr(run, "state", None)
    return getattr(state, "name", str(state))


def _run_time(day: dt.date, schedule) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, schedule.hour, schedule.minute, tzinfo=dt.timezone.utc)


def _timestamp(moment: dt.datetime):
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def find_configs(client, settings) -> tuple[dict[str, str], str]:
    """({source: the day's own load transfer name}, the daily pipeline's name), found by display name."""
    from infra import load, transform

    parent = f"projects/{settings.project}/locations/{settings.location.lower()}"
    wanted = {load.display_name(settings.prefix, source, 0): source.name for source in contract.SOURCES}
    pipeline_name = transform.pipeline_display_name(settings.prefix)
    found: dict[str, list[str]] = {}
    for config in client.list_transfer_configs(request={"parent": parent}):
        if config.display_name in wanted or config.display_name == pipeline_name:
            found.setdefault(config.display_name, []).append(config.name)
    problems = [f"no transfer config named {name!r}" for name in [*wanted, pipeline_name] if name not in found]
    problems += [f"{len(names)} transfer configs named {name!r}" for name, names in found.items() if len(names) > 1]
    if problems:
        raise BackfillError(f"in {parent}: {'; '.join(problems)} (is the stack deployed with `pulumi up`?)")
    return {source: found[name][0] for name, source in wanted.items()}, found[pipeline_name][0]


def _start(client, config_name: str, moment: dt.datetime) -> str:
    response = client.start_manual_transfer_runs(
        request={"parent": config_name, "requested_run_time": _timestamp(moment)}
    )
    (run,) = response.runs
    return run.name


def _wait(client, run_names: list[str], sleep: Callable[[float], None], poll_seconds: float) -> dict[str, object]:
    pending, finished = list(run_names), {}
    while pending:
        for name in list(pending):
            run = client.get_transfer_run(request={"name": name})
            if _state(run) in FINISHED:
                finished[name] = run
                pending.remove(name)
        if pending:
            sleep(poll_seconds)
    return finished


def _failure(run) -> str:
    status = getattr(run, "error_status", None)
    message = getattr(status, "message", "") if status is not None else ""
    return f"{run.name} {_state(run)}" + (f": {message}" if message else "")


def cloud_backfill(
    stack: str,
    first: dt.date,
    last: dt.date,
    client=None,
    echo: Callable[[str], None] = print,
    *,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 20.0,
) -> BackfillResult:
    """Loads every day of [first, last] into raw with manual transfer runs, then runs the pipeline per day."""
    if last < first:
        raise BackfillArgumentError(f"--to {last} is before --from {first}")
    days = [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]
    if len(days) > MAX_DAYS:
        raise BackfillArgumentError(f"{len(days)} days asked; backfill at most {MAX_DAYS} days at a time")
    try:
        settings = plan.stack_settings(stack)
    except plan.PlanError as error:
        raise BackfillArgumentError(str(error)) from None
    if client is None:
        from google.cloud import bigquery_datatransfer

        client = bigquery_datatransfer.DataTransferServiceClient()
    loads, pipeline = find_configs(client, settings)
    result = BackfillResult()

    for day in days:
        moment = _run_time(day, settings.transfer_schedule)
        started = [_start(client, loads[source.name], moment) for source in contract.SOURCES]
        result.load_runs += started
        echo(f"{day}: started {len(started)} load runs (run time {moment:%Y-%m-%d %H:%M} UTC)")
    finished = _wait(client, result.load_runs, sleep, poll_seconds)
    failed = [run for run in finished.values() if _state(run) != "SUCCEEDED"]
    if failed:
        raise BackfillError(
            f"{len(failed)} of {len(result.load_runs)} load runs did not succeed, pipeline not started: "
            + "; ".join(_failure(run) for run in failed[:5])
        )
    echo(f"all {len(result.load_runs)} load runs succeeded")

    for day in days:
        moment = _run_time(day, settings.pipeline_schedule)
        name = _start(client, pipeline, moment)
        result.pipeline_runs.append(name)
        run = _wait(client, [name], sleep, poll_seconds)[name]
        if _state(run) != "SUCCEEDED":
            raise BackfillError(f"{day}: the daily pipeline run did not succeed: {_failure(run)}")
        echo(f"{day}: daily pipeline run succeeded")
    return result

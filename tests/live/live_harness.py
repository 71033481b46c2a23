"""Helpers of the live BigQuery suite that need no cloud access: prerequisites, stack config, deliveries, comparisons."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from customer360 import contract, engine

LIVE_MODULES = ("google.auth", "google.cloud.bigquery", "google.cloud.bigquery_datatransfer", "google.cloud.storage",
                "pulumi.automation")
FINISHED_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
# Hours between now and the stack's daily schedules, so that no scheduled run fires while the suite
# runs (every run it makes is a manual one, with the run time it asks for).
SCHEDULE_DISTANCE_HOURS = 12
# A key value the silver cleaning leaves as it is, so the raw value names the silver row.
PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def missing_prerequisite(
    environ: Mapping[str, str],
    which: Callable[[str], str | None] = shutil.which,
    import_module: Callable[[str], object] | None = None,
    default_credentials: Callable[[], object] | None = None,
) -> str | None:
    """Why the live suite cannot run here, or None when it can."""
    import importlib

    if not environ.get("C360_LIVE_PROJECT"):
        return "C360_LIVE_PROJECT is not set"
    if which("pulumi") is None:
        return "the pulumi CLI is not on PATH"
    load = import_module or importlib.import_module
    for module in LIVE_MODULES:
        try:
            load(module)
        except ImportError as error:
            return f"live extras not installed ({error.name or module}); pip install -e '.[live]'"
    try:
        if default_credentials is None:
            import google.auth

            default_credentials = google.auth.default
        default_credentials()
    except Exception as error:  # google.auth.exceptions.DefaultCredentialsError and friends
        return f"no Google credentials: {error}"
    return None


def off_the_hour(moment: dt.datetime) -> dt.datetime:
    """MOMENT moved to minute 17 of its hour (scheduled queries on the hour may fire twice)."""
    return moment.replace(minute=17, second=0, microsecond=0)


def stack_config(project: str, location: str, suffix: str, alert_email: str, now: dt.datetime) -> dict[str, str]:
    """The throwaway stack's `customer360:` settings (values as `pulumi config set` stores them)."""
    transfer = off_the_hour(now + dt.timedelta(hours=SCHEDULE_DISTANCE_HOURS))
    if transfer.hour >= 22:
        # The pipeline (30 min later) and the missing-deliveries check (30 more) stay on the same UTC day.
        transfer = transfer.replace(hour=21)
    pipeline = transfer + dt.timedelta(minutes=40)
    return {
        "project": project,
        "location": location,
        "prefix": f"c360-t{suffix}",
        "environment": "live-test",
        "deletionProtection": "false",
        "transferSchedule": f"every day {transfer:%H:%M}",
        "pipelineSchedule": f"every day {pipeline:%H:%M}",
        "alertEmails": f'["{alert_email}"]',
        "rawPartitionExpirationDays": "30",
        "landingRetentionDays": "14",
        "lateDeliveryDays": "1",
    }


def live_days(today: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    """Three consecutive delivery days ending yesterday: recent enough that no partition expires."""
    return tuple(today - dt.timedelta(days=offset) for offset in (3, 2, 1))  # type: ignore[return-value]


def run_time(day: dt.date, schedule: str) -> dt.datetime:
    """The UTC moment of DAY at an 'every day HH:MM' schedule: a manual run at it gets @run_date = DAY."""
    hours, minutes = schedule.rsplit(" ", 1)[1].split(":")
    return dt.datetime(day.year, day.month, day.day, int(hours), int(minutes), tzinfo=dt.timezone.utc)


def object_name(source: str, day: dt.date, file_name: str) -> str:
    """Where a delivery file goes in the landing bucket (infra/load.py reads `<source>/<YYYYMMDD>/*.csv*`)."""
    return f"{source}/{day:%Y%m%d}/{file_name}"


def delivery_uploads(day_dir: Path, day: dt.date, sources: Iterable[str] | None = None) -> list[tuple[Path, str]]:
    """(local file, object name) for every source file of a day folder, or only for SOURCES."""
    wanted = set(sources) if sources is not None else {s.name for s in contract.SOURCES}
    unknown = wanted - {s.name for s in contract.SOURCES}
    if unknown:
        raise ValueError(f"not sources of the contract: {sorted(unknown)}")
    uploads = []
    for path in sorted(day_dir.glob("*.csv")):
        if path.stem in wanted:
            uploads.append((path, object_name(path.stem, day, path.name)))
    found = {path.stem for path, _ in uploads}
    if found != wanted:
        raise ValueError(f"{day_dir}: no file for {sorted(wanted - found)}")
    return uploads


def copy_day(day_dir: Path, target: Path, without: Iterable[str] = ()) -> Path:
    """A copy of a day folder, leaving out the files of the sources named in WITHOUT."""
    skipped = set(without)
    target.mkdir(parents=True)
    for path in sorted(day_dir.glob("*.csv")):
        if path.stem not in skipped:
            shutil.copyfile(path, target / path.name)
    return target


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def key_values(source: contract.Source, header: list[str], row: list[str]) -> tuple[str, ...]:
    return tuple(row[header.index(column)] for column in source.primary_key)


def keys_of(path: Path, source: contract.Source) -> set[tuple[str, ...]]:
    header, rows = read_rows(path)
    return {key_values(source, header, row) for row in rows if len(row) == len(header)}


def keys_held_by_one_day_only(source: contract.Source, day_file: Path, other_files: Iterable[Path]) -> list[tuple[str, ...]]:
    """The keys of DAY_FILE, on one row each, that no other file holds, written plainly (nothing for the
    cleaning to change), in key order: candidates for a withdrawal."""
    others: set[tuple[str, ...]] = set()
    for path in other_files:
        others |= keys_of(path, source)
    header, rows = read_rows(day_file)
    counted: dict[tuple[str, ...], int] = {}
    for row in rows:
        if len(row) == len(header):
            key = key_values(source, header, row)
            counted[key] = counted.get(key, 0) + 1
    found = [key for key, times in sorted(counted.items())
             if times == 1 and key not in others and all(PLAIN_KEY.fullmatch(value) for value in key)]
    if not found:
        raise ValueError(f"{day_file}: every key of {source.name} is also in another day, repeated, or not plain")
    return found


def typed_key(table: contract.Table, columns: Iterable[str], key: tuple[str, ...]) -> dict[str, tuple[str, object]]:
    """{column: (BigQuery type, value)} for query parameters naming KEY in TABLE (CSV text made typed)."""
    types = {column.name: column.type for column in table.columns}
    converters = {"INT64": int, "STRING": str}
    typed = {}
    for column, value in zip(columns, key, strict=True):
        kind = types[column]
        if kind not in converters:
            raise ValueError(f"{table.ref}.{column} is {kind}; only STRING and INT64 keys are supported")
        typed[column] = (kind, converters[kind](value))
    return typed


def write_without_key(path: Path, source: contract.Source, key: tuple[str, ...], target: Path) -> int:
    """Writes PATH to TARGET without the rows of KEY; returns how many rows were left out."""
    header, rows = read_rows(path)
    kept = [row for row in rows if len(row) != len(header) or key_values(source, header, row) != key]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(buffer.getvalue(), encoding="utf-8")
    return len(rows) - len(kept)


def normalise(value):
    """A value as both engines can agree on it: floats rounded, decimals normalised, timestamps in UTC."""
    if isinstance(value, float):
        return round(value, 9) if not math.isnan(value) else "nan"
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value


def comparable_rows(rows: Iterable[Iterable]) -> list[tuple]:
    return sorted((tuple(normalise(v) for v in row) for row in rows), key=repr)


def compared_tables() -> list[contract.Table]:
    """Every silver (intermediates included) and gold table: what both engines must hold alike."""
    return list(contract.SILVER_TABLES) + list(contract.GOLD_TABLES)


def cloud_table(project: str, datasets: Mapping[str, str], table: contract.Table) -> str:
    return f"`{project}.{datasets[table.dataset]}.{table.name}`"


def rejected_rows_sql(table_ref: str) -> str:
    """The rejected rows both engines must agree on (raw_values is JSON each engine spells its own way)."""
    return f"SELECT source, delivery_date, reason, record_key, count(*) FROM {table_ref} GROUP BY 1, 2, 3, 4"


def differences(local: Mapping[str, list[tuple]], cloud: Mapping[str, list[tuple]], limit: int = 3) -> list[str]:
    """One line per table whose rows differ, with a few rows only one side holds."""
    problems = []
    for name in sorted(set(local) | set(cloud)):
        mine, theirs = local.get(name), cloud.get(name)
        if mine == theirs:
            continue
        if mine is None or theirs is None:
            problems.append(f"{name}: only {'BigQuery' if mine is None else 'the local engine'} has it")
            continue
        only_local = [row for row in mine if row not in theirs][:limit]
        only_cloud = [row for row in theirs if row not in mine][:limit]
        problems.append(
            f"{name}: {len(mine)} local rows, {len(theirs)} in BigQuery; only local {only_local}; only BigQuery {only_cloud}"
        )
    return problems


@dataclass
class RunOutcome:
    name: str
    state: str
    message: str = ""


@dataclass
class Waiter:
    """Polls transfer runs until each has finished; any client with get_transfer_run(name=...) will do."""

    client: object
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 20.0
    timeout_seconds: float = 1800.0
    clock: Callable[[], float] = time.monotonic
    seen: dict[str, RunOutcome] = field(default_factory=dict)

    def wait(self, names: Iterable[str]) -> dict[str, RunOutcome]:
        pending = list(dict.fromkeys(names))
        deadline = self.clock() + self.timeout_seconds
        finished: dict[str, RunOutcome] = {}
        while pending:
            for name in list(pending):
                run = self.client.get_transfer_run(name=name)
                state = getattr(getattr(run, "state", None), "name", str(getattr(run, "state", "")))
                if state in FINISHED_STATES:
                    status = getattr(run, "error_status", None)
                    finished[name] = RunOutcome(name, state, getattr(status, "message", "") or "")
                    pending.remove(name)
            if pending:
                if self.clock() >= deadline:
                    raise TimeoutError(f"transfer runs still running after {self.timeout_seconds:.0f} s: {pending}")
                self.sleep(self.poll_seconds)
        self.seen.update(finished)
        return finished

    def wait_succeeded(self, names: Iterable[str]) -> dict[str, RunOutcome]:
        finished = self.wait(names)
        failed = [f"{o.name} ended {o.state}: {o.message}" for o in finished.values() if o.state != "SUCCEEDED"]
        if failed:
            raise AssertionError("transfer runs did not succeed:\n  " + "\n  ".join(failed))
        return finished


def live_settings_error(config: Mapping[str, str]) -> str | None:
    """The settings validation's message for the live stack's config, or None when it is valid."""
    from infra.settings import SettingsError, settings_from_values

    try:
        settings_from_values(dict(config), stack="live")
    except SettingsError as error:
        return str(error)
    return None


def environment() -> Mapping[str, str]:
    return os.environ


class LocalReference:
    """The local engine fed the same files in the same order: the answer BigQuery must give."""

    def __init__(self, warehouse: Path):
        self.warehouse = warehouse

    def run(self, folder: Path, day: dt.date) -> None:
        engine.run_delivery(folder, day, self.warehouse)

    def load(self, folder: Path, day: dt.date) -> None:
        engine.load_only(folder, day, self.warehouse)

    def process(self, day: dt.date) -> None:
        engine.run(self.warehouse, day)

    def holds(self, table: contract.Table, key: dict[str, tuple[str, object]]) -> bool:
        connection = engine.connect(self.warehouse, read_only=True)
        try:
            where = " AND ".join(f"{column} = ?" for column in key)
            found = connection.execute(f"SELECT count(*) FROM {table.ref} WHERE {where}", [v for _, v in key.values()])
            return found.fetchone()[0] > 0
        finally:
            connection.close()

    def tables(self) -> dict[str, list[tuple]]:
        connection = engine.connect(self.warehouse, read_only=True)
        try:
            found = {
                table.ref: comparable_rows(connection.execute(f"SELECT {', '.join(table.column_names)} FROM {table.ref}").fetchall())
                for table in compared_tables()
            }
            found["ops.rejected_rows"] = comparable_rows(connection.execute(rejected_rows_sql("ops.rejected_rows")).fetchall())
        finally:
            connection.close()
        return found

"""Runs the pipeline on a local DuckDB warehouse: loads deliveries into raw and processes every pending raw partition.

A run is one DuckDB transaction: it loads the delivery folder it was given (if any) into that day's raw
partitions, works out which raw partitions are new or changed since they were last processed (the
ledger, ops.processed_partitions), and runs every step over them. Either all of it commits or the
warehouse is left as it was, and a failed or killed run leaves the file no larger than before
(customer360.warehouse).

Its length is the run's life cycle in one place (open, load, pending partitions, steps, record, commit,
give back), which reads best unbroken; the SQL lives in customer360.sqlgen, the files in
customer360.delivery and customer360.csvload.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from customer360 import contract, csvload, dialect, run_files, sqlgen, warehouse
from customer360.contract import Step
from customer360.csvload import CsvError, display
from customer360.delivery import Delivery, DeliveryError, DeliveryFile, discover
from customer360.warehouse import Resources, WarehouseError, WarehouseLocked

DUCKDB_TYPES = warehouse.DUCKDB_TYPES


class PipelineError(Exception):
    """A fatal problem with a run; str() is the one-line message for the user."""


class InputError(PipelineError):
    """The delivery or the warehouse file is unusable (missing folder, bad header, malformed CSV, not a warehouse)."""


class LockedError(InputError):
    """Another process holds the warehouse."""


class CheckFailed(PipelineError):
    """A blocking data-quality check failed; `steps` holds the checks' results (nothing was written)."""

    def __init__(self, message: str, steps: list[StepResult]) -> None:
        super().__init__(message)
        self.steps = steps


class OutOfSpace(PipelineError):
    """The disk filled up; nothing was kept."""


class Interrupted(PipelineError):
    """The run was stopped by a signal before it committed; nothing was kept."""

    def __init__(self, signal_number: int) -> None:
        super().__init__("interrupted, warehouse unchanged")
        self.signal_number = signal_number


# ---------------------------------------------------------------------------
# Results: what a run did, recorded as it went (the summary never reads the warehouse back)
# ---------------------------------------------------------------------------


@dataclass
class StepResult:
    step: str
    kind: str
    target: str | None
    seconds: float
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    started_at: dt.datetime | None = None
    status: str = "succeeded"  # succeeded | skipped | failed
    check_status: str | None = None  # pass | warn | fail for checks
    detail: str | None = None
    checks: list[dict] = field(default_factory=list)  # for checks: each result row (one per subject)


@dataclass
class RunResult:
    run_id: str
    run_date: dt.date
    skipped: bool = False
    fingerprint: str = ""
    steps: list[StepResult] = field(default_factory=list)
    load: StepResult | None = None  # loading the delivery folder into raw, when there was one
    raw_rows: dict[str, int] = field(default_factory=dict)  # loaded into raw by this run, per source
    partitions: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (source, day, reason) processed
    rejected_by_reason: list[tuple[str, str, int]] = field(default_factory=list)
    check_results: list[dict] = field(default_factory=list)
    match_rates: list[tuple] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    ignored_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    settings: dict[str, str] = field(default_factory=dict)  # DuckDB's memory limit, threads and spill folder
    committed: bool = False

    @property
    def rows_loaded(self) -> int:
        return sum(self.raw_rows.values())

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected or 0 for s in self.steps)


ProgressCallback = Callable[[str, int, int], None]
StepCallback = Callable[[int, int, StepResult], None]


# ---------------------------------------------------------------------------
# Loading a delivery folder into raw
# ---------------------------------------------------------------------------


def _file_stamp(file: DeliveryFile, folder: Path) -> dict:
    try:
        status = file.path.stat()
    except OSError as error:
        raise InputError(f"{display(file.path)}: cannot be read ({error.strerror}); deliver it again") from None
    return {"file": str(file.path.relative_to(folder)), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


def _held_partition(connection, source: str, day: dt.date) -> tuple[str | None, list[dict]]:
    row = connection.execute(
        "SELECT fingerprint, files FROM ops.raw_partitions WHERE source = ? AND delivery_date = ?", [source, day]
    ).fetchone()
    if row is None:
        return None, []
    return row[0], json.loads(row[1]) if row[1] else []


def out_of_space(error: BaseException) -> bool:
    """Whether ERROR says the disk is full (DuckDB quotes the operating system's message)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    return "No space left on device" in str(error)


def _error_in_file(file: DeliveryFile, reader: csvload.DeliveryFileReader | None, error: Exception) -> PipelineError:
    where = display(file.path)
    known = reader.stream_error() if reader else None
    if isinstance(error, CsvError):
        return InputError(f"{where}: {error}")
    if known is not None:
        return InputError(f"{where}: {known}")
    if out_of_space(error):
        return OutOfSpace(f"no space left on the disk holding the warehouse while loading {where}")
    diagnosis = csvload.diagnose(file.path, file.source.column_names)
    if diagnosis:
        return InputError(f"{where}: {diagnosis}")
    message = str(error)
    first = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return InputError(f"{where}: malformed CSV: {first[:240]}")


def _load_source(connection, delivery: Delivery, source: contract.Source, day: dt.date, check_interrupt) -> dict:
    """Replaces SOURCE's raw partition for DAY with the delivery's files, each read once."""
    files = delivery.files_of(source.name)
    connection.execute(f'DELETE FROM raw.{source.name} WHERE "{contract.RAW_PARTITION_COLUMN}" = ?', [day])
    loaded = []
    rows = 0
    for file in files:
        check_interrupt()
        reader = None
        try:
            reader = csvload.DeliveryFileReader(file.path, source.name, source.column_names)
            batches = reader.batches()
            connection.register("delivery_batches", batches)
            try:
                count = connection.execute(
                    f"INSERT INTO raw.{source.name} SELECT *, $day FROM delivery_batches", {"day": day}
                ).fetchone()[0]
            finally:
                # After a failed INSERT the transaction is aborted and unregister fails too; its error
                # would hide the one that says what happened.
                with contextlib.suppress(duckdb.Error):
                    connection.unregister("delivery_batches")
            stats = reader.finish(count)
        except (CsvError, duckdb.Error, OSError, pa.ArrowException) as error:
            if reader is not None:
                reader.close()
            if isinstance(error, duckdb.InterruptException):
                raise
            check_interrupt()
            raise _error_in_file(file, reader, error) from None
        rows += count
        # The file as it was opened and read, not whatever is at its path now.
        loaded.append({"file": str(file.path.relative_to(delivery.folder)), "size": stats.size,
                       "mtime_ns": stats.mtime_ns, "sha256": stats.sha256, "rows": count})
    return {"rows": rows, "files": loaded}


def _fingerprint(files: list[dict]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f["file"]):
        digest.update(f"{entry['file']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def load_delivery(connection, delivery: Delivery, day: dt.date, result: RunResult, check_interrupt, force: bool) -> list[str]:
    """Loads every source of DELIVERY into DAY's raw partitions; returns the sources whose content changed."""
    changed = []
    for source_name in delivery.sources:
        source = contract.SOURCES_BY_NAME[source_name]
        held_fingerprint, held_files = _held_partition(connection, source_name, day)
        stamps = [_file_stamp(f, delivery.folder) for f in delivery.files_of(source_name)]
        unchanged_stamps = held_files and sorted((f["file"], f["size"], f["mtime_ns"]) for f in held_files) == sorted(
            (f["file"], f["size"], f["mtime_ns"]) for f in stamps
        )
        if unchanged_stamps and not force:
            result.notes.append(f"{source_name} {day}: the same files as the held delivery; not loaded again")
            continue
        loaded = _load_source(connection, delivery, source, day, check_interrupt)
        fingerprint = _fingerprint(loaded["files"])
        result.raw_rows[source_name] = loaded["rows"]
        if fingerprint == held_fingerprint and not force:
            # Same content: the partition is as it was, and stays processed.
            connection.execute(
                "UPDATE ops.raw_partitions SET files = ? WHERE source = ? AND delivery_date = ?",
                [json.dumps(loaded["files"]), source_name, day],
            )
            result.notes.append(f"{source_name} {day}: same content as the held delivery")
            continue
        connection.execute("DELETE FROM ops.raw_partitions WHERE source = ? AND delivery_date = ?", [source_name, day])
        connection.execute(
            "INSERT INTO ops.raw_partitions (source, delivery_date, row_count, loaded_at, fingerprint, file_count, files) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [source_name, day, loaded["rows"], dt.datetime.now(dt.timezone.utc), fingerprint,
             len(loaded["files"]), json.dumps(loaded["files"])],
        )
        changed.append(source_name)
    return changed


# ---------------------------------------------------------------------------
# Pending partitions and the steps
# ---------------------------------------------------------------------------


def pending_partitions(connection, digest: str, forced: list[tuple[str, dt.date]] = ()) -> list[tuple[str, dt.date, str]]:
    """(source, day, reason) of every raw partition silver does not hold as loaded, in delivery-day order."""
    rows = connection.execute(
        """
        SELECT held.source, held.delivery_date,
            CASE
                WHEN ledger.source IS NULL THEN 'new'
                WHEN ledger.loaded_at != held.loaded_at
                    OR ledger.fingerprint IS DISTINCT FROM held.fingerprint THEN 'changed'
                WHEN ledger.pipeline_digest != $digest THEN 'pipeline_changed'
            END AS reason
        FROM ops.raw_partitions AS held
        LEFT JOIN ops.processed_partitions AS ledger USING (source, delivery_date)
        ORDER BY held.delivery_date, held.source
        """,
        {"digest": digest},
    ).fetchall()
    forced_set = set(forced)
    return [
        (source, day, reason or "forced")
        for source, day, reason in rows
        if reason is not None or (source, day) in forced_set
    ]


def _bind(values: dict[str, object], names: frozenset[str]) -> dict[str, object]:
    bound = {}
    for name in names:
        value = values.get(name)
        if isinstance(value, list) and not value:
            value = None  # an empty list has no element type in DuckDB; NULL is the same empty set here
        bound[name] = value
    return bound


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    for prefix in ("Invalid Input Error: ", "Conversion Error: ", "Constraint Error: "):
        line = line.removeprefix(prefix)
    return line[:300]


def _execute_step(connection, step: Step, values: dict[str, object], check_interrupt, scope: str = "run",
                  stop_on_failure: bool = True) -> StepResult:
    """Runs STEP's statements. A failed assertion (a blocking check) raises CheckFailed, or with
    stop_on_failure=False marks the step failed and lets the caller go on."""
    started = time.perf_counter()
    result = StepResult(step.name, step.kind, step.target, 0.0, started_at=dt.datetime.now(dt.timezone.utc))
    step_values = dict(values)
    failure = None
    try:
        for statement in sqlgen.step_statements(step, scope):
            check_interrupt()
            sql, names = dialect.transpile_for_binding(statement.sql)
            parameters = _bind(step_values, names)
            if statement.sets:
                value = connection.execute(sql, parameters).fetchone()[0]
                step_values[statement.sets] = value or []
                continue
            if statement.is_assertion:
                passed = connection.execute(sql, parameters).fetchone()[0]
                if passed is not True:
                    failure = statement.message
                    break
                continue
            connection.execute(sql, parameters)
    except duckdb.InterruptException:
        raise
    except duckdb.IOException as error:
        if "No space left" in str(error):
            raise OutOfSpace(f"no space left on the disk holding the warehouse during step {step.name}") from None
        raise PipelineError(f"step {step.name} failed: {_first_line(error)}") from None
    except duckdb.Error as error:
        raise PipelineError(f"step {step.name} failed: {_first_line(error)}") from None
    if step.kind == "silver":
        counts = connection.execute(
            "SELECT sum(scanned_rows - header_rows), sum(accepted_rows), sum(rejected_rows) "
            "FROM ops.processed_partitions WHERE run_id = $run_id AND source = $source",
            {"run_id": values["run_id"], "source": step.source},
        ).fetchone()
        result.rows_in, result.rows_out, result.rows_rejected = (int(c or 0) for c in counts)
    elif step.kind == "quality":
        rows = connection.execute(
            "SELECT subject, violating_rows, status, detail, severity FROM ops.data_quality_results "
            "WHERE run_id = $run_id AND check_name = $name ORDER BY subject",
            {"run_id": values["run_id"], "name": step.name},
        ).fetchall()
        result.rows_out = sum(r[1] for r in rows)
        statuses = {r[2] for r in rows}
        result.check_status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
        warned = [f"{r[0]}: {r[3]}" for r in rows if r[2] != "pass" and r[0]]
        result.detail = "; ".join(warned) or None
        result.checks = [
            {"check": step.name, "subject": subject, "severity": severity, "violating_rows": violating,
             "status": status, "detail": detail}
            for subject, violating, status, detail, severity in rows
        ]
    else:
        result.rows_out = int(connection.execute(f"SELECT count(*) FROM {step.target}").fetchone()[0])
    for name in sqlgen.work_tables(step):
        connection.execute(f"DROP TABLE IF EXISTS {name}")
    result.seconds = time.perf_counter() - started
    if failure is not None:
        result.status = "failed"
        if stop_on_failure:
            raise CheckFailed(failure, [result])
    return result


_PIPELINE_RUN_COLUMNS = ("run_id", "run_date", "step", "step_kind", "target_table", "started_at", "finished_at",
                         "duration_seconds", "rows_in", "rows_out", "rows_rejected", "status", "message", "engine",
                         "input_fingerprint")


def _record_runs(connection, result: RunResult, started_at: dt.datetime, load: StepResult | None) -> None:
    rows = []
    for step in ([load] if load else []) + result.steps:
        finished = step.started_at + dt.timedelta(seconds=step.seconds)
        rows.append((result.run_id, result.run_date, step.step, step.kind, step.target, step.started_at, finished,
                     step.seconds, step.rows_in, step.rows_out, step.rows_rejected, step.status, step.detail, "duckdb",
                     result.fingerprint))
    finished_at = dt.datetime.now(dt.timezone.utc)
    rows.append((result.run_id, result.run_date, "run", "run", None, started_at, finished_at,
                 (finished_at - started_at).total_seconds(), result.rows_loaded, None, result.rows_rejected,
                 "succeeded", None, "duckdb", result.fingerprint))
    values = ", ".join(f"({', '.join('?' * len(_PIPELINE_RUN_COLUMNS))})" for _ in rows)
    connection.execute(
        f"INSERT INTO ops.pipeline_runs ({', '.join(_PIPELINE_RUN_COLUMNS)}) VALUES {values}",
        [value for row in rows for value in row],
    )


def _readers_left_behind(connection, selected: tuple[str, ...]) -> tuple[str, ...]:
    """The steps a selection left out that read, directly or not, what its silver, identity and intermediate
    steps rewrote: a silver or identity step that changed a row (its ops.run_changes), any intermediate."""
    from customer360 import lineage

    changes = dialect.LOCAL_TEMPORARY_TABLES[("ops", "run_changes")]
    changed = {name for (name,) in connection.execute(f"SELECT DISTINCT table_name FROM {changes}").fetchall()}
    graph = lineage.graph()
    rewriters = [name for name in selected
                 if contract.STEPS_BY_NAME[name].kind == "intermediate"
                 or (contract.STEPS_BY_NAME[name].kind in ("silver", "identity")
                     and contract.STEPS_BY_NAME[name].target in changed)]
    readers = {reader for name in rewriters for reader in graph.descendants(name)}
    return tuple(name for name in graph.names if name in readers and name not in selected)


def _truncate_derived(connection) -> None:
    """Empties everything a full refresh rebuilds from raw: silver, the intermediates, gold, the ledger."""
    for table in contract.SILVER_TABLES + contract.GOLD_TABLES:
        connection.execute(f"DELETE FROM {table.ref}")
    for ref in ("ops.processed_partitions", "ops.rejected_rows"):
        connection.execute(f"DELETE FROM {ref}")


def _summarise(connection, result: RunResult, detailed: bool) -> None:
    """The figures the summary prints, read inside the run's transaction; with DETAILED also those over the
    whole warehouse (table sizes, match rates), whose cost grows with history."""
    result.rejected_by_reason = connection.execute(
        "SELECT source, reason, count(*) FROM ops.rejected_rows WHERE run_id = $run_id GROUP BY ALL ORDER BY 1, 2",
        {"run_id": result.run_id},
    ).fetchall()
    result.check_results = [
        dict(zip(("check", "subject", "severity", "violating_rows", "status", "detail"), row))
        for row in connection.execute(
            "SELECT check_name, subject, severity, violating_rows, status, detail FROM ops.data_quality_results "
            "WHERE run_id = $run_id ORDER BY checked_at, check_name, subject",
            {"run_id": result.run_id},
        ).fetchall()
    ]
    if not detailed:
        return
    report = (contract.SQL_DIR / contract.REPORTS["identity_match_rate"]).read_text(encoding="utf-8")
    result.match_rates = connection.execute(dialect.transpile_for_binding(report)[0]).fetchall()
    for table in contract.SILVER_TABLES + contract.GOLD_TABLES:
        if table.name in {s.silver.name for s in contract.SOURCES} or table.dataset == "gold":
            result.table_rows[table.ref] = int(connection.execute(f"SELECT count(*) FROM {table.ref}").fetchone()[0])


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclass
class RunOptions:
    force: bool = False
    full_refresh: bool = False
    load_only: bool = False
    resources: Resources | None = None
    fail_after_step: str | None = None  # injects a failure after the named step (crash-safety tests)
    # Only these steps (names, from customer360.lineage), over the whole warehouse: a silver step processes
    # every raw partition of its source again, the identity map and intermediates recompute every entity,
    # checks look at everything, gold rebuilds. None: every step, over what is pending.
    select: tuple[str, ...] | None = None
    checks_only: bool = False  # only the checks, over the whole warehouse (c360 check)
    watch_for_kill: bool = False  # a watcher process gives back what the run wrote if this process is killed
    # Also read the detailed summary's whole-warehouse figures (table sizes, identity match rates): they scan
    # all of silver, so a run reads them only for `c360 run --summary`.
    detailed: bool = False


class Run:
    """One run against a warehouse, interruptible from another thread (interrupt())."""

    def __init__(self, warehouse_path: Path, run_date: dt.date, data_dir: Path | None = None,
                 options: RunOptions | None = None, progress: ProgressCallback | None = None,
                 on_step: StepCallback | None = None) -> None:
        self.warehouse = Path(warehouse_path)
        self.run_date = run_date
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.options = options or RunOptions()
        self.progress = progress
        self.on_step = on_step
        self._connection: duckdb.DuckDBPyConnection | None = None
        self.result: RunResult | None = None  # what the run did so far, also when it failed
        self._lock = threading.Lock()
        self._interrupted: int | None = None
        self._committing = False
        self._held: run_files.HeldFile | None = None

    def interrupt(self, signal_number: int) -> bool:
        """Stops the run unless it is committing or has committed; True when it will stop."""
        with self._lock:
            if self._committing:
                return False
            self._interrupted = signal_number
            if self._connection is not None:
                self._connection.interrupt()
            return True

    def _check_interrupt(self) -> None:
        if self._interrupted is not None:
            raise Interrupted(self._interrupted)

    def _tell(self, label: str, index: int, total: int) -> None:
        if self.progress:
            self.progress(label, index, total)

    def execute(self) -> RunResult:
        started = time.perf_counter()
        started_at = dt.datetime.now(dt.timezone.utc)
        delivery = None
        if self.data_dir is not None:
            try:
                delivery = discover(self.data_dir)
            except DeliveryError as error:
                raise InputError(str(error)) from None
        day = self.run_date or dt.datetime.now(dt.timezone.utc).date()
        run_id = ("check-" if self.options.checks_only else "") + f"{day:%Y%m%d}-{uuid.uuid4().hex[:12]}"
        result = RunResult(run_id, day)
        self.result = result
        if delivery:
            result.ignored_files = [display(p) for p in delivery.ignored]
        try:
            existed = warehouse.check_file(self.warehouse)
        except WarehouseError as error:
            raise InputError(str(error)) from None
        if not existed and self.options.checks_only:
            raise InputError(f"{display(self.warehouse)}: no such warehouse")
        watcher = run_files.watch(self.warehouse) if self.options.watch_for_kill else None
        try:
            self._execute(result, delivery, started_at, existed)
        finally:
            if watcher is not None:
                watcher.stop()
        result.seconds = time.perf_counter() - started
        return result

    def _execute(self, result: RunResult, delivery: Delivery | None, started_at: dt.datetime, existed: bool) -> None:
        # What an earlier run that did not commit left (a killed run whose watcher could not repair it).
        run_files.give_back(self.warehouse)
        try:
            self._run(result, delivery, started_at, existed)
        except BaseException as error:
            self._close()
            if result.committed:
                # The run is in the warehouse: what failed after the commit (tidying up) is only a note.
                result.notes.append(f"the run committed; tidying up afterwards failed: {_first_line(error)}")
                return
            run_files.give_back(self.warehouse)
            if isinstance(error, duckdb.InterruptException) or (
                self._interrupted is not None and isinstance(error, (duckdb.Error, PipelineError, OSError))
            ):
                raise Interrupted(self._interrupted or signal.SIGINT) from None
            if isinstance(error, WarehouseLocked):
                raise LockedError(str(error)) from None
            if isinstance(error, WarehouseError):
                raise InputError(str(error)) from None
            if isinstance(error, (duckdb.Error, OSError)) and out_of_space(error):
                raise OutOfSpace(f"no space left on the disk holding {display(self.warehouse)}; nothing was kept") from None
            raise
        finally:
            dialect.save_translations()

    def _close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except duckdb.Error:
                pass
        if self._held is not None:
            self._held.close()  # only now: closing it while DuckDB had the file open would drop DuckDB's lock
            self._held = None

    def _open(self, existed: bool, result: RunResult) -> duckdb.DuckDBPyConnection:
        """Opens the warehouse (DuckDB's lock) and records its size before anything is written."""
        resources = self.options.resources or Resources.default()
        connection = warehouse.connect(self.warehouse, resources)
        with self._lock:
            self._connection = connection
        result.settings = warehouse.settings(connection)
        try:
            self._held = run_files.HeldFile(self.warehouse)
            run_files.remember_size(self.warehouse, self._held, created=not existed)
        except OSError as error:
            if out_of_space(error):
                raise OutOfSpace(f"no space left on the disk holding {display(self.warehouse)}; nothing was kept") from None
            raise WarehouseError(
                f"{display(self.warehouse)}: cannot write the run marker beside it ({error.strerror})"
            ) from None
        return connection

    def _run(self, result: RunResult, delivery: Delivery | None, started_at: dt.datetime, existed: bool) -> None:
        connection = self._open(existed, result)
        self._check_interrupt()
        connection.execute("BEGIN TRANSACTION")
        result.notes += warehouse.prepare(connection, self.warehouse)
        full_refresh = self.options.full_refresh or warehouse.full_refresh_pending(connection)
        digest = sqlgen.pipeline_digest()
        result.fingerprint = digest
        selected = self.options.select
        if selected is not None and warehouse.rebuild_pending(connection):
            raise InputError(f"{display(self.warehouse)}: its layout changed or it gained tables, so every held "
                             "delivery day must be processed again first: run c360 run without --select")
        steps = [s for s in contract.PIPELINE if selected is None or s.name in selected]
        load = None
        if delivery is not None:
            self._tell("load raw", 0, len(steps) + 1)
            load_started = time.perf_counter()
            load_at = dt.datetime.now(dt.timezone.utc)
            load_delivery(connection, delivery, self.run_date, result, self._check_interrupt, self.options.force)
            load = StepResult("load_raw", "load", "raw", time.perf_counter() - load_started,
                              rows_in=result.rows_loaded, rows_out=result.rows_loaded, started_at=load_at)
            result.load = load
            if self.on_step:
                self.on_step(0, len(steps), load)
        if self.options.load_only:
            if not result.raw_rows:
                self._nothing_to_do(connection, result)
                return
            self._commit(connection, result)
            return
        if self.options.checks_only:
            self._check_warehouse(connection, result)
            return
        if selected is not None:
            # A selection runs against what the warehouse holds; the next full run catches up the rest.
            sources = {contract.STEPS_BY_NAME[name].source for name in selected}
            full_refresh = False
            pending = [(s, d, "selected") for s, d, _ in pending_partitions(connection, "", []) if s in sources]
        elif not full_refresh:
            # A day processed under other SQL: everything is rebuilt, since intermediates depend on all of silver.
            stale = connection.execute(
                "SELECT count(*) FROM ops.processed_partitions WHERE pipeline_digest != $digest", {"digest": digest}
            ).fetchone()[0]
            if stale:
                full_refresh = True
                result.notes.append("the pipeline's SQL changed since the last run: every held day is processed again")
        if full_refresh:
            _truncate_derived(connection)
        if selected is None:
            forced = [(s, self.run_date) for s in (delivery.sources if delivery and self.options.force else [])]
            pending = pending_partitions(connection, digest, forced)
        if full_refresh:
            pending = [(s, d, "full_refresh") for s, d, _ in pending_partitions(connection, "", [])]
        result.partitions = pending
        if not pending and not full_refresh and selected is None:
            self._nothing_to_do(connection, result)
            return
        # The run's change feed lives in a temporary table locally (customer360.dialect.LOCAL_TEMPORARY_TABLES).
        changes = contract.table("ops.run_changes")
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {dialect.LOCAL_TEMPORARY_TABLES[('ops', 'run_changes')]} ("
            + ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in changes.columns) + ")"
        )
        if pending:
            connection.execute(
                "INSERT INTO ops.run_partitions VALUES " + ", ".join("(?, ?, ?, ?, ?)" for _ in pending),
                [value for s, d, reason in pending for value in (result.run_id, self.run_date, s, d, reason)],
            )
        values = {"run_date": self.run_date, "run_id": result.run_id, "pipeline_digest": digest}
        days_by_source: dict[str, list[dt.date]] = {}
        for source, day, _ in pending:
            days_by_source.setdefault(source, []).append(day)
        scope = "run" if selected is None else "warehouse"
        total = len(steps)
        for index, step in enumerate(steps, start=1):
            self._check_interrupt()
            self._tell(step.name, index, total + 1)
            if step.kind == "silver" and step.source not in days_by_source:
                skipped = StepResult(step.name, step.kind, step.target, 0.0, started_at=dt.datetime.now(dt.timezone.utc),
                                     status="skipped")
                result.steps.append(skipped)
                if self.on_step:
                    self.on_step(index, total, skipped)
                if self.options.fail_after_step == step.name:
                    raise PipelineError(f"injected failure after step {step.name}")
                continue
            step_values = dict(values)
            if step.kind == "silver":
                step_values["delivery_dates"] = sorted(days_by_source[step.source])
            try:
                done = _execute_step(connection, step, step_values, self._check_interrupt, scope)
            except CheckFailed as error:
                result.steps += error.steps
                raise
            except Interrupted:
                raise
            except PipelineError as error:
                result.steps.append(StepResult(step.name, step.kind, step.target, 0.0, status="failed",
                                               detail=str(error)))
                raise
            result.steps.append(done)
            if self.on_step:
                self.on_step(index, total, done)
            if self.options.fail_after_step == step.name:
                raise PipelineError(f"injected failure after step {step.name}")
        if full_refresh:
            warehouse.set_property(connection, warehouse.FULL_REFRESH_PROPERTY, None)
            warehouse.set_property(connection, warehouse.REBUILD_PROPERTY, None)
        if selected is not None:
            left_behind = _readers_left_behind(connection, selected)
            if left_behind:
                # Nothing is pending for them any more, and the run's change log is gone after the commit.
                warehouse.set_property(connection, warehouse.FULL_REFRESH_PROPERTY, "true")
                result.notes.append(
                    f"steps reading what the selection rewrote were not selected ({', '.join(left_behind)}): "
                    "the next run processes every held day again"
                )
        _summarise(connection, result, self.options.detailed)
        _record_runs(connection, result, started_at, load)
        self._commit(connection, result)
        self._tell("done", total + 1, total + 1)

    def _check_warehouse(self, connection, result: RunResult) -> None:
        """Every check over the whole warehouse; its results are kept unless a blocking one failed.

        Freshness is judged on the run date given, else on the newest delivery day held."""
        if self.run_date is None:
            newest = connection.execute("SELECT max(delivery_date) FROM ops.raw_partitions").fetchone()[0]
            result.run_date = newest or result.run_date
        values = {"run_date": result.run_date, "run_id": result.run_id, "pipeline_digest": result.fingerprint}
        checks = [s for s in contract.PIPELINE if s.kind == "quality"]
        for index, step in enumerate(checks, start=1):
            self._check_interrupt()
            self._tell(step.name, index, len(checks) + 1)
            done = _execute_step(connection, step, values, self._check_interrupt, "warehouse", stop_on_failure=False)
            result.steps.append(done)
            if self.on_step:
                self.on_step(index, len(checks), done)
        failed = [s.step for s in result.steps if s.status == "failed"]
        if failed:
            raise CheckFailed(f"blocking data-quality check{'s' if len(failed) > 1 else ''} failed: "
                              f"{', '.join(failed)}; no result was recorded", result.steps)
        self._commit(connection, result)

    def _nothing_to_do(self, connection, result: RunResult) -> None:
        connection.execute("ROLLBACK")
        self._close()
        run_files.give_back(self.warehouse)
        result.skipped = True

    def _commit(self, connection, result: RunResult) -> None:
        with self._lock:
            # Checked and set together: a signal either stops the run before COMMIT or is ignored.
            if self._interrupted is not None:
                raise Interrupted(self._interrupted)
            self._committing = True
        connection.execute("COMMIT")
        result.committed = True
        try:
            # Writes the run into the file itself (not only the log), so the marker can go.
            connection.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        run_files.forget_size(self.warehouse)
        self._close()
        run_files.give_back(self.warehouse)  # DuckDB's spill folder


def _peak_memory() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(warehouse_path: Path, run_date: dt.date, data_dir: Path | None = None, **kwargs) -> RunResult:
    progress = kwargs.pop("progress", None)
    on_step = kwargs.pop("on_step", None)
    job = Run(warehouse_path, run_date, data_dir, RunOptions(**kwargs), progress=progress, on_step=on_step)
    result = job.execute()
    result.peak_memory_bytes = _peak_memory()
    return result


def run_delivery(data_dir: Path, run_date: dt.date, warehouse: Path, *, force: bool = False,
                 progress: ProgressCallback | None = None, fail_after_step: str | None = None,
                 full_refresh: bool = False, resources: Resources | None = None) -> RunResult:
    """Loads DATA_DIR as the RUN_DATE delivery, then processes every pending partition; all or nothing."""
    return run(warehouse, run_date, data_dir, force=force, progress=progress, fail_after_step=fail_after_step,
               full_refresh=full_refresh, resources=resources)


def check(warehouse: Path, as_of: dt.date | None = None, *, resources: Resources | None = None) -> RunResult:
    """Runs every data-quality check over the whole warehouse, judging freshness on AS_OF (default: the newest
    delivery day held); records the results unless a blocking check fails."""
    return run(warehouse, as_of, None, checks_only=True, resources=resources)


def load_only(data_dir: Path, run_date: dt.date, warehouse: Path, *, force: bool = False,
              resources: Resources | None = None) -> RunResult:
    """Loads DATA_DIR into RUN_DATE's raw partitions only, as the cloud transfer does; the next run processes it."""
    return run(warehouse, run_date, data_dir, force=force, load_only=True, resources=resources)


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to an existing warehouse (for reading it back)."""
    return warehouse.connect(Path(path), read_only=read_only)


def ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
    """Creates every schema, table and function of the contract in CONNECTION (tests' in-memory warehouses)."""
    for dataset in contract.DATASETS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    for table in contract.ALL_TABLES:
        connection.execute(warehouse.create_table_sql(table))
    warehouse.create_functions(connection)

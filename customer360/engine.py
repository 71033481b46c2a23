"""Runs one delivery through the whole pipeline on a local DuckDB warehouse, atomically."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from customer360 import contract, dialect, sqlgen
from customer360.contract import SOURCES, Source, Step

DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "NUMERIC": "DECIMAL(38, 9)",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
}


class PipelineError(Exception):
    """A fatal problem with a run; str() is the one-line message for the user."""


class InputError(PipelineError):
    """The delivery itself is unusable (missing folder, bad header, malformed CSV)."""


# ---------------------------------------------------------------------------
# Delivery discovery and header checks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFile:
    source: Source
    path: Path


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def discover(data_dir: Path) -> list[DeliveryFile]:
    """The delivery's files: <source>.csv or <source>/*.csv for any subset of the sources."""
    if not data_dir.is_dir():
        raise InputError(f"{_display(data_dir)}: delivery folder not found")
    found: list[DeliveryFile] = []
    for entry in sorted(data_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        name = entry.stem if entry.is_file() else entry.name
        if entry.is_file() and entry.suffix.lower() != ".csv":
            raise InputError(f"{_display(entry)}: not a CSV file; a delivery holds only <source>.csv or <source>/*.csv")
        source = contract.SOURCES_BY_NAME.get(name)
        if source is None:
            raise InputError(
                f"{_display(entry)}: '{name}' is not a source of the contract "
                f"(expected one of: {', '.join(contract.SOURCES_BY_NAME)})"
            )
        if entry.is_file():
            found.append(DeliveryFile(source, entry))
        else:
            files = sorted(p for p in entry.iterdir() if p.is_file() and not p.name.startswith("."))
            for path in files:
                if path.suffix.lower() != ".csv":
                    raise InputError(f"{_display(path)}: not a CSV file")
                found.append(DeliveryFile(source, path))
    if not found:
        raise InputError(f"{_display(data_dir)}: no source files (expected <source>.csv or <source>/*.csv)")
    return found


UTF8_BOM = b"\xef\xbb\xbf"
# The longest line the DuckDB load accepts (its max_line_size); no single value may be longer.
MAX_LINE_BYTES = 16 * 1024 * 1024


def check_header(file: DeliveryFile) -> None:
    """Fails unless the first line names exactly the contract's columns in order."""
    where = _display(file.path)
    with file.path.open("rb") as handle:
        first = handle.readline(1 << 20)
    if not first.removeprefix(UTF8_BOM).strip():
        raise InputError(f"{where}: empty file, expected the header row of {file.source.name}")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: header is not UTF-8 ({error.reason} at byte {error.start})") from None
    if "\r" in text.rstrip("\r\n"):
        raise InputError(f"{where}: lines end with a bare carriage return; use LF or CRLF line ends")
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration):
        raise InputError(f"{where}: header row is not valid CSV") from None
    expected = list(file.source.column_names)
    if header == expected:
        return
    if len(header) == 1 and len(expected) > 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                raise InputError(f"{where}: header uses {delimiter!r} as delimiter; files must be comma-separated")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
            )
            if part
        )
    else:
        position = next(i for i, (a, b) in enumerate(zip(header, expected)) if a != b)
        detail = f"columns out of order: column {position + 1} is {header[position]!r}, expected {expected[position]!r}"
    raise InputError(f"{where}: header does not match the {file.source.name} contract ({detail})")


def _decoded_lines(file: DeliveryFile, where: str, line_ends: set[str] | None = None):
    """The file's lines as text, failing on the first one the BigQuery load would refuse to decode.

    Records in LINE_ENDS which line ends ("\r\n", "\n") the file uses.
    """
    with file.path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = line.removeprefix(UTF8_BOM)
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{where}: line {number} is not UTF-8 (byte 0x{line[error.start]:02X} at position "
                    f"{error.start + 1}); deliveries must be UTF-8 encoded"
                ) from None
            if "\x00" in text:
                # The BigQuery load fails on ASCII 0, so the local run refuses it too.
                raise InputError(f"{where}: line {number} contains a NUL byte (ASCII 0)")
            if line_ends is not None and text.endswith("\n"):
                line_ends.add("\r\n" if text.endswith("\r\n") else "\n")
            yield text


@dataclass(frozen=True)
class RowScan:
    rows: int  # data rows; blank lines are not rows
    # Both LF and CRLF line ends: DuckDB's CSV reader fails on some such files, so they load from a
    # copy with LF line ends (the values are unchanged; BigQuery reads either).
    mixed_line_ends: bool = False


def check_rows(file: DeliveryFile) -> RowScan:
    """Reads every row as RFC 4180 CSV; fails on the first one that is not exactly one record of the contract.

    A row with too many fields is refused even when the extra fields are empty: it means a value
    shifted into the wrong column (DuckDB's reader would silently drop the empty extras).
    """
    where = _display(file.path)
    expected = len(file.source.column_names)
    rows = 0
    line_ends: set[str] = set()
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(_decoded_lines(file, where, line_ends), strict=True)
    next(reader, None)  # the header, checked by check_header
    while True:
        starts_at = reader.line_num + 1
        try:
            fields = next(reader, None)
        except csv.Error as error:
            cause = str(error)
            if "unexpected end of data" in cause:
                cause = "unterminated quoted value"
            elif "field limit" in cause:
                cause = f"a value is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB"
            elif "new-line character seen in unquoted field" in cause:
                cause = "a line break (CR or LF) inside a value that is not quoted"
            raise InputError(f"{where}: malformed CSV: line {starts_at}: {cause}") from None
        if fields is None:
            return RowScan(rows, mixed_line_ends=len(line_ends) > 1)
        if not fields:
            continue
        if len(fields) != expected:
            raise InputError(
                f"{where}: malformed CSV: line {starts_at} has {len(fields)} fields, expected {expected} "
                f"({'a value holding a comma must be quoted' if len(fields) > expected else 'the row is cut short'})"
            )
        rows += 1


def _with_lf_line_ends(file: DeliveryFile, folder: Path) -> Path:
    """A copy of the (already checked) file with every record ending in LF; values are unchanged."""
    copy = folder / f"{len(list(folder.iterdir()))}-{file.path.name}"

    def quoted(value: str) -> str:
        # csv.writer would leave a bare CR unquoted with LF line ends; RFC 4180 quotes it.
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value

    with copy.open("w", encoding="utf-8", newline="") as handle:
        for fields in csv.reader(_decoded_lines(file, _display(file.path)), strict=True):
            if fields:
                handle.write(",".join(map(quoted, fields)) + "\n")
    return copy


def fingerprint(files: list[DeliveryFile], data_dir: Path) -> str:
    """SHA-256 over the delivery's files and the pipeline's SQL: equal means a re-run changes nothing."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.path.relative_to(data_dir)).encode())
        with file.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    for step in contract.PIPELINE:
        digest.update(sqlgen.step_query(step).encode())
    for function in sqlgen.functions():
        digest.update(function.create_statement().encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Warehouse
# ---------------------------------------------------------------------------


def _create_table_sql(table: contract.Table) -> str:
    columns = [
        f"{c.name} {DUCKDB_TYPES[c.type]}{' NOT NULL' if c.required else ''}" for c in table.columns
    ]
    if table.dataset == "raw":
        columns.append(f'"{contract.RAW_PARTITION_COLUMN}" DATE NOT NULL')
    return f"CREATE TABLE IF NOT EXISTS {table.ref} ({', '.join(columns)})"


def ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
    for dataset in contract.DATASETS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    for table in contract.ALL_TABLES:
        connection.execute(_create_table_sql(table))
    for function in sqlgen.functions():
        connection.execute(
            dialect.function_to_macro(function.dataset, function.name, [n for n, _ in function.arguments], function.body)
        )


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(warehouse))
    connection.execute("SET TimeZone = 'UTC'")
    return connection


# ---------------------------------------------------------------------------
# The run
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


@dataclass
class RunResult:
    run_id: str
    run_date: dt.date
    skipped: bool
    fingerprint: str
    steps: list[StepResult] = field(default_factory=list)
    raw_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_loaded(self) -> int:
        return sum(self.raw_rows.values())


ProgressCallback = Callable[[str, int, int], None]


def _load_raw(
    connection: duckdb.DuckDBPyConnection, files: list[DeliveryFile], run_date: dt.date, scans: dict[Path, RowScan]
) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix="c360-load-") as scratch:
        return _load_raw_files(connection, files, run_date, scans, Path(scratch))


def _load_raw_files(
    connection: duckdb.DuckDBPyConnection,
    files: list[DeliveryFile],
    run_date: dt.date,
    scans: dict[Path, RowScan],
    scratch: Path,
) -> dict[str, int]:
    loaded: dict[str, int] = {}
    by_source: dict[str, list[DeliveryFile]] = {}
    for file in files:
        by_source.setdefault(file.source.name, []).append(file)
    for name, source_files in by_source.items():
        source = contract.SOURCES_BY_NAME[name]
        connection.execute(f'DELETE FROM raw.{name} WHERE "{contract.RAW_PARTITION_COLUMN}" = ?', [run_date])
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in source.column_names)
        before = connection.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0]
        for file in source_files:
            before_file = connection.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0]
            readable = _with_lf_line_ends(file, scratch) if scans[file.path].mixed_line_ends else file.path
            try:
                connection.execute(
                    f"""
                    INSERT INTO raw.{name}
                    SELECT *, ?::DATE FROM read_csv(
                        ?, header = true, delim = ',', quote = '"', escape = '"',
                        columns = {{{columns}}}, strict_mode = true, null_padding = false,
                        encoding = 'utf-8', max_line_size = {MAX_LINE_BYTES}, auto_detect = false
                    )
                    """,
                    [run_date, str(readable)],
                )
            except duckdb.Error as error:
                raise InputError(f"{_display(file.path)}: malformed CSV: {_csv_error(error)}") from None
            loaded_file = connection.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0] - before_file
            if loaded_file != scans[file.path].rows:
                raise InputError(
                    f"{_display(file.path)}: malformed CSV: loaded {loaded_file} rows but the file holds "
                    f"{scans[file.path].rows}"
                )
        loaded[name] = connection.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0] - before
    return loaded


def _csv_error(error: Exception) -> str:
    """DuckDB's CSV error in one line: where, then the cause it states after the offending line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    where = _first_line(error)
    cause = next(
        (line for line in lines[1:] if not line.startswith(("Original Line:", "Possible", "*", "file ="))),
        None,
    )
    return f"{where}: {cause}"[:300] if cause else where


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    for prefix in ("Invalid Input Error: ", "Conversion Error: ", "Constraint Error: "):
        line = line.removeprefix(prefix)
    return line[:300]


def _count(connection: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(connection.execute(sql).fetchone()[0])


# Stand-ins for the query parameters while a statement is translated once per process; each run
# then only swaps in its own values. Translating costs about 25 ms a statement, most of a small run.
_PARAMETER_STAND_INS: dict[str, object] = {"run_date": dt.date(1000, 1, 1), "run_id": "c360-run-id-stand-in"}


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@functools.lru_cache(maxsize=1024)
def _duckdb_template(sql: str) -> str | None:
    """The statement in DuckDB SQL with stand-ins for the parameters; None if a stand-in is ambiguous."""
    if any(str(value) in sql for value in _PARAMETER_STAND_INS.values()):
        return None
    return dialect.transpile_one(sql, _PARAMETER_STAND_INS)


def duckdb_statement(sql: str, parameters: dict[str, object]) -> str:
    """dialect.transpile_one(sql, parameters), translating each statement only once."""
    template = _duckdb_template(sql)
    if template is None or set(parameters) != set(_PARAMETER_STAND_INS):
        return dialect.transpile_one(sql, parameters)
    for name, stand_in in _PARAMETER_STAND_INS.items():
        value = parameters[name]
        if isinstance(value, dt.date) != isinstance(stand_in, dt.date):
            return dialect.transpile_one(sql, parameters)
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        placeholder = stand_in.isoformat() if isinstance(stand_in, dt.date) else str(stand_in)
        template = template.replace(_sql_string(placeholder), _sql_string(text))
    return template


def _execute_step(
    connection: duckdb.DuckDBPyConnection, step: Step, parameters: dict[str, object]
) -> StepResult:
    started = time.perf_counter()
    result = StepResult(step.name, step.kind, step.target, 0.0, started_at=dt.datetime.now(dt.timezone.utc))
    for statement in sqlgen.step_statements(step):
        sql = duckdb_statement(statement.sql, parameters)
        if statement.is_assertion:
            passed = connection.execute(sql).fetchone()[0]
            if passed is not True:
                raise PipelineError(statement.message)
            continue
        try:
            connection.execute(sql)
        except duckdb.Error as error:
            raise PipelineError(f"step {step.name} failed: {_first_line(error)}") from None
        if step.kind == "silver" and statement.sql.startswith("create or replace temp table"):
            staged = sqlgen.staged_table(step)
            result.rows_in = _count(connection, f"SELECT count(*) FROM {staged}")
            result.rows_rejected = _count(
                connection, f"SELECT count(*) FROM {staged} WHERE rejection_reason IS NOT NULL"
            )
            result.rows_out = result.rows_in - result.rows_rejected
    if step.kind == "silver":
        connection.execute(f"DROP TABLE IF EXISTS {sqlgen.staged_table(step)}")
    elif step.kind == "quality":
        result.rows_out = _count(
            connection,
            f"SELECT violating_rows FROM ops.data_quality_results "
            f"WHERE run_id = '{parameters['run_id']}' AND check_name = '{step.name}'",
        )
    else:
        result.rows_out = _count(connection, f"SELECT count(*) FROM {step.target}")
    result.seconds = time.perf_counter() - started
    return result


def last_fingerprint(connection: duckdb.DuckDBPyConnection, run_date: dt.date) -> str | None:
    row = connection.execute(
        """
        SELECT input_fingerprint FROM ops.pipeline_runs
        WHERE run_date = ? AND step = 'run' AND status = 'succeeded'
        ORDER BY started_at DESC LIMIT 1
        """,
        [run_date],
    ).fetchone()
    return row[0] if row else None


def _record_runs(
    connection: duckdb.DuckDBPyConnection, result: RunResult, started_at: dt.datetime, load: StepResult
) -> None:
    rows = []
    for step in [load, *result.steps]:
        finished = step.started_at + dt.timedelta(seconds=step.seconds)
        rows.append(
            (result.run_id, result.run_date, step.step, step.kind, step.target, step.started_at, finished,
             step.seconds, step.rows_in, step.rows_out, step.rows_rejected, "succeeded", None, "duckdb",
             result.fingerprint)
        )
    finished_at = dt.datetime.now(dt.timezone.utc)
    rows.append(
        (result.run_id, result.run_date, "run", "run", None, started_at, finished_at,
         (finished_at - started_at).total_seconds(), result.rows_loaded, None,
         sum(s.rows_rejected or 0 for s in result.steps), "succeeded", None, "duckdb", result.fingerprint)
    )
    connection.executemany(
        "INSERT INTO ops.pipeline_runs VALUES (" + ", ".join("?" * 15) + ")",
        rows,
    )


def run_delivery(
    data_dir: Path,
    run_date: dt.date,
    warehouse: Path,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    fail_after_step: str | None = None,
) -> RunResult:
    """Loads DATA_DIR as the RUN_DATE delivery and runs every step; all or nothing.

    `fail_after_step` injects a failure after the named step (used to prove crash safety).
    """
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.timezone.utc)
    data_dir = Path(data_dir)
    warehouse = Path(warehouse)
    files = discover(data_dir)
    scans: dict[Path, RowScan] = {}
    for file in files:
        check_header(file)
        scans[file.path] = check_rows(file)
    delivery_fingerprint = fingerprint(files, data_dir)
    run_id = f"{run_date:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    result = RunResult(run_id, run_date, skipped=False, fingerprint=delivery_fingerprint)

    created = not warehouse.exists()
    if not warehouse.parent.exists():
        raise InputError(f"{_display(warehouse)}: folder {_display(warehouse.parent)} does not exist")
    try:
        connection = connect(warehouse)
    except duckdb.Error as error:
        raise InputError(f"{_display(warehouse)}: cannot open warehouse: {_first_line(error)}") from None
    try:
        connection.execute("BEGIN TRANSACTION")
        try:
            ensure_schema(connection)
            if not force and last_fingerprint(connection, run_date) == delivery_fingerprint:
                connection.execute("ROLLBACK")
                connection.close()
                result.skipped = True
                result.seconds = time.perf_counter() - started
                return result
            total = len(contract.PIPELINE) + 1
            if progress:
                progress("load raw", 0, total)
            load_started = time.perf_counter()
            load_at = dt.datetime.now(dt.timezone.utc)
            result.raw_rows = _load_raw(connection, files, run_date, scans)
            load = StepResult("load_raw", "load", "raw", time.perf_counter() - load_started,
                              rows_in=result.rows_loaded, rows_out=result.rows_loaded, started_at=load_at)
            parameters = {"run_date": run_date, "run_id": run_id}
            for index, step in enumerate(contract.PIPELINE, start=1):
                if progress:
                    progress(step.name, index, total)
                result.steps.append(_execute_step(connection, step, parameters))
                if fail_after_step == step.name:
                    raise PipelineError(f"injected failure after step {step.name}")
            result.seconds = time.perf_counter() - started
            _record_runs(connection, result, started_at, load)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except BaseException:
        connection.close()
        if created:
            for leftover in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    connection.close()
    if progress:
        progress("done", len(contract.PIPELINE) + 1, len(contract.PIPELINE) + 1)
    return result

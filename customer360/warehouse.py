"""The local warehouse file: what may be opened as one, its layout version, its drift, and the resources a run gets.

- Only a DuckDB database file is opened, and no DuckDB extension is ever installed or loaded (a
  SQLite or Parquet file would otherwise pull one from the network). A file of this project carries
  its layout version in ops.warehouse_info; an older layout is migrated forward inside the run's
  transaction, a newer one is refused naming both versions.
- Columns that differ from the contract (missing, extra, another type) are reported before any step.
- Memory is bounded by default (Resources) and DuckDB spills to a folder beside the file; a failed or
  killed run leaves the file as large as it was (customer360.run_files).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from customer360 import contract
from customer360.csvload import display
from customer360.run_files import marker_path, spill_folder, wal_path  # noqa: F401 - the files beside a warehouse

# Version 1: the layout before ops.warehouse_info existed (no ledger, no intermediates).
LAYOUT_VERSION = 2
VERSION_PROPERTY = "layout_version"
FULL_REFRESH_PROPERTY = "full_refresh_pending"
# Set with FULL_REFRESH_PROPERTY when the layout changed or derived tables were created: until that full run,
# a `--select` would read tables that do not hold what silver implies, and is refused.
REBUILD_PROPERTY = "rebuild_pending"

DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "NUMERIC": "DECIMAL(38,9)",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
}
# DuckDB's file header: 8 bytes of checksum, then the magic bytes. The two checkpoint headers follow.
_MAGIC = b"DUCK"
# Ours: a default that leaves room for Python and the CSV reader on any machine.
DEFAULT_MEMORY_FRACTION = 0.6
DEFAULT_MEMORY_CAP_BYTES = 3 * 1024**3
THREADS_VARIABLE = "C360_THREADS"


class WarehouseError(Exception):
    """The warehouse file cannot be used; str() is one line naming it and why."""


class WarehouseLocked(WarehouseError):
    """Another process has the warehouse open."""


@dataclass(frozen=True)
class Resources:
    memory_limit: str
    threads: int | None = None

    @classmethod
    def default(cls, memory_limit: str | None = None, threads: int | None = None) -> "Resources":
        if memory_limit is None:
            try:
                total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            except (ValueError, OSError):
                total = 8 * 1024**3
            limit = min(int(total * DEFAULT_MEMORY_FRACTION), DEFAULT_MEMORY_CAP_BYTES)
            memory_limit = f"{limit // (1024 * 1024)}MB"
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit.strip(), re.IGNORECASE):
            raise WarehouseError(f"--memory-limit {memory_limit!r}: expected a size such as 3GB or 2500MB")
        if threads is not None and threads < 1:
            raise WarehouseError(f"--threads {threads}: expected 1 or more")
        if threads is None:
            threads = _threads_from_environment()
        return cls(memory_limit.strip(), threads)


def _threads_from_environment() -> int | None:
    """C360_THREADS, the default for --threads (unset: every core); e.g. 1 per process beside parallel test workers."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdecimal()) or int(value) < 1:
        raise WarehouseError(f"{THREADS_VARIABLE}={value!r}: expected a whole number, 1 or more")
    return int(value)


def check_file(path: Path) -> bool:
    """Whether PATH exists; raises WarehouseError when it is not something DuckDB may open as ours."""
    where = display(path)
    if not path.parent.exists():
        raise WarehouseError(f"{where}: folder {display(path.parent)} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise WarehouseError(
            f"{where}: cannot write in folder {display(path.parent)} (read-only); a run writes the warehouse "
            "and its run marker there, so give a path in a writable folder"
        )
    if not path.exists():
        if path.is_symlink():
            raise WarehouseError(f"{where}: a link to {os.readlink(path)!r}, which does not exist")
        return False
    if not path.is_file():
        raise WarehouseError(f"{where}: not a file; give the path of a warehouse file (a new one is created)")
    with path.open("rb") as handle:
        head = handle.read(16)
    if len(head) >= 12 and head[8:12] == _MAGIC:
        return True
    if head.startswith(b"SQLite format 3"):
        kind = "a SQLite database"
    elif head.startswith(b"PAR1"):
        kind = "a Parquet file"
    elif not head:
        kind = "an empty file"
    elif all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        kind = "a text file (a CSV?)"
    else:
        kind = "not a DuckDB database"
    raise WarehouseError(f"{where}: {kind}, not a DuckDB warehouse; give a new path or an existing warehouse")


def _locked(error: Exception, path: Path) -> WarehouseError | None:
    text = str(error)
    if "lock" not in text.lower():
        return None
    holder = re.search(r"held in (?P<program>\S+) \(PID (?P<pid>\d+)\)", text)
    who = f" (PID {holder['pid']}, {Path(holder['program']).name})" if holder else ""
    return WarehouseLocked(f"{display(path)}: in use by another process{who}; wait for it to finish and run again")


def connect(path: Path, resources: Resources | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Opens PATH (a checked DuckDB file, or a new one); raises WarehouseError / WarehouseLocked."""
    resources = resources or Resources.default()
    config = {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "memory_limit": resources.memory_limit,
        # No statement relies on the order rows are stored in (results are compared as sets, and every
        # order the product defines is an ORDER BY); without it DuckDB writes in parallel.
        "preserve_insertion_order": "false",
    }
    if resources.threads:
        config["threads"] = str(resources.threads)
    if not read_only:
        config["temp_directory"] = str(spill_folder(path))
    try:
        connection = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as error:
        locked = _locked(error, path)
        if locked:
            raise locked from None
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WarehouseError(f"{display(path)}: cannot open the warehouse ({first[:200]})") from None
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def settings(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The resources DuckDB applies to CONNECTION, as it reports them (memory limit, threads, spill folder)."""
    names = ("memory_limit", "threads", "temp_directory")
    values = connection.execute(f"SELECT {', '.join(f'current_setting({n!r})' for n in names)}").fetchone()
    return {name: str(value) for name, value in zip(names, values)}


# ---------------------------------------------------------------------------
# Layout: version, creation, drift
# ---------------------------------------------------------------------------


def create_table_sql(table: contract.Table) -> str:
    columns = [
        f'"{c.name}" {DUCKDB_TYPES[c.type]}{" NOT NULL" if c.required else ""}' for c in table.columns
    ]
    if table.dataset == "raw":
        columns.append(f'"{contract.RAW_PARTITION_COLUMN}" DATE NOT NULL')
    return f"CREATE TABLE IF NOT EXISTS {table.ref} ({', '.join(columns)})"


def expected_columns(table: contract.Table) -> list[tuple[str, str]]:
    columns = [(c.name, DUCKDB_TYPES[c.type]) for c in table.columns]
    if table.dataset == "raw":
        columns.append((contract.RAW_PARTITION_COLUMN, "DATE"))
    return columns


def _existing_columns(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = connection.execute(
        "SELECT table_schema || '.' || table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema IN ('raw', 'silver', 'gold', 'ops') "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for ref, column, kind in rows:
        found.setdefault(ref, []).append((column, kind.replace(" ", "").upper()))
    return found


def drift(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per table whose columns differ from the contract (missing tables are created, not drift)."""
    existing = _existing_columns(connection)
    problems = []
    for table in contract.ALL_TABLES:
        found = existing.get(table.ref)
        if found is None:
            continue
        wanted = {n: t.replace(" ", "").upper() for n, t in expected_columns(table)}
        have = dict(found)
        missing = [n for n in wanted if n not in have]
        extra = [n for n in have if n not in wanted]
        changed = [f"{n} is {have[n]}, expected {wanted[n]}" for n in wanted if n in have and have[n] != wanted[n]]
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []) + changed
        if parts:
            problems.append(f"{table.ref}: {'; '.join(parts)}")
    return problems


def _missing_tables(connection: duckdb.DuckDBPyConnection) -> bool:
    held = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema IN ('raw', 'silver', 'gold', 'ops')"
    ).fetchone()[0]
    return held < len(contract.ALL_TABLES)


def _info(connection: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'ops' AND table_name = 'warehouse_info'"
    ).fetchone()[0]
    if not exists:
        return None
    return dict(connection.execute("SELECT name, value FROM ops.warehouse_info").fetchall())


def set_property(connection: duckdb.DuckDBPyConnection, name: str, value: str | None) -> None:
    connection.execute("DELETE FROM ops.warehouse_info WHERE name = ?", [name])
    if value is not None:
        connection.execute("INSERT INTO ops.warehouse_info VALUES (?, ?, ?)",
                           [name, value, dt.datetime.now(dt.timezone.utc)])


def layout_version(connection: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """The layout version of the open warehouse; None for a new, empty database."""
    info = _info(connection)
    if info is not None:
        raw = info.get(VERSION_PROPERTY, "")
        if not raw.isdigit():
            raise WarehouseError(f"{display(path)}: ops.warehouse_info has no valid {VERSION_PROPERTY} ({raw!r})")
        return int(raw)
    tables = connection.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema NOT IN ('information_schema', 'pg_catalog')"
    ).fetchall()
    if not tables:
        return None
    names = {t for (t,) in tables}
    if {"ops.pipeline_runs", "ops.rejected_rows"} <= names:
        return 1
    sample = ", ".join(sorted(names)[:3])
    raise WarehouseError(f"{display(path)}: a DuckDB database that is not a customer360 warehouse (it holds {sample}); "
                         "give a new path or an existing warehouse")


def prepare(connection: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Creates or migrates the layout inside the open transaction; returns what was done, one line each."""
    version = layout_version(connection, path)
    done: list[str] = []
    if version is not None and version > LAYOUT_VERSION:
        raise WarehouseError(
            f"{display(path)}: warehouse layout version {version} is newer than this version of customer360 "
            f"understands ({LAYOUT_VERSION}); upgrade customer360 to use it"
        )
    if version is not None and version < LAYOUT_VERSION:
        done += _migrate_from_1(connection)
    if version is not None:
        from customer360 import migrations

        try:
            applied = migrations.apply_local(connection)
        except migrations.MigrationError as error:
            raise WarehouseError(f"{display(path)}: {error}") from None
        done += [f"{change.table}: {change.action}" for change in applied]
    problems = drift(connection)
    if problems:
        raise WarehouseError(
            f"{display(path)}: tables differ from the contract ({problems[0]}"
            + (f"; and {len(problems) - 1} more" if len(problems) > 1 else "")
            + "); restore them or start a new warehouse"
        )
    for dataset in contract.DATASETS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    new_derived: list[str] = []
    if version is None or version < LAYOUT_VERSION or _missing_tables(connection):
        held = _existing_columns(connection)
        new_derived = [t.ref for t in contract.SILVER_TABLES + contract.GOLD_TABLES if t.ref not in held]
        for table in contract.ALL_TABLES:
            connection.execute(create_table_sql(table))
    create_functions(connection, unless_current=True)
    if version is None:
        set_property(connection, VERSION_PROPERTY, str(LAYOUT_VERSION))
        done.append(f"created a new warehouse (layout {LAYOUT_VERSION})")
    elif version < LAYOUT_VERSION or new_derived:
        # Tables derived from silver that this version adds start empty: every held day is processed again
        # before anything reads them, and no selection runs over them until then.
        set_property(connection, VERSION_PROPERTY, str(LAYOUT_VERSION))
        set_property(connection, FULL_REFRESH_PROPERTY, "true")
        set_property(connection, REBUILD_PROPERTY, "true")
        if new_derived and version == LAYOUT_VERSION:
            done.append(f"created {', '.join(new_derived)}: every held delivery day is processed again")
    return done


FUNCTIONS_PROPERTY = "functions_digest"


def create_functions(connection: duckdb.DuckDBPyConnection, *, unless_current: bool = False) -> None:
    """The SQL functions as DuckDB macros: they are part of the code, so a change of the code replaces them.

    With UNLESS_CURRENT, nothing is done when the warehouse records the same functions' digest.
    """
    from customer360 import dialect, sqlgen

    macros = [
        dialect.function_to_macro(function.dataset, function.name, [n for n, _ in function.arguments], function.body)
        for function in sqlgen.functions()
    ]
    digest = hashlib.sha256("\n".join(macros).encode()).hexdigest()[:16]
    if unless_current and (_info(connection) or {}).get(FUNCTIONS_PROPERTY) == digest:
        return
    for macro in macros:
        connection.execute(macro)
    if unless_current:
        set_property(connection, FUNCTIONS_PROPERTY, digest)


def _migrate_from_1(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Layout 1 to 2: new tables and columns, the raw partitions listed, and a full refresh to follow."""
    for dataset in contract.DATASETS:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    existing = _existing_columns(connection)
    for table in contract.ALL_TABLES:
        have = {n for n, _ in existing.get(table.ref, [])}
        if table.ref in existing:
            for name, kind in expected_columns(table):
                if name not in have:
                    connection.execute(f'ALTER TABLE {table.ref} ADD COLUMN "{name}" {kind}')
        else:
            connection.execute(create_table_sql(table))
    now = dt.datetime.now(dt.timezone.utc)
    for source in contract.SOURCES:
        connection.execute(
            f"INSERT INTO ops.raw_partitions (source, delivery_date, row_count, loaded_at) "
            f'SELECT ?, "{contract.RAW_PARTITION_COLUMN}", count(*), ? FROM raw.{source.name} GROUP BY ALL',
            [source.name, now],
        )
    return [f"migrated the warehouse from layout 1 to {LAYOUT_VERSION}; every held delivery day is processed again"]


def full_refresh_pending(connection: duckdb.DuckDBPyConnection) -> bool:
    return (_info(connection) or {}).get(FULL_REFRESH_PROPERTY) == "true"


def rebuild_pending(connection: duckdb.DuckDBPyConnection) -> bool:
    return (_info(connection) or {}).get(REBUILD_PROPERTY) == "true"

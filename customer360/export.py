"""Write every gold table of a local warehouse to CSV or Parquet files, for Tableau, Looker Studio or a spreadsheet."""

from __future__ import annotations

import csv
import enum
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from customer360 import values
from customer360.contract import GOLD_TABLES
from customer360.dashboard.sources import SourceError, open_warehouse


class ExportFormat(str, enum.Enum):
    """CSV for spreadsheets (text as `customer360.values` writes it); Parquet keeps the warehouse's exact types."""

    csv = "csv"
    parquet = "parquet"


_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class ExportedTable:
    ref: str
    path: Path
    rows: int


def export_gold(warehouse: Path | str, out_dir: Path | str, file_format: ExportFormat | str) -> list[ExportedTable]:
    """One file per gold table, `<table>.<format>` in `out_dir`, columns in contract order, rows sorted."""
    try:
        file_format = ExportFormat(file_format)
    except ValueError:
        raise SourceError(
            f"format {file_format!r} is not one of {', '.join(f.value for f in ExportFormat)}"
        ) from None
    out_dir = Path(out_dir)
    connection = open_warehouse(warehouse, tuple(t.ref for t in GOLD_TABLES))
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SourceError(f"cannot create output folder {out_dir}: {error.strerror}") from None
        exported = []
        for gold in GOLD_TABLES:
            path = out_dir / f"{gold.name}.{file_format.value}"
            # Timestamps are read in UTC (open_warehouse sets the session time zone).
            query = f"select {', '.join(gold.column_names)} from {gold.ref} order by all"
            writer = _write_csv if file_format is ExportFormat.csv else _write_parquet
            rows = writer(connection, query, gold.column_names, path)
            exported.append(ExportedTable(gold.ref, path, rows))
        return exported
    finally:
        connection.close()


def _partial(path: Path) -> Path:
    """Where a file is written before it is renamed into place, so a failure never leaves half a file."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def _write_parquet(connection: duckdb.DuckDBPyConnection, query: str, columns: tuple[str, ...], path: Path) -> int:
    partial = _partial(path)
    try:
        connection.execute(f"copy ({query}) to '{_sql_string(partial)}' (format parquet, compression zstd)")
        partial.replace(path)
    except (duckdb.IOException, OSError) as error:
        partial.unlink(missing_ok=True)
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
        raise SourceError(f"cannot write {path}: {message}") from None
    return connection.execute(f"select count(*) from ({query})").fetchone()[0]


def _write_csv(connection: duckdb.DuckDBPyConnection, query: str, columns: tuple[str, ...], path: Path) -> int:
    """RFC 4180 CSV with a header."""
    partial = _partial(path)
    rows = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(columns)
            cursor = connection.execute(query)
            while batch := cursor.fetchmany(_BATCH_ROWS):
                writer.writerows([values.text(value) for value in row] for row in batch)
                rows += len(batch)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise SourceError(f"cannot write {path}: {error.strerror or error}") from None
    return rows


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")

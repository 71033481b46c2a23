"""Write every gold table of a local warehouse to CSV or Parquet files, for Tableau, Looker Studio or a spreadsheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from customer360.contract import GOLD_TABLES
from customer360.dashboard.sources import SourceError, open_warehouse

FORMATS = {"csv": "(format csv, header true, delimiter ',')", "parquet": "(format parquet, compression zstd)"}


@dataclass(frozen=True)
class ExportedTable:
    ref: str
    path: Path
    rows: int


def export_gold(warehouse: Path | str, out_dir: Path | str, file_format: str) -> list[ExportedTable]:
    """One file per gold table, `<table>.<format>` in `out_dir`, columns in contract order, rows sorted."""
    if file_format not in FORMATS:
        raise SourceError(f"format {file_format!r} is not one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    connection = open_warehouse(warehouse, tuple(t.ref for t in GOLD_TABLES))
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SourceError(f"cannot create output folder {out_dir}: {error.strerror}") from None
        exported = []
        for gold in GOLD_TABLES:
            path = out_dir / f"{gold.name}.{file_format}"
            columns = ", ".join(gold.column_names)
            # Timestamps are written in UTC (open_warehouse sets the session time zone).
            query = f"select {columns} from {gold.ref} order by all"
            try:
                connection.execute(f"copy ({query}) to '{_sql_string(path)}' {FORMATS[file_format]}")
            except duckdb.IOException as error:
                raise SourceError(f"cannot write {path}: {str(error).splitlines()[0]}") from None
            rows = connection.execute(f"select count(*) from {gold.ref}").fetchone()[0]
            exported.append(ExportedTable(gold.ref, path, rows))
        return exported
    finally:
        connection.close()


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")

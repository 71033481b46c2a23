"""Formats the generator's numeric columns with one DuckDB SELECT per file and writes them as RFC 4180 CSV."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from customer360.contract import SOURCES_BY_NAME
from customer360.generate.dirty import DirtyKinds, expand
from customer360.generate.draws import Columns, narrow, row_count
from customer360.generate.formats import sql_macros, sql_string

# A file's SQL: output column -> expression over the numeric columns (written in the contract's column
# order), and per dirty kind the columns it overrides ("{b}" in an override stands for the clean expression).
ColumnSql = dict[str, str]
Overrides = dict[str, dict[str, str]]
QUEUED_ROWS = 6_000_000  # about 300 MB of narrowed frames at the largest scale


@dataclass(frozen=True)
class GeneratedFile:
    """One written CSV file."""

    delivery_date: date
    source: str
    path: Path
    rows: int  # data rows, header excluded


class CsvWriter:
    """Writes OUT/<day>/<source>.csv files, each whole by one COPY on a writer thread, in call order."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.files: list[GeneratedFile] = []
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order = true")
        self.con.execute("SET enable_progress_bar = false")
        for macro in sql_macros():
            self.con.execute(macro)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="c360-generate")
        self.pending: list[tuple[Future, int]] = []  # (the COPY, its rows), oldest first

    def write(self, day: date, dirty: DirtyKinds, frame: Columns, columns: ColumnSql, overrides: Overrides,
              derived: tuple[dict[str, str], ...] = ()) -> None:
        """Apply the structural dirty kinds to the numeric columns (dirty.expand), format them with one SELECT
        and COPY them to OUT/<day>/<source>.csv (the source whose dirty kinds these are).

        `derived` are layers of helper columns computed once below the final SELECT (e.g. an e-mail's
        local part), which keeps the expanded macro expressions, and so planning time, small. The writer
        keeps `frame`: the caller must not change its arrays afterwards.
        """
        source = dirty.source
        names = SOURCES_BY_NAME[source].column_names
        assert set(columns) == set(names), f"{source}: columns {sorted(set(columns) ^ set(names))} do not match the contract"
        select = []
        for name in names:
            clean = columns[name]
            whens = [f"WHEN {dirty.code(kind)} THEN {by_column[name].replace('{b}', clean)}"
                     for kind, by_column in overrides.items() if name in by_column]
            expression = f"CASE dirty_kind {' '.join(whens)} ELSE {clean} END" if whens else clean
            select.append(f'({expression})::VARCHAR AS "{name}"')
        day_dir = self.out_dir / day.isoformat()
        day_dir.mkdir(parents=True, exist_ok=True)
        path = day_dir / f"{source}.csv"
        tmp = day_dir / f".{source}.csv.tmp"
        frame = expand(dirty, narrow(frame))
        rows = row_count(frame)
        # Every column reads as BIGINT, as the SQL was written for, whatever width narrow() chose.
        widened = ", ".join(f'"{name}"::BIGINT AS "{name}"' for name in frame)
        relation = f"(SELECT {widened} FROM generated)"
        for layer in derived:
            relation = f"(SELECT *, {', '.join(f'{sql} AS {name}' for name, sql in layer.items())} FROM {relation})"
        sql = (f"COPY (SELECT {', '.join(select)} FROM {relation}) TO {sql_string(str(tmp))} "
               "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n')")
        # The COPY runs on the writer thread (DuckDB releases the GIL) while the next file is drawn;
        # each file is written whole by one statement, so the output does not depend on timing.
        # The caller draws ahead while up to QUEUED_ROWS rows wait for the writer (bounding the memory the
        # queued frames hold), so the writer is not left idle while a large file is drawn.
        while self.pending and sum(queued for _, queued in self.pending) + rows > QUEUED_ROWS:
            self.pending.pop(0)[0].result()
        self.pending.append((self.thread.submit(self._copy, names, frame, sql, tmp, path, rows), rows))
        self.files.append(GeneratedFile(day, source, path, rows))

    def _copy(self, names: tuple[str, ...], frame: Columns, sql: str, tmp: Path, path: Path, rows: int) -> None:
        try:
            if rows == 0:
                tmp.write_text(",".join(names) + "\n", encoding="utf-8")
            else:
                cursor = self.con.cursor()
                try:
                    cursor.register("generated", frame)
                    cursor.execute(sql)
                finally:
                    cursor.close()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def finish(self, raise_errors: bool = True) -> None:
        """Wait for every file to be written (re-raising the first writer error) and release the engine."""
        try:
            while self.pending:
                future, _ = self.pending.pop(0)
                if raise_errors:
                    future.result()
                else:
                    future.exception()
        finally:
            self.thread.shutdown(wait=True)
            self.con.close()


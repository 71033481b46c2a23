"""Where the dashboard reads from: the local DuckDB warehouse or the deployed BigQuery datasets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import duckdb

from customer360.dashboard.queries import QUERIES, tables_read


class SourceError(Exception):
    """A problem reading a warehouse or BigQuery that the user can fix (missing file, table, credentials)."""


class Source(Protocol):
    label: str

    def fetch(self, query_name: str) -> list[dict[str, Any]]: ...


def open_warehouse(path: Path | str, required_tables: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    """Open a local warehouse read-only, in UTC, after checking it holds every required table."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"warehouse {path} does not exist: run `c360 run` or `c360 demo` first")
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise SourceError(f"cannot open warehouse {path}: {_first_line(error)}") from None
    connection.execute("set TimeZone = 'UTC'")
    present = {
        f"{schema}.{name}"
        for schema, name in connection.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    missing = [ref for ref in required_tables if ref not in present]
    if missing:
        connection.close()
        raise SourceError(
            f"warehouse {path} has no table {', '.join(missing)}: run the pipeline (`c360 run`) into it first"
        )
    return connection


class DuckDBSource:
    """The local warehouse file; its schemas are named as the logical datasets are."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.label = f"local warehouse {self.path.name}"
        self._connection = open_warehouse(self.path, tables_read())

    def fetch(self, query_name: str) -> list[dict[str, Any]]:
        cursor = self._connection.execute(QUERIES[query_name].for_duckdb())
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> DuckDBSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_PROJECT_ID = re.compile(r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,1000}$")


class BigQuerySource:
    """The deployed datasets `<prefix>_gold`, `<prefix>_ops` and `<prefix>_silver` of a project.

    `prefix` is the stack's naming prefix; as in the Pulumi program, its dashes become underscores.
    """

    def __init__(self, project: str, prefix: str, client: Any = None, location: str | None = None):
        if not _PROJECT_ID.match(project):
            raise SourceError(f"--project {project!r} is not a Google Cloud project id")
        if not _DATASET_PREFIX.match(prefix):
            raise SourceError(f"--prefix {prefix!r} may hold only letters, digits, dashes and underscores")
        self.project = project
        self.prefix = prefix.replace("-", "_")
        self.label = f"BigQuery {project} ({self.prefix}_* datasets)"
        self._client = client if client is not None else _client(project, location)

    def fetch(self, query_name: str) -> list[dict[str, Any]]:
        from google.api_core import exceptions as api_exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(labels={"component": "dashboard", "query": query_name})
        try:
            sql = QUERIES[query_name].for_bigquery(self.project, self.prefix)
            rows = self._client.query(sql, job_config=config).result()
        except api_exceptions.GoogleAPIError as error:
            raise SourceError(f"BigQuery query {query_name} failed: {_first_line(error)}") from None
        return [dict(row.items()) for row in rows]


def _client(project: str, location: str | None) -> Any:
    import google.auth.exceptions
    from google.cloud import bigquery

    try:
        return bigquery.Client(project=project, location=location)
    except google.auth.exceptions.DefaultCredentialsError:
        raise SourceError(
            "no Google Cloud credentials: run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__

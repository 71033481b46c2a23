"""Declared table migrations: the SQL that carries a table's rows across a breaking schema change, locally and in BigQuery.

A migration is one file `migrations/<id>.sql` in the repository:

    -- table: silver.stores
    -- reason: region becomes REQUIRED; a store delivered without one is in region 'Unknown'.
    select store_id, store_name, city, state, coalesce(region, 'Unknown') as region, opened_date, _delivery_date
    from silver.stores

The header names the table (a contract table outside raw) and says why; the rest is one BigQuery
SELECT over the table's current rows, by its logical name, that returns every column of the
contract's new schema, in order, by name. It runs before the schema change lands:

- locally, `apply_local(connection)` inside the run's transaction rewrites the warehouse table
  whenever its columns differ from the contract in a way ALTER TABLE cannot do;
- in BigQuery, `c360 migrate --stack S` (before `pulumi up --refresh`) rewrites the live table
  with one `CREATE OR REPLACE TABLE ... AS SELECT` (through a checked copy when the partition column
  changes, which CREATE OR REPLACE refuses), with the contract's partitioning and clustering and the
  live table's labels, description and encryption, so the refreshed state already has the new
  schema and Pulumi updates the table in place instead of replacing it delete-first.

Both skip a table whose columns (and, in BigQuery, partition column) already match the contract, so
a migration that has run is a no-op and can stay until every environment has run it; then delete the file. At most one
migration per table is outstanding at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from customer360 import contract

MIGRATIONS_DIR = contract.REPO_ROOT / "migrations"
_HEADER = re.compile(r"^--\s*(?P<key>[a-z_]+)\s*:\s*(?P<value>.*\S)\s*$")
_ID = re.compile(r"^[0-9]{4}_[a-z0-9_]+$")
# A BigQuery label value holds at most 63 characters (https://cloud.google.com/bigquery/docs/labels-intro#requirements).
MAX_ID_LENGTH = 63


class MigrationError(ValueError):
    """A migration file that is not valid, or a warehouse table that needs a migration nobody declared."""


@dataclass(frozen=True)
class Migration:
    id: str
    table: str  # logical ref, e.g. silver.stores
    reason: str
    select_sql: str
    path: Path

    @property
    def contract_table(self) -> contract.Table:
        return contract.table(self.table)

    def display_path(self) -> str:
        try:
            return str(self.path.relative_to(contract.REPO_ROOT))
        except ValueError:
            return str(self.path)


@dataclass(frozen=True)
class Applied:
    table: str
    action: str  # "added columns ...", "relaxed ...", "migration <id>"
    migration: str | None = None


def parse(path: Path) -> Migration:
    """One migration file, checked against the contract; MigrationError names the file and the problem."""
    import sqlglot
    from sqlglot import exp

    where = path.name
    if not _ID.match(path.stem):
        raise MigrationError(f"{where}: name a migration NNNN_words.sql (four digits, lowercase words)")
    if len(path.stem) > MAX_ID_LENGTH:
        raise MigrationError(f"{where}: name a migration in at most {MAX_ID_LENGTH} characters before .sql "
                             f"(a table restored from its copy is labelled with the name)")
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    body_lines = []
    in_header = True
    for line in text.splitlines():
        match = _HEADER.match(line) if in_header else None
        if match:
            header[match["key"]] = match["value"]
        elif in_header and not line.strip():
            continue
        else:
            in_header = False
            body_lines.append(line)
    for key in ("table", "reason"):
        if key not in header:
            raise MigrationError(f"{where}: the header has no `-- {key}: ...` line")
    ref = header["table"]
    if ref not in contract.TABLES_BY_REF:
        raise MigrationError(f"{where}: table {ref} is not in the contract")
    table = contract.table(ref)
    if table.dataset == "raw":
        raise MigrationError(f"{where}: raw tables are reloaded from the landing files, not migrated ({ref})")
    select_sql = "\n".join(body_lines).strip().rstrip(";").strip()
    try:
        statements = [s for s in sqlglot.parse(select_sql, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as error:
        raise MigrationError(f"{where}: the SQL does not parse as BigQuery: {str(error).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise MigrationError(f"{where}: the SQL must be one SELECT returning the table's new rows")
    names = list(statements[0].named_selects)
    if names != list(table.column_names):
        raise MigrationError(
            f"{where}: the SELECT returns {', '.join(names) or 'no named columns'}; {ref} needs "
            f"{', '.join(table.column_names)}, in that order"
        )
    return Migration(path.stem, ref, header["reason"], select_sql, path)


def declared(directory: Path = MIGRATIONS_DIR) -> dict[str, Migration]:
    """Every migration in the folder, by table; two outstanding for one table is an error."""
    by_table: dict[str, Migration] = {}
    if not directory.is_dir():
        return by_table
    for path in sorted(directory.glob("*.sql")):
        migration = parse(path)
        if migration.table in by_table:
            raise MigrationError(
                f"{path.name}: {migration.table} already has migration {by_table[migration.table].path.name}; "
                "retire it (every environment has run it) before declaring another"
            )
        by_table[migration.table] = migration
    return by_table


# ---------------------------------------------------------------------------
# Locally: the DuckDB warehouse
# ---------------------------------------------------------------------------

_DUCKDB_REPORTED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _duckdb_type(bigquery_type: str) -> str:
    from customer360.engine import DUCKDB_TYPES

    name = DUCKDB_TYPES[bigquery_type]
    return _DUCKDB_REPORTED.get(name, name).replace(" ", "").upper()


def _expected_columns(table: contract.Table) -> list[tuple[str, str, bool]]:
    columns = [(c.name, _duckdb_type(c.type), c.required) for c in table.columns]
    if table.dataset == "raw":
        columns.append((contract.RAW_PARTITION_COLUMN, "DATE", True))
    return columns


def _all_live_columns(connection) -> dict[str, list[tuple[str, str, bool]]]:
    """Every warehouse table's columns, read in one query."""
    rows = connection.execute(
        "select table_schema || '.' || table_name, column_name, data_type, is_nullable from information_schema.columns "
        "where table_catalog = current_database() and table_schema in ('raw', 'silver', 'gold', 'ops') "
        "order by table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[str, list[tuple[str, str, bool]]] = {}
    for ref, name, data_type, nullable in rows:
        found.setdefault(ref, []).append((name, data_type.replace(" ", "").upper(), nullable == "NO"))
    return found


def _live_columns(connection, table: contract.Table, every: dict | None = None) -> list[tuple[str, str, bool]]:
    every = _all_live_columns(connection) if every is None else every
    return every.get(table.ref, [])


def _column_ddl(column: contract.Column) -> str:
    from customer360.engine import DUCKDB_TYPES

    return f"{column.name} {DUCKDB_TYPES[column.type]}{' NOT NULL' if column.required else ''}"


def _describe(live: list[tuple[str, str, bool]], expected: list[tuple[str, str, bool]]) -> str:
    live_by_name = {name: (kind, required) for name, kind, required in live}
    expected_by_name = {name: (kind, required) for name, kind, required in expected}
    parts = []
    for name, (kind, required) in expected_by_name.items():
        if name not in live_by_name:
            parts.append(f"{name} is new{' and REQUIRED' if required else ''}")
        elif live_by_name[name][0] != kind:
            parts.append(f"{name} is {live_by_name[name][0]} in the warehouse, {kind} in the contract")
        elif live_by_name[name][1] != required:
            parts.append(f"{name} becomes {'REQUIRED' if required else 'NULLABLE'}")
    parts += [f"{name} is no longer in the contract" for name in live_by_name if name not in expected_by_name]
    return "; ".join(parts) or "the column order differs"


def _lossless(
    live: list[tuple[str, str, bool]], expected: list[tuple[str, str, bool]], table: contract.Table
) -> tuple[list[str], list[contract.Column], bool] | None:
    """(columns to relax, columns to add, whether ALTER TABLE alone keeps the contract's order), or None.

    Lossless: every warehouse column is still in the contract with the same type, REQUIRED or
    relaxed to NULLABLE, and every new column is NULLABLE. ALTER TABLE is enough when the new
    columns come last (ADD COLUMN appends); otherwise the table is rebuilt in the contract's
    order. The raw tables' partition column is set aside: new source columns go after it.
    """
    if table.dataset == "raw":
        live = [c for c in live if c[0] != contract.RAW_PARTITION_COLUMN]
        expected = [c for c in expected if c[0] != contract.RAW_PARTITION_COLUMN]
    wanted = {name: (kind, required) for name, kind, required in expected}
    relaxed = []
    for name, live_kind, live_required in live:
        if name not in wanted:
            return None
        kind, required = wanted[name]
        if kind != live_kind or (required and not live_required):
            return None
        if live_required and not required:
            relaxed.append(name)
    live_names = [name for name, _, _ in live]
    additions = [table.column(name) for name, _, _ in expected if name not in live_names]
    if any(column.required for column in additions):
        return None
    appended = [name for name, _, _ in expected][: len(live_names)] == live_names
    return relaxed, additions, appended


def _rebuild(connection, table: contract.Table, select: str) -> None:
    """Replaces the table by the rows of SELECT (the contract's columns, in order), in the caller's transaction."""
    staged = f"{table.name}__migrating"
    connection.execute(f"CREATE TEMP TABLE {staged} AS {select}")
    connection.execute(f"DROP TABLE {table.ref}")
    connection.execute(f"CREATE TABLE {table.ref} ({', '.join(_column_ddl(c) for c in table.columns)})")
    connection.execute(f"INSERT INTO {table.ref} SELECT * FROM {staged}")
    connection.execute(f"DROP TABLE {staged}")


def apply_local(connection, migrations: dict[str, Migration] | None = None) -> list[Applied]:
    """Brings every existing warehouse table to the contract's columns; call it inside the run's transaction.

    Lossless changes need nothing declared: new NULLABLE columns and REQUIRED columns relaxed to
    NULLABLE (ALTER TABLE when the new columns come last, else the table is rebuilt in the
    contract's column order). Any other difference needs the table's declared migration, whose
    SELECT rewrites the table. A table the warehouse does not have yet is left to the engine to
    create. Raises MigrationError naming the table and the difference when nothing is declared.
    """
    from customer360 import dialect

    migrations = declared() if migrations is None else migrations
    applied: list[Applied] = []
    every = _all_live_columns(connection)
    for table in contract.ALL_TABLES:
        live = _live_columns(connection, table, every)
        expected = _expected_columns(table)
        if not live or live == expected:
            continue
        lossless = _lossless(live, expected, table)
        if lossless is not None:
            relaxed, additions, appended = lossless
            if appended and not relaxed and not additions:
                continue  # a raw table whose new source columns went after its partition column
            done = [f"added {', '.join(c.name for c in additions)}"] if additions else []
            done += [f"relaxed {', '.join(relaxed)} to NULLABLE"] if relaxed else []
            if appended:
                for name in relaxed:
                    connection.execute(f"ALTER TABLE {table.ref} ALTER COLUMN {name} DROP NOT NULL")
                for column in additions:
                    connection.execute(f"ALTER TABLE {table.ref} ADD COLUMN {_column_ddl(column)}")
            elif table.dataset == "raw":
                raise MigrationError(
                    f"warehouse table {table.ref} does not match the contract ({_describe(live, expected)}): "
                    "reload the raw partitions from their delivery folders into a new warehouse"
                )
            else:
                from customer360.engine import DUCKDB_TYPES

                kept = {c.name for c in table.columns} - {c.name for c in additions}
                projection = ", ".join(
                    c.name if c.name in kept else f"CAST(NULL AS {DUCKDB_TYPES[c.type]}) AS {c.name}" for c in table.columns
                )
                _rebuild(connection, table, f"SELECT {projection} FROM {table.ref}")
                done.append("in the contract's column order")
            applied.append(Applied(table.ref, "; ".join(done) or "reordered to the contract's column order"))
            continue
        migration = migrations.get(table.ref)
        if migration is None:
            raise MigrationError(
                f"warehouse table {table.ref} does not match the contract ({_describe(live, expected)}) and "
                f"no migration is declared for it: add migrations/NNNN_<words>.sql (README, \"Changing a table's schema\")"
            )
        _rebuild(connection, table, dialect.transpile_one(migration.select_sql))
        applied.append(Applied(table.ref, f"migration {migration.id}", migration.id))
    return applied


# ---------------------------------------------------------------------------
# In BigQuery: run before `pulumi up --refresh`
# ---------------------------------------------------------------------------


def _string_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _live_options(live, extra_labels: dict[str, str] | None = None) -> list[str]:
    options = []
    if getattr(live, "description", None):
        options.append(f"description = {_string_literal(live.description)}")
    labels = {**(getattr(live, "labels", None) or {}), **(extra_labels or {})}
    if labels:
        pairs = ", ".join(f"({_string_literal(k)}, {_string_literal(v)})" for k, v in sorted(labels.items()))
        options.append(f"labels = [{pairs}]")
    encryption = getattr(live, "encryption_configuration", None)
    if encryption is not None and getattr(encryption, "kms_key_name", None):
        options.append(f"kms_key_name = {_string_literal(encryption.kms_key_name)}")
    return options


COPY_SUFFIX = "__c360_migration"
# The label a table restored from its migration copy carries (value: the migration's id). It is set by the
# restoring CREATE TABLE itself, so a table that has it holds every row of the copy: the copy may go, however
# much the pipeline wrote since. A table without it was created some other way (`pulumi up` after a stop).
RESTORED_LABEL = "c360_migration"


def _table_ddl(verb: str, target: str, table: contract.Table, live, extra_labels: dict[str, str] | None = None) -> list[str]:
    """The head of a CREATE statement giving TARGET the contract's columns, partitioning and clustering,
    and the live table's labels (with EXTRA_LABELS), description and KMS key."""
    columns = ",\n".join(
        f"  {c.name} {c.type}{' NOT NULL' if c.required else ''} options(description = {_string_literal(c.description)})"
        for c in table.columns
    )
    lines = [f"{verb} {target} (\n{columns}\n)"]
    if table.partition_by:
        field = table.partition_by
        kind = table.column(field).type
        lines.append(f"partition by {field if kind == 'DATE' else f'timestamp_trunc({field}, day)'}")
    if table.cluster_by:
        lines.append(f"cluster by {', '.join(table.cluster_by)}")
    options = _live_options(live, extra_labels)
    if options:
        lines.append("options (\n  " + ",\n  ".join(options) + "\n)")
    return lines


def _table_id(migration: Migration, dataset_names: dict[str, str], project: str, suffix: str = "") -> str:
    table = migration.contract_table
    return f"{project}.{dataset_names[table.dataset]}.{table.name}{suffix}"


def cloud_statement(migration: Migration, live, dataset_names: dict[str, str], project: str) -> str:
    """One `CREATE OR REPLACE TABLE ... AS SELECT` that rewrites the live table with the contract's columns.

    BigQuery runs it as one atomic job: the table is replaced only when the SELECT succeeds
    (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language#create_table_statement).
    It cannot change a table's partitioning ("Cannot replace a table with a different partitioning spec"):
    `repartition_statements` does that. Labels, description and the KMS key are the live table's.
    """
    from customer360 import sqlgen

    target = f"`{_table_id(migration, dataset_names, project)}`"
    lines = _table_ddl("create or replace table", target, migration.contract_table, live)
    lines.append("as\n" + sqlgen.qualify(migration.select_sql, dataset_names, project))
    return "\n".join(lines)


def repartition_statements(migration: Migration, live, dataset_names: dict[str, str], project: str) -> list[str]:
    """The jobs that move a live table to the contract's partitioning, each safe to run again.

    BigQuery refuses CREATE OR REPLACE across partitioning specs, so the rows go through a copy with the
    new spec: (1) the migration's SELECT into `<table>__c360_migration`; (2) a check that the copy holds
    every row; (3) DROP of the table; (4) the table created again from the copy; (5) DROP of the copy.
    Stopped after (3), the next `c360 migrate` finds the copy and resumes at (4); stopped after (4), it finds
    the table labelled as restored from the copy (RESTORED_LABEL) and drops the copy.
    """
    from customer360 import sqlgen

    target = f"`{_table_id(migration, dataset_names, project)}`"
    copy = f"`{_table_id(migration, dataset_names, project, COPY_SUFFIX)}`"
    copied = _table_ddl("create or replace table", copy, migration.contract_table, live)
    copied.append("as\n" + sqlgen.qualify(migration.select_sql, dataset_names, project))
    return [
        "\n".join(copied),
        _copy_check(target, copy),
        f"drop table {target}",
        *restore_statements(migration, live, dataset_names, project),
    ]


def _copy_check(target: str, copy: str) -> str:
    return (f"assert (select count(*) from {copy}) = (select count(*) from {target})\n"
            f"as 'the migration copy {copy.strip('`')} does not hold every row of {target.strip('`')}: nothing was dropped'")


def restore_statements(migration: Migration, live, dataset_names: dict[str, str], project: str) -> list[str]:
    """Steps (4) and (5) of repartition_statements: the table from its migration copy, labelled as restored
    from it, then the copy dropped."""
    target = f"`{_table_id(migration, dataset_names, project)}`"
    copy = f"`{_table_id(migration, dataset_names, project, COPY_SUFFIX)}`"
    restored = _table_ddl("create table", target, migration.contract_table, live, {RESTORED_LABEL: migration.id})
    columns = ", ".join(migration.contract_table.column_names)
    restored.append(f"as\nselect {columns}\nfrom {copy}")
    return ["\n".join(restored), f"drop table {copy}"]


def _partition_field(live) -> str | None:
    partitioning = getattr(live, "time_partitioning", None)
    return getattr(partitioning, "field", None) if partitioning is not None else None


def _live_matches(live, table: contract.Table) -> bool:
    from customer360.provider_rules import types_equal

    fields = list(getattr(live, "schema", []) or [])
    if [f.name for f in fields] != list(table.column_names):
        return False
    if _partition_field(live) != table.partition_by:
        return False
    for field, column in zip(fields, table.columns):
        mode = (field.mode or "NULLABLE").upper()
        if not types_equal(field.field_type, column.type) or (mode == "REQUIRED") != column.required:
            return False
    return True


def apply_cloud(
    client,
    project: str,
    dataset_names: dict[str, str],
    migrations: dict[str, Migration] | None = None,
    echo: Callable[[str], None] = print,
) -> list[Applied]:
    """Runs each declared migration whose live table does not match the contract yet; waits for each job.

    `client` is a google.cloud.bigquery.Client (or anything with get_table and query). A table that
    does not exist yet is skipped: `pulumi up` creates it with the new schema.
    """
    from google.api_core import exceptions

    migrations = declared() if migrations is None else migrations
    applied: list[Applied] = []

    def run(sql: str, migration: Migration) -> None:
        client.query(sql, job_id_prefix=f"c360_migration_{migration.id}_").result()

    def table_or_none(table_id: str):
        try:
            return client.get_table(table_id)
        except exceptions.NotFound:
            return None

    for ref, migration in sorted(migrations.items()):
        table = migration.contract_table
        table_id = _table_id(migration, dataset_names, project)
        copy_id = _table_id(migration, dataset_names, project, COPY_SUFFIX)
        live, copy = table_or_none(table_id), table_or_none(copy_id)
        if copy is not None:
            # An earlier `c360 migrate` stopped between its jobs: the copy holds the rows.
            if live is None:
                echo(f"{ref}: resuming migration {migration.id}: {table_id} from its copy {copy_id}")
                for sql in restore_statements(migration, copy, dataset_names, project):
                    run(sql, migration)
                applied.append(Applied(ref, f"migration {migration.id}", migration.id))
                continue
            if _live_matches(live, table):
                if (getattr(live, "labels", None) or {}).get(RESTORED_LABEL) != migration.id:
                    raise MigrationError(
                        f"{ref}: {table_id} has the contract's schema but was not restored from {copy_id}, which "
                        f"holds the table's rows from before migration {migration.id} (was it created again by "
                        f"`pulumi up` after a stopped c360 migrate?); nothing was dropped: insert the copy's rows "
                        f"into the table, then drop {copy_id}"
                    )
                # Restored from the copy (step 4 sets the label): whole, whatever the pipeline wrote since.
                echo(f"{ref}: finishing migration {migration.id}: dropping its copy {copy_id}")
                run(f"drop table `{copy_id}`", migration)
                continue
        if live is None:
            echo(f"{ref}: {table_id} does not exist yet; migration {migration.id} not needed")
            continue
        if _live_matches(live, table):
            echo(f"{ref}: already has the contract's columns; migration {migration.id} already ran")
            continue
        echo(f"{ref}: running migration {migration.id} ({migration.reason})")
        if _partition_field(live) != table.partition_by:
            for sql in repartition_statements(migration, live, dataset_names, project):
                run(sql, migration)
        else:
            run(cloud_statement(migration, live, dataset_names, project), migration)
        applied.append(Applied(ref, f"migration {migration.id}", migration.id))
    return applied

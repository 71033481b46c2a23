"""Declared migrations: parsed and checked against the contract, applied to a DuckDB warehouse and to BigQuery (fake client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from google.api_core import exceptions

from customer360 import contract, migrations

AGENTS = contract.table("gold.agent_performance_summary")
AGENT_COLUMNS = ", ".join(AGENTS.column_names)
NAMES = {layer: f"c360_test_{layer}" for layer in contract.DATASETS}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def agents_migration(folder: Path, select: str | None = None) -> migrations.Migration:
    select = select or (
        "select agent_id, agent_name, team, tickets_assigned, tickets_resolved, open_tickets, resolution_rate, "
        "avg_resolution_hours, safe_cast(avg_csat as float64) as avg_csat from gold.agent_performance_summary"
    )
    return migrations.parse(write(folder, "0001_gold_agents_csat_as_float.sql",
                                  f"-- table: gold.agent_performance_summary\n-- reason: avg_csat was text.\n{select}\n"))


# ---------------------------------------------------------------------------
# Declaring
# ---------------------------------------------------------------------------


def test_a_migration_names_its_table_reason_and_select(tmp_path):
    migration = agents_migration(tmp_path)
    assert (migration.id, migration.table, migration.reason) == (
        "0001_gold_agents_csat_as_float", "gold.agent_performance_summary", "avg_csat was text."
    )
    assert migration.select_sql.startswith("select agent_id")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("fix.sql", "-- table: gold.customer_360\n-- reason: x\nselect 1", "name a migration NNNN_words.sql"),
        ("0001_" + "a" * 59 + ".sql", "-- table: gold.customer_360\n-- reason: x\nselect 1", "in at most 63 characters"),
        ("0001_a.sql", "-- reason: x\nselect 1", "has no `-- table: ...` line"),
        ("0001_a.sql", "-- table: gold.nope\n-- reason: x\nselect 1", "table gold.nope is not in the contract"),
        ("0001_a.sql", "-- table: raw.customers\n-- reason: x\nselect 1", "raw tables are reloaded"),
        ("0001_a.sql", "-- table: gold.agent_performance_summary\n-- reason: x\ndelete from x where true",
         "must be one SELECT"),
        ("0001_a.sql", "-- table: gold.agent_performance_summary\n-- reason: x\nselect agent_id from t",
         "the SELECT returns agent_id; gold.agent_performance_summary needs agent_id, agent_name"),
    ],
)
def test_a_bad_migration_file_is_a_clear_error(tmp_path, name, text, message):
    with pytest.raises(migrations.MigrationError, match="^" + name.replace(".", r"\.")) as raised:
        migrations.parse(write(tmp_path, name, text))
    assert message in str(raised.value), raised.value


def test_one_outstanding_migration_per_table(tmp_path):
    agents_migration(tmp_path)
    write(tmp_path, "0002_again.sql", f"-- table: gold.agent_performance_summary\n-- reason: again\nselect {AGENT_COLUMNS} from t")
    with pytest.raises(migrations.MigrationError, match="already has migration 0001_gold_agents_csat_as_float.sql"):
        migrations.declared(tmp_path)


def test_the_repository_declares_only_valid_migrations():
    declared = migrations.declared()
    for ref, migration in declared.items():
        assert migration.table == ref and migration.path.parent == migrations.MIGRATIONS_DIR


# ---------------------------------------------------------------------------
# Locally: a DuckDB warehouse that predates the contract
# ---------------------------------------------------------------------------


def warehouse_with(table_sql: str, rows: str | None = None) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA gold")
    connection.execute(table_sql)
    if rows:
        connection.execute(f"INSERT INTO gold.agent_performance_summary VALUES {rows}")
    return connection


def columns(connection) -> list[tuple[str, str, str]]:
    return connection.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = 'gold' and table_name = 'agent_performance_summary' order by ordinal_position"
    ).fetchall()


OLD_AGENTS = (
    "CREATE TABLE gold.agent_performance_summary (agent_id VARCHAR NOT NULL, agent_name VARCHAR NOT NULL, "
    "team VARCHAR, tickets_assigned BIGINT NOT NULL, tickets_resolved BIGINT NOT NULL, open_tickets BIGINT NOT NULL, "
    "resolution_rate DOUBLE, avg_resolution_hours DOUBLE{last})"
)


def test_a_new_nullable_column_is_added_in_place():
    connection = warehouse_with(OLD_AGENTS.format(last=""), "('A1', 'Ann', 'T', 3, 2, 1, 0.66, 4.5)")
    (applied,) = migrations.apply_local(connection, {})
    assert (applied.table, applied.action) == ("gold.agent_performance_summary", "added avg_csat")
    assert columns(connection)[-1] == ("avg_csat", "DOUBLE", "YES")
    assert connection.execute("select agent_id, avg_csat from gold.agent_performance_summary").fetchall() == [("A1", None)]


def test_a_nullable_column_added_between_others_rebuilds_the_table_in_contract_order():
    old = OLD_AGENTS.format(last=", avg_csat DOUBLE").replace("team VARCHAR, ", "")
    connection = warehouse_with(old)
    connection.execute("INSERT INTO gold.agent_performance_summary VALUES ('A1', 'Ann', 3, 2, 1, 0.66, 4.5, 4.0)")
    (applied,) = migrations.apply_local(connection, {})
    assert applied.action == "added team; in the contract's column order", applied
    assert [name for name, _, _ in columns(connection)] == list(AGENTS.column_names)
    assert connection.execute("select agent_id, team, avg_csat from gold.agent_performance_summary").fetchall() == [
        ("A1", None, 4.0)
    ]
    assert migrations.apply_local(connection, {}) == [], "a second run changes nothing"


def test_a_new_source_column_is_added_to_its_raw_table():
    source = contract.SOURCES_BY_NAME["stores"]
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA raw")
    old_columns = ", ".join(f"{name} VARCHAR" for name in source.column_names[:-1])
    connection.execute(f'CREATE TABLE raw.stores ({old_columns}, "_PARTITIONDATE" DATE NOT NULL)')
    (applied,) = migrations.apply_local(connection, {})
    assert (applied.table, applied.action) == ("raw.stores", f"added {source.column_names[-1]}")
    assert migrations.apply_local(connection, {}) == [], "a second run changes nothing"


def test_a_required_column_relaxed_to_nullable_is_altered_in_place():
    connection = warehouse_with(OLD_AGENTS.format(last=", avg_csat DOUBLE").replace("team VARCHAR", "team VARCHAR NOT NULL"))
    (applied,) = migrations.apply_local(connection, {})
    assert applied.action == "relaxed team to NULLABLE"
    assert ("team", "VARCHAR", "YES") in columns(connection)


def test_a_type_change_without_a_migration_is_refused_with_the_difference():
    connection = warehouse_with(OLD_AGENTS.format(last=", avg_csat VARCHAR"))
    with pytest.raises(migrations.MigrationError) as raised:
        migrations.apply_local(connection, {})
    message = str(raised.value)
    assert "warehouse table gold.agent_performance_summary does not match the contract" in message, message
    assert "avg_csat is VARCHAR in the warehouse, DOUBLE in the contract" in message, message
    assert "no migration is declared" in message, message


def test_a_declared_migration_rewrites_the_table_keeping_every_row(tmp_path):
    connection = warehouse_with(
        OLD_AGENTS.format(last=", avg_csat VARCHAR"),
        "('A1', 'Ann', 'T', 3, 2, 1, 0.66, 4.5, '4.5'), ('A2', 'Bob', NULL, 0, 0, 0, NULL, NULL, 'n/a')",
    )
    migration = agents_migration(tmp_path)
    connection.execute("BEGIN TRANSACTION")
    (applied,) = migrations.apply_local(connection, {migration.table: migration})
    connection.execute("COMMIT")
    assert applied.migration == migration.id
    assert columns(connection)[-1] == ("avg_csat", "DOUBLE", "YES")
    assert ("agent_id", "VARCHAR", "NO") in columns(connection), "REQUIRED columns stay NOT NULL"
    rows = connection.execute("select agent_id, avg_csat from gold.agent_performance_summary order by 1").fetchall()
    assert rows == [("A1", 4.5), ("A2", None)]
    assert migrations.apply_local(connection, {migration.table: migration}) == [], "a second run changes nothing"


def test_a_failing_migration_leaves_the_table_as_it_was(tmp_path):
    connection = warehouse_with(OLD_AGENTS.format(last=", avg_csat VARCHAR"), "('A1', 'Ann', 'T', 3, 2, 1, 0.5, 1.0, 'x')")
    migration = agents_migration(tmp_path, select=(
        "select agent_id, agent_name, team, tickets_assigned, tickets_resolved, open_tickets, resolution_rate, "
        "avg_resolution_hours, cast(avg_csat as float64) as avg_csat from gold.agent_performance_summary"
    ))
    connection.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.Error):
        migrations.apply_local(connection, {migration.table: migration})
    connection.execute("ROLLBACK")
    assert columns(connection)[-1] == ("avg_csat", "VARCHAR", "YES")
    assert connection.execute("select count(*) from gold.agent_performance_summary").fetchone() == (1,)


def test_a_warehouse_built_from_the_contract_needs_nothing():
    from customer360 import engine

    connection = duckdb.connect()
    engine.ensure_schema(connection)
    assert migrations.apply_local(connection, {}) == []


# ---------------------------------------------------------------------------
# In BigQuery: a fake client at the google-cloud-bigquery boundary
# ---------------------------------------------------------------------------


@dataclass
class FakeField:
    name: str
    field_type: str
    mode: str = "NULLABLE"


@dataclass
class FakePartitioning:
    field: str | None


@dataclass
class FakeEncryption:
    kms_key_name: str


@dataclass
class FakeTable:
    schema: list
    time_partitioning: FakePartitioning | None = None
    clustering_fields: list | None = None
    labels: dict = field(default_factory=dict)
    description: str | None = None
    encryption_configuration: FakeEncryption | None = None


class FakeJob:
    def __init__(self, client):
        self.client = client

    def result(self):
        self.client.finished += 1
        return []


class FakeClient:
    def __init__(self, tables: dict[str, FakeTable]):
        self.tables, self.queries, self.finished = tables, [], 0

    def get_table(self, table_id: str):
        if table_id not in self.tables:
            raise exceptions.NotFound(f"Not found: Table {table_id}")
        return self.tables[table_id]

    def query(self, sql: str, job_id_prefix: str | None = None):
        self.queries.append((sql, job_id_prefix))
        return FakeJob(self)


def contract_fields(table: contract.Table, **changes: str) -> list[FakeField]:
    legacy = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
    return [
        FakeField(c.name, changes.get(c.name, legacy.get(c.type, c.type)), "REQUIRED" if c.required else "NULLABLE")
        for c in table.columns
    ]


TABLE_ID = "acme-c360.c360_test_gold.agent_performance_summary"


def test_the_cloud_migration_rewrites_a_table_that_differs_and_waits_for_the_job(tmp_path):
    live = FakeTable(
        contract_fields(AGENTS, avg_csat="STRING"),
        labels={"app": "customer360", "layer": "gold"},
        description="One row per agent_id.",
        encryption_configuration=FakeEncryption("projects/k/locations/europe/keyRings/r/cryptoKeys/k"),
    )
    client = FakeClient({TABLE_ID: live})
    migration = agents_migration(tmp_path)
    said: list[str] = []
    (applied,) = migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=said.append)
    assert applied.migration == migration.id and client.finished == 1, "the job must be waited for"
    ((sql, prefix),) = client.queries
    assert prefix == f"c360_migration_{migration.id}_"
    assert sql.startswith(f"create or replace table `{TABLE_ID}` (\n  agent_id STRING NOT NULL options(description = "), sql
    assert "  avg_csat FLOAT64 options(description = " in sql, sql
    assert 'labels = [("app", "customer360"), ("layer", "gold")]' in sql, sql
    assert 'kms_key_name = "projects/k/locations/europe/keyRings/r/cryptoKeys/k"' in sql, sql
    assert "FROM `acme-c360`.c360_test_gold.agent_performance_summary" in sql.split("\nas\n", 1)[1], sql
    assert said == [f"gold.agent_performance_summary: running migration {migration.id} (avg_csat was text.)"]


LINES = contract.table("silver.online_order_lines")
LINES_ID = "acme-c360.c360_test_silver.online_order_lines"
LINES_COPY_ID = LINES_ID + migrations.COPY_SUFFIX


def lines_migration(tmp_path):
    select = f"select {', '.join(LINES.column_names)} from silver.online_order_lines"
    return migrations.parse(write(tmp_path, "0001_lines_by_day.sql", f"-- table: {LINES.ref}\n-- reason: r\n{select}"))


def test_a_new_partition_column_goes_through_a_checked_copy_with_the_contracts_partitioning(tmp_path):
    # BigQuery refuses CREATE OR REPLACE across partitioning specs, so the rows go through a copy.
    migration = lines_migration(tmp_path)
    live = FakeTable(contract_fields(LINES), FakePartitioning("order_ts"), ["customer_id", "product_id"],
                     labels={"layer": "silver"})
    client = FakeClient({LINES_ID: live})
    (applied,) = migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None)
    sqls = [sql for sql, _ in client.queries]
    assert applied.migration == migration.id and client.finished == len(sqls) == 5, sqls
    spec = f"\npartition by {LINES.partition_by}\ncluster by {', '.join(LINES.cluster_by)}\n"
    copy, check, drop, restore, drop_copy = sqls
    assert copy.startswith(f"create or replace table `{LINES_COPY_ID}` (") and spec in copy, copy
    assert "FROM `acme-c360`.c360_test_silver.online_order_lines" in copy.split("\nas\n", 1)[1], copy
    assert check.startswith(f"assert (select count(*) from `{LINES_COPY_ID}`) = (select count(*) from `{LINES_ID}`)"), check
    assert drop == f"drop table `{LINES_ID}`", drop
    # The live table's labels, and the mark of a table restored from its copy.
    labels = f'labels = [("{migrations.RESTORED_LABEL}", "{migration.id}"), ("layer", "silver")]'
    assert restore.startswith(f"create table `{LINES_ID}` (") and spec in restore and labels in restore, restore
    assert restore.endswith(f"from `{LINES_COPY_ID}`"), restore
    assert drop_copy == f"drop table `{LINES_COPY_ID}`", drop_copy


def test_a_migration_stopped_after_the_drop_resumes_from_its_copy(tmp_path):
    migration = lines_migration(tmp_path)
    copy = FakeTable(contract_fields(LINES), FakePartitioning(LINES.partition_by), list(LINES.cluster_by))
    client = FakeClient({LINES_COPY_ID: copy})
    said: list[str] = []
    (applied,) = migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=said.append)
    sqls = [sql for sql, _ in client.queries]
    assert len(sqls) == 2 and sqls[0].startswith(f"create table `{LINES_ID}` (") and sqls[1] == f"drop table `{LINES_COPY_ID}`", sqls
    assert "resuming" in said[0], said


def test_a_migration_stopped_before_dropping_its_copy_drops_it(tmp_path):
    migration = lines_migration(tmp_path)
    moved = FakeTable(contract_fields(LINES), FakePartitioning(LINES.partition_by),
                      labels={migrations.RESTORED_LABEL: migration.id})
    client = FakeClient({LINES_ID: moved, LINES_COPY_ID: moved})
    assert migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None) == []
    sqls = [sql for sql, _ in client.queries]
    assert sqls == [f"drop table `{LINES_COPY_ID}`"], sqls


@dataclass
class HeldTable(FakeTable):
    rows: list = field(default_factory=list)


class Stopped(Exception):
    """c360 migrate killed before a job (the deploy workflow cancelled, the runner gone)."""


class RowsClient(FakeClient):
    """A fake BigQuery client that runs the jobs of a repartitioning migration on rows held in Python:
    CREATE [OR REPLACE] TABLE ... AS SELECT from one table, the copy's ASSERT on row counts, DROP TABLE."""

    def __init__(self, tables: dict[str, HeldTable]):
        super().__init__(tables)
        self.stop_before: str | None = None  # the job (its first line) before which c360 migrate is killed

    def query(self, sql: str, job_id_prefix: str | None = None):
        import re

        if self.stop_before is not None and sql.splitlines()[0].startswith(self.stop_before):
            raise Stopped(sql.splitlines()[0])
        super().query(sql, job_id_prefix)
        head = sql.splitlines()[0]
        ids = [name.replace("`", "") for name in re.findall(r"`[^`]+`(?:\.\w+\.\w+)?", sql)]
        if head.startswith(("create or replace table", "create table")):
            target, origin = ids[0], ids[-1]
            if head.startswith("create table") and target in self.tables:
                raise exceptions.Conflict(f"Already Exists: Table {target}")
            partition = re.search(r"^partition by (\w+)$", sql, flags=re.MULTILINE)
            labels = dict(re.findall(r'\("([^"]*)", "([^"]*)"\)', sql.split("\nas\n")[0]))
            self.tables[target] = HeldTable(contract_fields(LINES), FakePartitioning(partition and partition[1]),
                                            list(LINES.cluster_by), labels, rows=list(self.get_table(origin).rows))
        elif head.startswith("assert"):
            copy, target = ids
            if len(self.get_table(copy).rows) != len(self.get_table(target).rows):
                raise exceptions.BadRequest(re.search(r"\bas '(.*)'$", sql)[1])
        elif head.startswith("drop table"):
            self.get_table(ids[0])
            del self.tables[ids[0]]
        return FakeJob(self)


def _order_rows(*orders: str) -> list[dict]:
    return [{"order_id": order, "line_number": 1} for order in orders]


def _stopped_before(client: RowsClient, job: str, migration) -> None:
    client.stop_before = job
    with pytest.raises(Stopped):
        migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None)
    client.stop_before = None


def test_a_migration_stopped_before_dropping_its_copy_finishes_after_the_pipeline_wrote_to_the_table(tmp_path):
    """Stopped between restoring the table and dropping the copy, the table is whole; the daily pipeline goes on
    writing to it, and the next deploy's c360 migrate must still drop the copy instead of failing every deploy."""
    migration = lines_migration(tmp_path)
    live = HeldTable(contract_fields(LINES), FakePartitioning("order_ts"), ["customer_id"], {"layer": "silver"},
                     rows=_order_rows("O-1", "O-2"))
    client = RowsClient({LINES_ID: live})
    _stopped_before(client, f"drop table `{LINES_COPY_ID}`", migration)
    restored = client.get_table(LINES_ID)
    assert restored.time_partitioning.field == LINES.partition_by and len(restored.rows) == 2, restored
    restored.rows += _order_rows("O-3")  # the next daily run, on the restored table
    try:
        migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None)
    except Exception as error:
        raise AssertionError(
            f"{LINES_ID}: the next c360 migrate refuses to finish migration {migration.id} although the table was "
            f"restored from {LINES_COPY_ID} and only the pipeline wrote to it since: {error}") from None
    assert LINES_COPY_ID not in client.tables, f"{LINES_COPY_ID} is still there after the migration finished"
    assert [r["order_id"] for r in client.get_table(LINES_ID).rows] == ["O-1", "O-2", "O-3"], client.get_table(LINES_ID)


def test_a_table_created_again_empty_after_a_stopped_migration_keeps_its_copy(tmp_path):
    """Stopped after the table was dropped, then `pulumi up` run by hand creates it again, empty: the copy holds
    the rows and must not be dropped."""
    migration = lines_migration(tmp_path)
    live = HeldTable(contract_fields(LINES), FakePartitioning("order_ts"), ["customer_id"], rows=_order_rows("O-1"))
    client = RowsClient({LINES_ID: live})
    _stopped_before(client, f"create table `{LINES_ID}`", migration)
    client.tables[LINES_ID] = HeldTable(contract_fields(LINES), FakePartitioning(LINES.partition_by),
                                        list(LINES.cluster_by), {"layer": "silver"})
    with pytest.raises(Exception) as refused:
        migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None)
    assert LINES_COPY_ID in refused.exconly() and LINES_ID in refused.exconly(), refused.exconly()
    assert [r["order_id"] for r in client.get_table(LINES_COPY_ID).rows] == ["O-1"], (
        f"{LINES_COPY_ID}, the only holder of the table's rows, was dropped")


def test_a_table_already_on_the_contracts_partitioning_is_not_migrated_again(tmp_path):
    migration = lines_migration(tmp_path)
    moved = FakeClient({LINES_ID: FakeTable(contract_fields(LINES), FakePartitioning(LINES.partition_by))})
    assert migrations.apply_cloud(moved, "acme-c360", NAMES, {migration.table: migration}, echo=lambda _: None) == []
    assert moved.queries == [], f"{LINES_ID} already partitioned by {LINES.partition_by} was migrated again"


def test_the_cloud_migration_skips_a_table_that_already_matches_or_does_not_exist(tmp_path):
    migration = agents_migration(tmp_path)
    said: list[str] = []
    client = FakeClient({TABLE_ID: FakeTable(contract_fields(AGENTS))})
    assert migrations.apply_cloud(client, "acme-c360", NAMES, {migration.table: migration}, echo=said.append) == []
    assert client.queries == [] and "already ran" in said[0], said
    empty = FakeClient({})
    assert migrations.apply_cloud(empty, "acme-c360", NAMES, {migration.table: migration}, echo=said.append) == []
    assert empty.queries == [] and "does not exist yet" in said[1], said



def test_c360_migrate_runs_the_declared_migrations_against_the_stacks_project(tmp_path, monkeypatch):
    from google.cloud import bigquery
    from typer.testing import CliRunner

    from customer360.cli import app

    migration = agents_migration(tmp_path)
    client = FakeClient({"acme-customer360-dev.c360_dev_gold.agent_performance_summary": FakeTable(
        contract_fields(AGENTS, avg_csat="STRING"))})
    created = {}

    def fake_client(project, location):
        created.update(project=project, location=location)
        return client

    monkeypatch.setattr(bigquery, "Client", fake_client)
    monkeypatch.setattr(migrations, "declared", lambda: {migration.table: migration})
    result = CliRunner().invoke(app, ["migrate", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert created == {"project": "acme-customer360-dev", "location": "EU"}
    assert len(client.queries) == 1 and "1 of 1 migrations ran" in result.output, result.output


def test_c360_migrate_refusing_to_drop_a_copy_is_one_line(tmp_path, monkeypatch):
    from google.cloud import bigquery
    from typer.testing import CliRunner

    from customer360.cli import app

    migration = lines_migration(tmp_path)
    live_id = "acme-customer360-dev.c360_dev_silver.online_order_lines"
    copy_id = live_id + migrations.COPY_SUFFIX
    recreated = FakeTable(contract_fields(LINES), FakePartitioning(LINES.partition_by))  # not restored from the copy
    client = FakeClient({live_id: recreated, copy_id: recreated})
    monkeypatch.setattr(bigquery, "Client", lambda project, location: client)
    monkeypatch.setattr(migrations, "declared", lambda: {migration.table: migration})
    result = CliRunner().invoke(app, ["migrate", "--stack", "dev"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 3 and len(errors) == 1 and copy_id in errors[0], result.output
    assert client.queries == [], f"{copy_id} must be left alone: {client.queries}"


@pytest.mark.parametrize("ref", sorted(migrations.declared()))
def test_every_declared_migrations_cloud_jobs_parse_as_googlesql(ref):
    from customer360.zeta import syntax

    migration = migrations.declared()[ref]
    table = migration.contract_table
    live = FakeTable(contract_fields(table), FakePartitioning("some_other_column"), ["x"], labels={"layer": table.dataset},
                     description="d")
    jobs = [migrations.cloud_statement(migration, live, NAMES, "acme-c360"),
            *migrations.repartition_statements(migration, live, NAMES, "acme-c360")]
    for sql in jobs:
        try:
            syntax.parse_statement(sql)
        except Exception as error:  # the analyser's message names the offending token
            raise AssertionError(f"{migration.display_path()}: a BigQuery job of c360 migrate does not parse: "
                                 f"{error}\n{sql}") from None

"""Compares `c360 cost`'s pricing of statements with BigQuery's dry run (total_bytes_processed) on real tables.

Skipped unless C360_LIVE_PROJECT names a project where the caller may create and delete datasets, and
Google application-default credentials exist (`gcloud auth application-default login`).
Optional: C360_LIVE_LOCATION (default US).

The test creates scratch datasets holding the SQL functions, raw.customers (two identical day partitions),
silver.customers and ops.rejected_rows with the contract's schemas, loads generated rows, measures every column's bytes
with a dry run of `select column from table`, and then checks that the estimate of each statement, from
the columns ZetaSQL finds it reading, equals BigQuery's dry run of the same statement. The datasets are
deleted at the end, also when a check fails.

Run with: `.venv/bin/pytest tests/live/test_live_cost.py -m live -s` (a minute or two).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid

import pytest

from customer360 import contract, cost, sqlgen
from customer360.cost_model import PSEUDO_COLUMNS

pytestmark = pytest.mark.live

PROJECT = os.environ.get("C360_LIVE_PROJECT")
LOCATION = os.environ.get("C360_LIVE_LOCATION", "US")
DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6))
TABLES = ("raw.customers", "silver.customers", "ops.rejected_rows")


def _missing_prerequisite() -> str | None:
    if not PROJECT:
        return "C360_LIVE_PROJECT is not set"
    try:
        import google.auth
        from google.cloud import bigquery  # noqa: F401

        google.auth.default()
    except ImportError as error:
        return f"live extras not installed ({error.name}); pip install -e '.[live]'"
    except Exception as error:  # google.auth.exceptions.DefaultCredentialsError and friends
        return f"no Google credentials: {error}"
    return None


_reason = _missing_prerequisite()
if _reason:
    pytest.skip(f"live BigQuery cost suite skipped: {_reason}", allow_module_level=True)

from google.cloud import bigquery  # noqa: E402

from customer360.zeta import Catalog, ZetaError  # noqa: E402
from customer360.zeta.reads import script_reads  # noqa: E402


def _schema(table: contract.Table) -> list:
    return [bigquery.SchemaField(c.name, c.type) for c in table.columns]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """(client, dataset names) of scratch datasets holding the three tables with generated rows."""
    from customer360 import generate

    client = bigquery.Client(project=PROJECT, location=LOCATION)
    suffix = uuid.uuid4().hex[:6]
    names = {dataset: f"c360_cost_{suffix}_{dataset}" for dataset in contract.DATASETS}
    for name in names.values():
        dataset = bigquery.Dataset(f"{PROJECT}.{name}")
        dataset.location = LOCATION
        client.create_dataset(dataset)
    try:
        for function in sqlgen.functions():  # listed after the functions they call; the cleaning SQL calls them
            arguments = ", ".join(f"{n} {t}" for n, t in function.arguments)
            client.query(
                f"create or replace function `{PROJECT}.{names[function.dataset]}.{function.name}`({arguments})\n"
                f"returns {function.return_type}\nas (\n{sqlgen.qualify(function.body, names, PROJECT)}\n)"
            ).result()
        data = tmp_path_factory.mktemp("cost") / "data"
        generate.generate(data, days=1, scale=0.2, seed=5, start=DAYS[0], dirty_rate=0)
        csv_file = next(data.iterdir()) / "customers.csv"
        raw = contract.table("raw.customers")
        raw_ref = f"{PROJECT}.{names['raw']}.customers"
        table = bigquery.Table(raw_ref, schema=_schema(raw))
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY)
        client.create_table(table)
        for day in DAYS:  # the same file in two partitions: each holds exactly half the table's bytes
            config = bigquery.LoadJobConfig(schema=_schema(raw), skip_leading_rows=1,
                                            source_format=bigquery.SourceFormat.CSV)
            with csv_file.open("rb") as handle:
                client.load_table_from_file(handle, f"{raw_ref}${day:%Y%m%d}", job_config=config).result()
        silver = contract.table("silver.customers")
        client.create_table(bigquery.Table(f"{PROJECT}.{names['silver']}.customers", schema=_schema(silver)))
        values = [
            contract.RAW_PARTITION_COLUMN if c.name == contract.DELIVERY_DATE_COLUMN
            else c.name if c.type == "STRING" else f"safe_cast({c.name} as {c.type})"
            for c in silver.columns
        ]
        client.query(
            f"insert into `{PROJECT}.{names['silver']}.customers` ({', '.join(silver.column_names)})\n"
            f"select {', '.join(values)}\nfrom `{raw_ref}`"
        ).result()
        rejected = contract.table("ops.rejected_rows")
        table = bigquery.Table(f"{PROJECT}.{names['ops']}.rejected_rows", schema=_schema(rejected))
        table.time_partitioning = bigquery.TimePartitioning(field="delivery_date")
        client.create_table(table)
        client.query(
            f"insert into `{PROJECT}.{names['ops']}.rejected_rows` (source, delivery_date, reason, record_key, raw_values, run_id)\n"
            f"select 'customers', _PARTITIONDATE, 'missing_key', customer_id, to_json_string(t), 'live'\n"
            f"from `{raw_ref}` as t"
        ).result()
        yield client, names
    finally:
        for name in names.values():
            client.delete_dataset(f"{PROJECT}.{name}", delete_contents=True, not_found_ok=True)


def _dry_run(client, names, sql: str) -> int:
    known = {
        "delivery_dates": bigquery.ArrayQueryParameter("delivery_dates", "DATE", [DAYS[1]]),
        "fallback_dates": bigquery.ArrayQueryParameter("fallback_dates", "DATE", []),
        "run_date": bigquery.ScalarQueryParameter("run_date", "DATE", DAYS[1]),
        "run_id": bigquery.ScalarQueryParameter("run_id", "STRING", "live-cost"),
        "pipeline_digest": bigquery.ScalarQueryParameter("pipeline_digest", "STRING", "live-cost"),
    }
    parameters = [parameter for name, parameter in known.items() if f"@{name}" in sql]
    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False, query_parameters=parameters)
    job = client.query(sqlgen.qualify(sql, names, PROJECT), job_config=config)
    return job.total_bytes_processed


class MeasuredTables:
    """The estimate's table model, from the live tables: rows 1, a column's bytes its dry-run bytes."""

    def __init__(self, client, names):
        self.bytes: dict[tuple[str, str], int] = {}
        for ref in TABLES:
            for column in contract.table(ref).column_names:
                self.bytes[(ref, column)] = _dry_run(client, names, f"select {column} from {ref}")
        self.partition_share = {"raw.customers": 1 / len(DAYS), "ops.rejected_rows": 1 / len(DAYS)}

    def rows(self, ref: str, day: int) -> float:
        return 1.0

    def partition_rows(self, ref: str) -> float:
        return self.partition_share[ref]

    def column_bytes(self, ref: str, column: str) -> float:
        if column in PSEUDO_COLUMNS:
            return 0.0
        return float(self.bytes[(ref, column)])


STATEMENTS = (
    "select customer_id, email from silver.customers",
    "select count(*) from silver.customers where city = 'Austin'",
    "select a.customer_id from silver.customers as a join silver.customers as b on a.email = b.phone",
    "select customer_id, phone from raw.customers where _PARTITIONDATE in unnest(@delivery_dates)",
    "select customer_id from raw.customers where customer_id = 'C1'",
    "select record_key from ops.rejected_rows where delivery_date in unnest(@delivery_dates)",
    "select record_key from ops.rejected_rows where run_id = 'live'",
    "delete from ops.rejected_rows where delivery_date in unnest(@delivery_dates) and source = 'nobody'",
    "delete from silver.customers where customer_id = 'nobody'",
)


@pytest.fixture(scope="module")
def measured(scratch):
    return MeasuredTables(*scratch)


@pytest.mark.parametrize("sql", STATEMENTS)
def test_the_estimate_of_a_statement_equals_the_dry_run(scratch, measured, sql):
    client, names = scratch
    catalog = Catalog.from_contract()
    (found,) = script_reads(sql, catalog, parameters={**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS})
    estimated = cost.DayEstimate(measured, len(DAYS)).statement("live", found).bytes
    actual = _dry_run(client, names, sql)
    assert estimated == pytest.approx(actual, rel=0.01), (
        f"{sql!r}: estimated {estimated:,.0f} bytes, BigQuery's dry run {actual:,} bytes"
    )


TEMPORARY_TABLE_AS = re.compile(r"^\s*create\s+or\s+replace\s+temp(?:orary)?\s+table\s+\w+\s+as\s+", re.IGNORECASE)


def test_the_customers_step_statements_on_stored_tables_cost_what_the_dry_run_says(scratch, measured):
    """The silver step's statements that read only stored tables (a temporary table's query stands for it)."""
    client, names = scratch
    catalog = Catalog.from_contract()
    parameters = {**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS}
    compared = []
    for statement in sqlgen.step_statements(contract.STEPS_BY_NAME["customers"]):
        sql = TEMPORARY_TABLE_AS.sub("", sqlgen.bigquery_statement(statement))
        try:
            (found,) = script_reads(sql, catalog, parameters=parameters)
        except ZetaError:
            continue  # it reads a temporary table an earlier statement creates
        if not {r.table for r in found.reads} <= set(TABLES):
            continue
        estimated = cost.DayEstimate(measured, len(DAYS)).statement("live", found).bytes
        actual = _dry_run(client, names, sql)
        compared.append((sql.splitlines()[0], estimated, actual))
    assert len(compared) >= 2, f"too few statements compared: {compared}"
    wrong = [(line, e, a) for line, e, a in compared if e != pytest.approx(a, rel=0.01)]
    assert not wrong, "estimate vs dry run: " + "; ".join(f"{line!r}: {e:,.0f} vs {a:,}" for line, e, a in wrong)

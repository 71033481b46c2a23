"""The BigQuery procedures, run on ZetaSQL's reference evaluator over delivery sequences, equal the local engine and the model.

Each sequence of deliveries (a first day of every source, then a re-delivery of it without a key and with
a changed row; a late day processed after a later one; a day only loaded and picked up by the next run;
a key withdrawn from a day that another day still holds) goes through two warehouses:

- the local engine (customer360.engine on DuckDB), fed CSV folders as `c360 run` and `c360 load` are;
- a replica of the cloud run on the reference evaluator (customer360.zeta.script): raw partitions as the
  transfers load them (the header row kept, empty fields NULL), the daily script's own statement that
  records the run's pending partitions, then the stored-procedure bodies (customer360.sqlgen.procedure_body:
  the SQL BigQuery runs, after its rendering) statement by statement.

After every run both must hold the same silver tables, ops.rejected_rows and ledger counts (run ids, load
and processing times aside), and silver must equal the model: the de-duplication, written here in Python
from the product rules, of the current delivery of every day; the identity map must equal its definition
over that silver.

Coverage and cost: the sequence that delivers every source runs every procedure of the pipeline (silver,
identity, checks, intermediates, gold) and also compares the intermediates, gold (and gold with its
definition over silver, tests/oracle/gold) and ops.data_quality_results. The other sequences run the
silver and identity procedures only: a silver procedure is about twenty evaluator calls (0.1 to 0.3 s
each, most of it ZetaSQL building its built-in function catalog for every prepared query), and the
checks, intermediates and gold add some sixty more per run, which over every sequence would take the
module well past two minutes.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from pathlib import Path

import duckdb
import pytest

from customer360 import bigquery_script, contract, engine, sqlgen
from customer360.sqlgen import silver as silver_sql
from customer360.zeta.script import ReferenceWarehouse, ScriptError
from customer360.zeta.syntax import Source, concrete, descendants, parse_script, path_names, span
from pipeline_harness import customer, member, order_line, sale_line, ticket, write_delivery
from zeta_harness import identifier_counts, normalise, reference  # noqa: F401  (reference is a fixture)

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=n) for n in range(3)]
PARTITION = contract.RAW_PARTITION_COLUMN
SILVER_STEPS = [step for step in contract.PIPELINE if step.kind == "silver"]
IDENTITY = next(step for step in contract.PIPELINE if step.kind == "identity")
REPLICATED_STEPS = [*SILVER_STEPS, IDENTITY]
# The ledger's columns that name a run or a moment, and the fingerprint (a digest of the files locally,
# of the rows in the cloud): the rest are the day's counts and key range, which must agree.
LEDGER_RUN_COLUMNS = ("loaded_at", "fingerprint", "run_id", "processed_at")


# ---------------------------------------------------------------------------
# The cloud run, replicated on the reference evaluator
# ---------------------------------------------------------------------------


@functools.cache
def _procedure_body(step: contract.Step) -> str:
    return sqlgen.procedure_body(step)


@functools.cache
def _pending_partitions_statement() -> str:
    """The daily script's INSERT INTO ops.run_partitions: which partitions the run processes, and why."""
    script = bigquery_script.daily_script()
    source = Source.of(script)
    for node in descendants(parse_script(script), "InsertStatement"):
        if path_names(concrete(node.target_path)) == ["ops", "run_partitions"]:
            return source.slice(*span(node))
    raise AssertionError("the daily script no longer inserts into ops.run_partitions")


def _cloud_raw_rows(source: contract.Source, day: dt.date, rows: list[dict[str, str]]) -> list[dict]:
    """A day's CSV as the transfer loads it: columns by position, the header row kept as a row
    (skip_leading_rows 0, infra/load.py), and an empty field NULL (the default null marker is the empty
    string, https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationLoad)."""
    header = {column: column for column in source.column_names}
    data = [{column: (row.get(column) or None) for column in source.column_names} for row in rows]
    return [{**row, PARTITION: day} for row in [header, *data]]


class CloudReplica:
    """A warehouse on the reference evaluator, loaded and run as the cloud loads and runs it."""

    def __init__(self, steps: list[contract.Step] = REPLICATED_STEPS, *, go_on_after_a_failure: bool = False) -> None:
        self.steps = steps
        # A failed procedure fails the cloud run; going on instead shows what every other step computes.
        self.go_on_after_a_failure = go_on_after_a_failure
        self.failures: dict[str, str] = {}  # step -> the evaluator's error
        self.warehouse = ReferenceWarehouse()
        self.loads = 0
        self.runs = 0
        self.procedure_seconds: dict[str, list[float]] = {}
        self.kept_as_changes: list[dict] = []  # ops.run_changes as the daily script left it before the steps

    def load(self, day: dt.date, delivery: dict[str, list[dict[str, str]]]) -> None:
        for source_name, rows in delivery.items():
            source = contract.SOURCES_BY_NAME[source_name]
            delivered = _cloud_raw_rows(source, day, rows)
            held = self.warehouse.rows(source.raw.ref)
            if _sorted(r for r in held if r[PARTITION] == day) == _sorted(delivered):
                # The same rows again: the daily script's fingerprint keeps the day processed.
                continue
            self.loads += 1
            self.warehouse.replace(source.raw.ref, [r for r in held if r[PARTITION] != day] + delivered)
            partitions = [p for p in self.warehouse.rows("ops.raw_partitions")
                          if (p["source"], p["delivery_date"]) != (source_name, day)]
            partitions.append({
                "source": source_name, "delivery_date": day, "row_count": len(delivered),
                # INFORMATION_SCHEMA.PARTITIONS.last_modified_time: every load of a partition moves it.
                "loaded_at": dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=self.loads),
            })
            self.warehouse.replace("ops.raw_partitions", partitions)

    def run(self, run_date: dt.date) -> None:
        self.runs += 1
        run_id = f"reference-{self.runs}"
        self.warehouse.replace("ops.run_changes", [])  # the daily script empties it before the first step
        self.warehouse.run_script(
            _pending_partitions_statement(), "the daily script's pending partitions", parameters={"run_date": run_date},
            variables={bigquery_script._RUN_ID: ("STRING", run_id), bigquery_script._REFRESH: ("BOOL", False)},
        )
        pending = {p["source"] for p in self.warehouse.rows("ops.run_partitions") if p["run_id"] == run_id}
        if not pending:
            return
        arguments = {"arg_run_date": run_date, "arg_run_id": run_id, "arg_pipeline_digest": sqlgen.pipeline_digest()}
        for step in self.steps:
            if step.kind == "silver" and step.source not in pending:
                continue  # the daily script calls a silver procedure only when its source has pending days
            started = time.perf_counter()
            try:
                self.warehouse.run_procedure(_procedure_body(step), arguments, f"procedure {step.procedure_name}")
            except ScriptError as error:
                if not self.go_on_after_a_failure:
                    raise
                self.failures[step.name] = str(error)
                for name in sorted(self.warehouse.temporary):
                    self.warehouse.run_script(f"drop table {name}", "tidying up after a failed procedure")
            self.procedure_seconds.setdefault(step.name, []).append(time.perf_counter() - started)


# ---------------------------------------------------------------------------
# The model: silver as the de-duplication of the current delivery of every day
# ---------------------------------------------------------------------------


def _cleaned(source: contract.Source, current: dict[tuple[int, str], list]) -> list[dict]:
    """Every current delivery of SOURCE through its silver file (the cleaning rules), on the evaluator."""
    days = sorted(DAYS[day] for day, name in current if name == source.name)
    if not days:
        return []
    raw = [row for day in days for row in _cloud_raw_rows(source, day, current[(DAYS.index(day), source.name)])]
    model = ReferenceWarehouse({source.raw.ref: raw})
    step = contract.STEPS_BY_NAME[source.silver.name]
    model.run_statements([sqlgen.Statement(f"create temp table cleaned as {silver_sql.cleaning_query(step, 'delivery_dates')}")],
                         {"delivery_dates": days}, f"the model's cleaning of {source.name}")
    return model.rows("cleaned")


_EARLIEST = dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _winner_order(source: contract.Source, columns: list[str]):
    """The product's de-duplication order as a sort: latest updated_at (NULL last), then the latest delivery
    day, then each other cleaned value ascending (NULL last)."""
    ties = [c for c in columns if c not in source.primary_key and c not in (source.version_column, "_delivery_date")]

    def ascending_nulls_last(value):
        return (value is None, normalise(value) if value is not None else 0)

    def key(row: dict):
        return tuple(ascending_nulls_last(row[c]) for c in ties)

    def order(rows: list[dict]) -> list[dict]:
        # Stable sorts, the least significant rule first (a reversed sort keeps equal rows in order).
        ranked = sorted(rows, key=key)
        ranked = sorted(ranked, key=lambda row: row["_delivery_date"], reverse=True)
        if source.version_column:
            version = source.version_column
            ranked = sorted(ranked, key=lambda row: row[version] or _EARLIEST, reverse=True)
            ranked = sorted(ranked, key=lambda row: row[version] is None)
        return ranked

    return order


def expected_silver(source: contract.Source, current: dict[tuple[int, str], list]) -> list[tuple]:
    columns = list(source.silver.column_names)
    order = _winner_order(source, columns)
    by_key: dict[tuple, list[dict]] = {}
    for row in _cleaned(source, current):
        if row["rejection_reason"] is None and row["_row_kind"] != "header":
            by_key.setdefault(tuple(row[k] for k in source.primary_key), []).append(row)
    return _sorted(tuple(order(rows)[0][c] for c in columns) for rows in by_key.values())


# ---------------------------------------------------------------------------
# Comparing the warehouses
# ---------------------------------------------------------------------------


def _sorted(rows) -> list:
    comparable = [tuple(normalise(v) for v in (row.values() if isinstance(row, dict) else row)) for row in rows]
    return sorted(comparable, key=repr)


def _local(warehouse: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _replica(cloud: CloudReplica, ref: str, columns: list[str]) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in cloud.warehouse.rows(ref)]


def _difference(label: str, ref: str, local: list, replica: list, columns: list[str]) -> str:
    lines = [f"{label}: {ref} differs between the local engine and the BigQuery procedures on the reference evaluator"]
    lines += [f"  only locally:     {dict(zip(columns, row))}" for row in local if row not in replica][:5]
    lines += [f"  only on BigQuery: {dict(zip(columns, row))}" for row in replica if row not in local][:5]
    return "\n".join(lines)


def assert_same_warehouse(label: str, warehouse: Path, cloud: CloudReplica, current: dict) -> None:
    for source in contract.SOURCES:
        columns = list(source.silver.column_names)
        local = _sorted(_local(warehouse, f"select {', '.join(columns)} from {source.silver.ref}"))
        replica = _sorted(_replica(cloud, source.silver.ref, columns))
        assert local == replica, _difference(label, source.silver.ref, local, replica, columns)
        model = expected_silver(source, current)
        assert replica == model, _difference(label, f"{source.silver.ref} (against the model's)", model, replica, columns)
        data_columns = list(source.column_names)
        local_raw = _sorted(_local(warehouse, f'select {", ".join(data_columns)}, "{PARTITION}" from {source.raw.ref}'))
        replica_raw = _sorted(row for row in _replica(cloud, source.raw.ref, data_columns + [PARTITION])
                              if row[:len(data_columns)] != tuple(data_columns))
        assert local_raw == replica_raw, _difference(label, f"{source.raw.ref} (the loaded input)", local_raw,
                                                     replica_raw, data_columns + [PARTITION])

    identity = list(contract.table("silver.customer_identity").column_names)
    local = _sorted(_local(warehouse, f"select {', '.join(identity)} from silver.customer_identity"))
    replica = _sorted(_replica(cloud, "silver.customer_identity", identity))
    assert local == replica, _difference(label, "silver.customer_identity", local, replica, identity)
    # The identifier counts, moved run by run, equal a count of the lines each side holds.
    lines = {s.silver.ref: cloud.warehouse.rows(s.silver.ref) for s in contract.SOURCES}
    counted = identifier_counts(lines)
    for table in contract.IDENTIFIER_COUNT_TABLES:
        columns = list(table.column_names)
        local_counts = _sorted(_local(warehouse, f"select {', '.join(columns)} from {table.ref}"))
        replica_counts = _sorted(_replica(cloud, table.ref, columns))
        assert local_counts == replica_counts, _difference(label, table.ref, local_counts, replica_counts, columns)
        expected = _sorted(tuple(row[c] for c in columns) for row in counted[table.ref])
        assert replica_counts == expected, _difference(label, f"{table.ref} (against a count of its lines)", expected,
                                                       replica_counts, columns)
    definition = (contract.SQL_DIR / "silver" / "customer_identity.sql").read_text(encoding="utf-8")
    over_silver = ReferenceWarehouse(lines | counted)
    over_silver.run_statements([sqlgen.Statement(f"create temp table defined as\n{sqlgen.strip_comments(definition)}")],
                               {}, "the identity definition")
    defined = _sorted(tuple(row[c] for c in identity) for row in over_silver.rows("defined"))
    assert replica == defined, _difference(label, "silver.customer_identity (against its definition over silver)",
                                           defined, replica, identity)

    # Which partitions each run processed, and why: the daily script's rule against the engine's.
    processed = ["run_date", "source", "delivery_date", "reason"]
    local = _sorted(_local(warehouse, f"select {', '.join(processed)} from ops.run_partitions"))
    replica = _sorted(_replica(cloud, "ops.run_partitions", processed))
    assert local == replica, _difference(label, "ops.run_partitions", local, replica, processed)

    rejected = ["source", "delivery_date", "reason", "record_key", "raw_values"]
    local = _sorted(_local(warehouse, f"select {', '.join(rejected)} from ops.rejected_rows"))
    replica = _sorted(_replica(cloud, "ops.rejected_rows", rejected))
    assert local == replica, _difference(label, "ops.rejected_rows", local, replica, rejected)

    # Cloud loads keep each file's header row: one header row per processed day there, none locally.
    ledger = [c for c in contract.table("ops.processed_partitions").column_names
              if c not in LEDGER_RUN_COLUMNS and c not in ("scanned_rows", "header_rows")]
    local = _sorted(_local(warehouse, f"select {', '.join(ledger)}, scanned_rows - header_rows, header_rows "
                                      f"from ops.processed_partitions"))
    replica = _sorted((*(row[c] for c in ledger), row["scanned_rows"] - row["header_rows"], row["header_rows"] - 1)
                      for row in cloud.warehouse.rows("ops.processed_partitions"))
    assert local == replica, _difference(label, "ops.processed_partitions", local, replica,
                                         ledger + ["data_rows", "header_rows_besides_the_file_header"])


# ---------------------------------------------------------------------------
# The sequences
# ---------------------------------------------------------------------------

FIRST_DAY = {
    "customers": [customer("C1", email="a@x.com"), customer("C2", email="b@x.com", updated_at="2026-01-02 00:00:00"),
                  customer("C3", birth_date="not a date", updated_at="")],
    "products": [{"product_id": "P1", "product_name": "Mug", "category": "Home", "brand": "Acme", "unit_price": "10.00",
                  "updated_at": "2026-01-01 00:00:00"},
                 {"product_id": "P2", "product_name": "Cap", "category": "", "brand": "", "unit_price": "abc"}],
    "stores": [{"store_id": "S1", "store_name": "Main", "city": "Austin", "state": "TX", "region": "South",
                "opened_date": "2020-01-01"}],
    "online_orders": [order_line("O1", customer_id="C1"), order_line("O1", "2", customer_id="C1", unit_price="3.50"),
                      order_line("O2", customer_id="C2", unit_price="abc"), order_line("O3", customer_id="C2")],
    "store_sales": [sale_line("T1", loyalty_card_id="L1"), sale_line("T2", quantity="2")],
    "loyalty_members": [member("L1", customer_id="C1", email="a@x.com", tier="gold"), member("L2", email="b@x.com")],
    "support_tickets": [ticket("K1", customer_email="a@x.com", status="closed", resolved_at="2026-01-05 10:00:00"),
                        ticket("K2", customer_id="C2")],
    "support_agents": [{"agent_id": "A1", "agent_name": "Ada", "team": "Tier 1", "hire_date": "2024-06-01"}],
}
# Day 1 again: C2 and O3 withdrawn, C1 and a line of O1 changed, the loyalty file the same.
FIRST_DAY_AGAIN = {
    "customers": [customer("C1", email="a@x.com", first_name="Anne", updated_at="2026-01-03 00:00:00"),
                  customer("C3", birth_date="not a date", updated_at="")],
    "online_orders": [order_line("O1", customer_id="C1"),
                      order_line("O1", "2", customer_id="C1", unit_price="3.50", order_status="returned"),
                      order_line("O2", customer_id="C2", unit_price="abc")],
    "loyalty_members": FIRST_DAY["loyalty_members"],
}


def _day(customer_name: str, order_status: str, stamp: str) -> dict:
    return {"customers": [customer("C1", first_name=customer_name, updated_at=stamp), customer(f"C-{customer_name}")],
            "online_orders": [order_line("O1", customer_id="C1", order_status=order_status),
                              order_line(f"O-{customer_name}", customer_id=f"C-{customer_name}")]}


# Run through every step of the pipeline (test_every_procedure_of_the_pipeline_gives_what_the_local_engine_gives).
EVERY_SOURCE = [(0, FIRST_DAY, "run"), (0, FIRST_DAY_AGAIN, "run")]
# Run through the silver and identity steps.
SEQUENCES = {
    "a late second day run after the third": [
        (0, _day("One", "completed", "2026-01-01 00:00:00"), "run"),
        (2, _day("Three", "returned", "2026-01-03 00:00:00"), "run"),
        (1, _day("Two", "cancelled", "2026-01-02 00:00:00"), "run"),
    ],
    "a second day only loaded, processed with the third": [
        (0, _day("One", "completed", "2026-01-01 00:00:00"), "run"),
        (1, _day("Two", "cancelled", "2026-01-02 00:00:00"), "load"),
        (2, _day("Three", "returned", ""), "run"),
    ],
    "a key withdrawn from a day that another day still holds": [
        (0, _day("Newer", "returned", "2026-01-03 00:00:00"), "run"),
        (1, _day("Older", "completed", "2026-01-01 00:00:00"), "run"),
        (0, {"customers": [customer("C-Newer")], "online_orders": [order_line("O-Newer", customer_id="C-Newer")]}, "run"),
    ],
}


@pytest.mark.long
@pytest.mark.parametrize("name", SEQUENCES)
def test_procedures_on_the_reference_evaluator_keep_silver_equal_to_the_current_deliveries(reference, tmp_path, name):
    warehouse = tmp_path / "local.duckdb"
    cloud = CloudReplica()
    current: dict[tuple[int, str], list] = {}
    for number, (day, delivery, mode) in enumerate(SEQUENCES[name], start=1):
        folder = write_delivery(tmp_path / f"delivery-{number}", delivery)
        cloud.load(DAYS[day], delivery)
        if mode == "load":
            engine.load_only(folder, DAYS[day], warehouse)
        else:
            engine.run_delivery(folder, DAYS[day], warehouse)
            cloud.run(DAYS[day])
        for source_name, rows in delivery.items():
            current[(day, source_name)] = rows
        if mode == "run":
            assert_same_warehouse(f"{name}, after delivery {number} (day {day + 1}, {mode})", warehouse, cloud, current)
    ran = {step for step, times in cloud.procedure_seconds.items() if times}
    assert "customer_identity" in ran, f"{name}: the identity procedure never ran"
    timings = ", ".join(f"{step} {sum(times) / len(times):.1f}s x{len(times)}"
                        for step, times in sorted(cloud.procedure_seconds.items()))
    print(f"\n{name}: {cloud.warehouse.evaluations} evaluations; procedures (mean seconds x calls): {timings}")


def test_every_silver_step_runs_in_some_sequence():
    delivered = {source for events in [EVERY_SOURCE, *SEQUENCES.values()] for _, delivery, mode in events
                 for source in delivery}
    missing = [step.name for step in SILVER_STEPS if step.source not in delivered]
    assert not missing, f"no sequence delivers the sources of the silver steps {missing}"


# ---------------------------------------------------------------------------
# The runner itself: BigQuery's statement semantics, and clear refusals
# ---------------------------------------------------------------------------


def _stores(*keys: str | None) -> list[dict]:
    return [{"store_id": key, "_delivery_date": DAYS[0]} for key in keys]


def test_a_delete_keeps_the_rows_whose_condition_is_null_or_false(reference):
    held = ReferenceWarehouse({"silver.stores": _stores("S1", "S2", None)})
    held.run_script("delete from silver.stores as existing where existing.store_id = 'S1'", "delete")
    kept = sorted((row["store_id"] for row in held.rows("silver.stores")), key=repr)
    assert kept == sorted(["S2", None], key=repr), f"silver.stores keeps {kept}, not S2 and the NULL key"


def test_a_temp_table_is_readable_by_later_statements_and_gone_after_drop(reference):
    held = ReferenceWarehouse({"silver.stores": _stores("S1", "S2")})
    held.run_script(
        "create temp table picked as select store_id from silver.stores where store_id > wanted_after;\n"
        "insert into ops.run_changes (run_id, table_name, key_value, change) select 'r', 'silver.stores', store_id, 'added' from picked;\n"
        "drop table picked;",
        "script", variables={"wanted_after": ("STRING", "S1")},
    )
    assert [row["key_value"] for row in held.rows("ops.run_changes")] == ["S2"], held.rows("ops.run_changes")
    assert "picked" not in held.tables, "a dropped temp table must be gone"


def test_a_setting_statement_becomes_the_parameter_of_later_statements(reference):
    held = ReferenceWarehouse({"silver.stores": _stores("S1", "S2")})
    values = held.run_statements([
        sqlgen.Statement("select array_agg(_delivery_date) from silver.stores", sets="fallback_dates"),
        sqlgen.Statement("delete from silver.stores where _delivery_date in unnest(@fallback_dates)"),
    ], {}, "step")
    assert values["fallback_dates"] == [DAYS[0], DAYS[0]] and held.rows("silver.stores") == [], values


def test_a_failed_assertion_stops_the_script_with_its_message(reference):
    from customer360.zeta.script import AssertionFailed

    held = ReferenceWarehouse({"silver.stores": _stores("S1")})
    with pytest.raises(AssertionFailed, match="keys must be unique") as failure:
        held.run_script("assert (select count(*) = 0 from silver.stores) as 'keys must be unique';\n"
                        "delete from silver.stores where true;", "check")
    assert failure.value.message == "keys must be unique"
    assert [row["store_id"] for row in held.rows("silver.stores")] == ["S1"], "nothing after a failed assertion may run"


@pytest.mark.parametrize("statement, complaint", [
    ("update silver.stores set store_name = 'x' where true", "UpdateStatement statements are outside"),
    ("insert into silver.stores (store_id, _delivery_date) select 1, current_date()", "silver.stores.store_id is STRING"),
    ("create temp table silver.copy as select 1 as x", "only temp tables"),
    ("drop table never_created", "no temp table never_created"),
    ("insert into silver.stores (store_id) select no_such_column from silver.stores", "Unrecognized name: no_such_column"),
    ("select store_id from silver.stores", "QueryStatement statements are outside"),
])
def test_a_statement_the_runner_cannot_run_is_a_one_line_error_naming_it(reference, statement, complaint):
    from customer360.zeta.script import ScriptError

    held = ReferenceWarehouse({"silver.stores": _stores("S1")})
    with pytest.raises(ScriptError) as failure:
        held.run_script(f"delete from silver.stores where false;\n{statement};", "the script")
    message = str(failure.value)
    assert message.startswith("the script line 2 (") and complaint in message and "\n" not in message, message


# ---------------------------------------------------------------------------
# Every step of the pipeline, on the sequence that delivers every source
# ---------------------------------------------------------------------------

ORACLE = Path(__file__).resolve().parent / "oracle" / "gold"
CHECK_COLUMNS = ["run_date", "check_name", "target_table", "severity", "violating_rows", "status", "subject", "detail"]


class ProceduresFailed(Exception):
    """A procedure the evaluator refused: BigQuery would fail the run at that step."""


def _same_table(label: str, warehouse: Path, cloud: CloudReplica, ref: str, columns: list[str]) -> None:
    local = _sorted(_local(warehouse, f"select {', '.join(columns)} from {ref}"))
    replica = _sorted(_replica(cloud, ref, columns))
    assert local == replica, _difference(label, ref, local, replica, columns)


def _gold_over_silver(cloud: CloudReplica, table: contract.Table) -> list[tuple]:
    """The gold table by its old definition over silver (tests/oracle/gold), on the evaluator."""
    oracle = ReferenceWarehouse({t.ref: cloud.warehouse.rows(t.ref) for t in contract.SILVER_TABLES + contract.GOLD_TABLES
                                 if t.ref != table.ref})
    definition = sqlgen.strip_comments((ORACLE / f"{table.name}.sql").read_text(encoding="utf-8"))
    oracle.run_statements([sqlgen.Statement(f"create temp table defined as\n{definition}")], {}, f"the definition of {table.ref}")
    return _sorted(tuple(row[c] for c in table.column_names) for row in oracle.rows("defined"))


@pytest.mark.long
def test_every_procedure_of_the_pipeline_gives_what_the_local_engine_gives(reference, tmp_path):
    name = "a first day delivering every source, then it again without a key and with a changed row"
    warehouse = tmp_path / "local.duckdb"
    cloud = CloudReplica(list(contract.PIPELINE), go_on_after_a_failure=True)
    current: dict[tuple[int, str], list] = {}
    for number, (day, delivery, _) in enumerate(EVERY_SOURCE, start=1):
        engine.run_delivery(write_delivery(tmp_path / f"delivery-{number}", delivery), DAYS[day], warehouse)
        cloud.load(DAYS[day], delivery)
        cloud.run(DAYS[day])
        current.update({(day, source_name): rows for source_name, rows in delivery.items()})
        label = f"every step, {name}, after delivery {number}"
        assert_same_warehouse(label, warehouse, cloud, current)
        failed = {ref for step in cloud.failures for ref in contract.STEPS_BY_NAME[step].writes}
        for table in [*contract.INTERMEDIATE_TABLES, *contract.GOLD_TABLES]:
            if table.ref not in failed:
                _same_table(label, warehouse, cloud, table.ref, list(table.column_names))
        for table in contract.GOLD_TABLES:
            if table.ref not in failed:
                found = _sorted(_replica(cloud, table.ref, list(table.column_names)))
                assert found == _gold_over_silver(cloud, table), (
                    f"{label}: {table.ref} on the evaluator differs from its definition over silver")
        local_checks = _sorted(_local(warehouse, f"select {', '.join(CHECK_COLUMNS)} from ops.data_quality_results"))
        replica_checks = _sorted(_replica(cloud, "ops.data_quality_results", CHECK_COLUMNS))
        assert local_checks == replica_checks, _difference(label, "ops.data_quality_results", local_checks,
                                                           replica_checks, CHECK_COLUMNS)
    timings = ", ".join(f"{step} {sum(times):.1f}s" for step, times in cloud.procedure_seconds.items())
    print(f"\n{name}: {cloud.warehouse.evaluations} evaluations; seconds per procedure: {timings}")
    if cloud.failures:
        raise ProceduresFailed("\n".join(f"{step}: {error}" for step, error in cloud.failures.items()))


# ---------------------------------------------------------------------------
# A SQL change in the cloud: every held day processed again, and the days whose raw partition expired
# ---------------------------------------------------------------------------


@functools.cache
def _full_refresh_statements() -> tuple[str, list[str], list[str]]:
    """The daily script's test for a SQL change (`set full_refresh_needed = ...`), the statements it runs then,
    and those that list the rows the refresh kept as the run's changes."""
    script = bigquery_script.daily_script()
    source = Source.of(script)
    tree = parse_script(script)
    test = next(source.slice(*span(node)) for node in descendants(tree, "SingleAssignment")
                if source.slice(*span(node.variable)) == bigquery_script._REFRESH)
    # The first block on the flag is the refresh itself; the later one lists the kept rows as changes.
    refresh, kept = [node for node in descendants(tree, "IfStatement")
                     if source.slice(*span(node.condition)).strip() == bigquery_script._REFRESH]
    return test, *([source.slice(*span(statement)) for statement in block.then_list.statement_list]
                   for block in (refresh, kept))


def _run_after_a_sql_change(cloud: CloudReplica, run_date: dt.date, digest: str) -> None:
    """One daily run whose deployed SQL digest differs from the ledger's: the script's full refresh, its pending
    partitions (reason full_refresh) and the procedures, as CloudReplica.run runs them."""
    cloud.runs += 1
    run_id = f"reference-{cloud.runs}"
    warehouse = cloud.warehouse
    warehouse.replace("ops.run_changes", [])
    test, refresh, kept = _full_refresh_statements()
    variables = {bigquery_script._RUN_ID: ("STRING", run_id), bigquery_script._DIGEST: ("STRING", digest),
                 bigquery_script._REFRESH: ("BOOL", False)}
    needed = warehouse.run_script(f"{test};", "the daily script's SQL-change test", variables=variables)
    assert needed[bigquery_script._REFRESH] is True, "the ledger records another digest: the script must refresh"
    for statement in refresh:
        warehouse.run_script(f"{statement};", "the daily script's full refresh", variables=variables)
    variables[bigquery_script._REFRESH] = ("BOOL", True)
    warehouse.run_script(_pending_partitions_statement(), "the daily script's pending partitions",
                         parameters={"run_date": run_date}, variables=variables)
    pending = {p["source"] for p in warehouse.rows("ops.run_partitions") if p["run_id"] == run_id}
    for statement in kept:
        warehouse.run_script(f"{statement};", "the daily script's kept rows as changes", variables=variables)
    cloud.kept_as_changes = [dict(change) for change in warehouse.rows("ops.run_changes")]
    arguments = {"arg_run_date": run_date, "arg_run_id": run_id, "arg_pipeline_digest": digest}
    for step in cloud.steps:
        if step.kind != "silver" or step.source in pending:
            warehouse.run_procedure(_procedure_body(step), arguments, f"procedure {step.procedure_name}")


def _expire(cloud: CloudReplica, source: contract.Source, day: dt.date) -> None:
    """The raw partition of DAY gone, as partition expiration drops it: the daily script's MERGE of
    INFORMATION_SCHEMA.PARTITIONS then deletes its ops.raw_partitions row (silver keeps what it delivered)."""
    warehouse = cloud.warehouse
    warehouse.replace(source.raw.ref, [r for r in warehouse.rows(source.raw.ref) if r[PARTITION] != day])
    warehouse.replace("ops.raw_partitions", [p for p in warehouse.rows("ops.raw_partitions")
                                             if (p["source"], p["delivery_date"]) != (source.name, day)])


def test_a_sql_change_keeps_the_silver_rows_of_days_whose_raw_partition_expired(reference):
    """Partition expiration drops old raw days while silver keeps their rows; a deploy that changes the SQL
    (its digest differs from the one the ledger recorded) must not lose them when it processes every held day again."""
    orders = contract.SOURCES_BY_NAME["online_orders"]
    cloud = CloudReplica([contract.STEPS_BY_NAME[orders.silver.name]])
    cloud.load(DAYS[0], {"online_orders": [order_line("O-1", customer_id="C1")]})
    cloud.run(DAYS[0])
    cloud.load(DAYS[1], {"online_orders": [order_line("O-2", customer_id="C2")]})
    cloud.run(DAYS[1])
    delivered = {("O-1", DAYS[0]), ("O-2", DAYS[1])}
    _expire(cloud, orders, DAYS[0])
    before = {(row["order_id"], row["_delivery_date"]) for row in cloud.warehouse.rows(orders.silver.ref)}
    assert before == delivered, f"{orders.silver.ref} holds {sorted(before)} once day 1 expired, not {sorted(delivered)}"
    _run_after_a_sql_change(cloud, DAYS[2], digest="the-next-deploys-digest")
    listed = {(c["table_name"], c["key_value"], c["key_detail"], c["change"], c["run_id"]) for c in cloud.kept_as_changes}
    expected = {(orders.silver.ref, "O-1", "1", "added", f"reference-{cloud.runs}"),
                ("silver.order_line_customer_ids", "C1", None, "added", f"reference-{cloud.runs}")}
    assert listed == expected, (
        f"the daily script listed {sorted(listed)} as the refresh's kept rows, not the expired day's {sorted(expected)}"
    )
    held = {(row["order_id"], row["_delivery_date"]) for row in cloud.warehouse.rows(orders.silver.ref)}
    lost = sorted(delivered - held)
    assert not lost, (
        f"{orders.silver.ref} lost {lost} (order, delivery day) after a SQL change: the daily script's full refresh "
        f"deleted every silver row and rebuilt only the days raw still holds, so a day past "
        f"rawPartitionExpirationDays is gone from silver; it holds {sorted(held)}"
    )
    counts = {(row["customer_id"], row["row_count"]) for row in cloud.warehouse.rows("silver.order_line_customer_ids")}
    assert counts == {("C1", 1), ("C2", 1)}, (
        f"silver.order_line_customer_ids holds {sorted(counts)} after the refresh, not a count of the lines silver "
        f"holds (the kept day's C1 and the re-processed day's C2, one line each)"
    )

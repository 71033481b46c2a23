"""The daily scheduled-query script: generated from the pipeline order, atomic and labelled (its rendered copy is checked in test_generated_artifacts)."""

import re

from customer360 import bigquery_script, contract
from customer360.bigquery_script import daily_script


def statements_between(script: str, start: str, end: str) -> str:
    return script[script.index(start) + len(start):script.index(end)]


def test_render_writes_the_script(tmp_path):
    path = bigquery_script.render_scheduled_query(tmp_path / "daily.sql")
    assert path.read_text(encoding="utf-8") == daily_script()


def test_steps_run_in_pipeline_order_inside_one_transaction():
    script = daily_script()
    body = statements_between(script, "begin transaction;", "commit transaction;")
    calls = re.findall(r"^\s*call (\w+)\.(\w+)\(@run_date, pipeline_run_id, pipeline_sql_digest\);", body,
                       flags=re.MULTILINE)
    assert calls == [(s.procedure_dataset, s.procedure_name) for s in contract.PIPELINE], calls
    recorded = re.findall(r"^\s*insert into ops\.pipeline_runs", body, flags=re.MULTILINE)
    assert len(recorded) == len(contract.PIPELINE) + 1, "every step and the run must be recorded in ops.pipeline_runs"


def test_silver_steps_run_only_for_sources_with_pending_partitions():
    body = statements_between(daily_script(), "begin transaction;", "commit transaction;")
    for step in (s for s in contract.PIPELINE if s.kind == "silver"):
        guard = (f"if exists (select 1 from ops.run_partitions where run_id = pipeline_run_id "
                 f"and source = '{step.source}') then")
        assert guard in body and body.index(guard) < body.index(f"call silver.{step.procedure_name}("), step.name


def test_a_run_with_nothing_pending_writes_nothing():
    body = statements_between(daily_script(), "begin transaction;", "commit transaction;")
    nothing = body[body.index("if pending_partition_count = 0 then"):]
    nothing = nothing[:nothing.index("end if;")]
    assert "rollback transaction;" in nothing and "return;" in nothing, nothing
    assert body.index("if pending_partition_count = 0 then") < body.index("call "), "checked before any step"


def test_failure_rolls_back_records_and_raises():
    script = daily_script()
    handler = script[script.index("exception when error then"):]
    assert handler.index("rollback transaction;") < handler.index("insert into ops.pipeline_runs"), handler
    assert "@@error.message" in handler and "'failed'" in handler, handler
    assert re.search(r"\braise using message\b", handler), "the run must fail so that the alert fires"


def test_the_error_is_kept_before_the_rollback_block_can_replace_it():
    handler = daily_script()[daily_script().index("exception when error then"):]
    saved = "set failure_message = @@error.message;"
    assert saved in handler and handler.index(saved) < handler.index("rollback transaction;"), handler
    after_rollback = handler[handler.index("end;"):]
    assert "@@error" not in after_rollback, "the record or the re-raise reads @@error after the rollback block"
    assert "failure_message" in after_rollback[:after_rollback.index("raise using message")], after_rollback


def test_a_reloaded_partition_with_other_duplicate_rows_gets_another_fingerprint():
    # Evaluated on ZetaSQL's reference implementation: {A, A, B} and {C, C, B} have the same count
    # and the same XOR of row hashes, but are different deliveries.
    from customer360 import zeta

    query = f"select {bigquery_script.PARTITION_FINGERPRINT} from raw.customers as delivered"

    def fingerprint(*ids: str) -> str:
        rows = [{"customer_id": key} for key in ids]
        (row,) = zeta.evaluate(query, {"raw.customers": rows}, {}).rows
        return row[0]

    assert fingerprint("A", "A", "B") != fingerprint("C", "C", "B")
    assert fingerprint("A", "B", "C") == fingerprint("C", "A", "B"), "the fingerprint depends on row order"
    assert fingerprint("A", "B") != fingerprint("A", "B", "B")
    assert f"{bigquery_script.PARTITION_FINGERPRINT} as fingerprint" in daily_script()


def test_only_statements_allowed_in_a_transaction():
    # SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE and temp objects; no DDL on permanent tables
    # (https://cloud.google.com/bigquery/docs/transactions).
    body = statements_between(daily_script(), "begin transaction;", "commit transaction;")
    code = re.sub(r"--[^\n]*", "", body)
    allowed = {"set", "call", "insert", "merge", "update", "delete", "if", "end", "rollback", "return"}
    for statement in (s.strip() for s in code.split(";") if s.strip()):
        first = re.split(r"\s+", statement)[0].lower()
        if first == "if":
            statement = statement[statement.lower().index(" then") + len(" then"):].strip() or "end"
            first = re.split(r"\s+", statement)[0].lower()
        assert first in allowed, f"statement not expected in the transaction: {statement[:120]}"
        assert not re.match(r"(create|drop|alter)\b(?!\s+temp)", statement, re.IGNORECASE), statement[:120]


def test_the_failure_is_recorded_even_when_the_transaction_is_already_gone():
    script = daily_script()
    handler = script[script.index("exception when error then"):]
    rollback = handler[handler.index("begin"):handler.index("end;") + len("end;")]
    assert "rollback transaction;" in rollback and "exception when error then" in rollback, (
        "ROLLBACK must sit in its own block: it fails when the transaction was already cancelled"
    )
    assert handler.index(rollback) < handler.index("insert into ops.pipeline_runs")


def test_jobs_are_labelled_with_valid_labels():
    script = daily_script(environment="prod")
    match = re.search(r'^set @@query_label = "([^"]+)";$', script, flags=re.MULTILINE)
    assert match, "the script must set @@query_label"
    for pair in match[1].split(","):
        key, value = pair.split(":")
        # Lowercase letters, digits, `_` and `-` (https://cloud.google.com/bigquery/docs/labels-intro#requirements).
        assert re.fullmatch(r"[a-z0-9_-]+", key) and re.fullmatch(r"[a-z0-9_-]+", value), pair
    assert "env:prod" in match[1]
    assert script.index("declare") < script.index("set @@query_label"), "declarations must come first"


def test_recorded_columns_exist_and_cover_the_required_ones():
    table = contract.table("ops.pipeline_runs")
    insert = re.search(r"insert into ops\.pipeline_runs \(([^)]*)\)", daily_script())
    columns = [c.strip() for c in insert[1].split(",")]
    unknown = set(columns) - set(table.column_names)
    assert not unknown, f"ops.pipeline_runs has no columns {unknown}"
    missing = {c.name for c in table.columns if c.required} - set(columns)
    assert not missing, f"the script leaves required ops.pipeline_runs columns empty: {missing}"


def test_variables_do_not_shadow_columns():
    # In BigQuery a column of the same name wins over a script variable.
    columns = {c.name for t in contract.ALL_TABLES for c in t.columns}
    declared = re.findall(r"^declare (\w+)", daily_script(), flags=re.MULTILINE)
    assert declared, "no variables found"
    assert not set(declared) & columns, f"variables named like columns: {set(declared) & columns}"


def test_real_names_are_fully_qualified():
    names = {layer: f"c360_{layer}" for layer in contract.DATASETS}
    script = daily_script(names, "acme-project", environment="dev")
    assert "insert into `acme-project.c360_ops.pipeline_runs`" in script
    assert "call `acme-project.c360_silver.step_silver_customers`(@run_date, pipeline_run_id, pipeline_sql_digest);" in script
    code = re.sub(r"--[^\n]*|'[^']*'|`[^`]*`", "", script)
    assert not re.search(r"\b(raw|silver|gold|ops)\.\w+", code), "a logical name survived qualification"



def test_the_missing_deliveries_check_names_exactly_the_daily_sources_without_rows_for_the_day():
    # Evaluated on ZetaSQL's reference implementation over a stand-in for raw's partition listing
    # (the evaluator holds content only for two-part table names).
    import datetime as dt

    from customer360 import zeta
    from customer360.zeta.catalog import Catalog

    catalog = Catalog.from_contract()
    catalog.add_table("raw.partition_listing", [("table_name", "STRING"), ("partition_id", "STRING"), ("total_rows", "INT64")])
    query = f"select ({bigquery_script.missing_sources_query('raw.partition_listing')}) as missing"
    day = dt.date(2026, 1, 6)
    daily = sorted(s.name for s in contract.SOURCES if s.expected == "daily")
    on_change = [s.name for s in contract.SOURCES if s.expected != "daily"]

    def missing(listing: list[tuple[str, str, int]]) -> str | None:
        rows = [{"table_name": t, "partition_id": p, "total_rows": n} for t, p, n in listing]
        (row,) = zeta.evaluate(query, {"raw.partition_listing": rows}, {"run_date": day}, catalog=catalog).rows
        return row[0]

    everything = [(name, "20260106", 10) for name in daily]
    assert missing(everything) is None, "all daily sources arrived, none is missing"
    assert missing([]) == ", ".join(daily)
    late = [(n, p, r) for n, p, r in everything if n != "online_orders"] + [("online_orders", "20260105", 10)]
    assert missing(late) == "online_orders", "only another day's partition of online_orders is held"
    empty = [(n, p, r if n != "customers" else 0) for n, p, r in everything]
    assert missing(empty) == "customers", "a partition without rows is not a delivery"
    assert on_change and all(name not in (missing([]) or "") for name in on_change), "on-change sources are not expected"
    assert f"select held.table_name from {'raw.INFORMATION_SCHEMA.PARTITIONS'} as held" in (
        bigquery_script.missing_deliveries_script()
    )

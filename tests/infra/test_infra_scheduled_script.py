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
    calls = re.findall(r"^\s*call (\w+)\.(\w+)\(@run_date, pipeline_run_id\);", body, flags=re.MULTILINE)
    assert calls == [(s.procedure_dataset, s.procedure_name) for s in contract.PIPELINE], calls
    recorded = re.findall(r"^\s*insert into ops\.pipeline_runs", body, flags=re.MULTILINE)
    assert len(recorded) == len(contract.PIPELINE), "every step must be recorded in ops.pipeline_runs"


def test_failure_rolls_back_records_and_raises():
    script = daily_script()
    handler = script[script.index("exception when error then"):]
    assert handler.index("rollback transaction;") < handler.index("insert into ops.pipeline_runs"), handler
    assert "@@error.message" in handler and "'failed'" in handler, handler
    assert re.search(r"\braise using message\b", handler), "the run must fail so that the alert fires"


def test_only_statements_allowed_in_a_transaction():
    # FACTS.md: SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE and temp objects; no DDL on permanent tables.
    body = statements_between(daily_script(), "begin transaction;", "commit transaction;")
    code = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("--")]
    for line in code:
        first = line.split()[0].lower()
        assert first in {"set", "call", "insert", "values"}, f"statement not expected in the transaction: {line}"


def test_jobs_are_labelled_with_valid_labels():
    script = daily_script(environment="prod")
    match = re.search(r'^set @@query_label = "([^"]+)";$', script, flags=re.MULTILINE)
    assert match, "the script must set @@query_label"
    for pair in match[1].split(","):
        key, value = pair.split(":")
        # FACTS.md: lowercase letters, digits, `_` and `-`.
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
    assert "call `acme-project.c360_silver.step_silver_customers`(@run_date, pipeline_run_id);" in script
    code = re.sub(r"--[^\n]*|'[^']*'|`[^`]*`", "", script)
    assert not re.search(r"\b(raw|silver|gold|ops)\.\w+", code), "a logical name survived qualification"


"""Generates the BigQuery scripts the scheduled queries run: the daily pipeline, and the missing-delivery check.

The daily script finds the raw partitions that are new or changed since they were last processed
(from the raw dataset's INFORMATION_SCHEMA.PARTITIONS, https://cloud.google.com/bigquery/docs/information-schema-partitions),
and runs every step over them inside one transaction, as the local engine does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from customer360 import contract
from customer360.sqlgen import checks
from customer360.sqlgen.text import string_literal

RENDERED_PATH = contract.SCHEDULED_QUERIES_DIR / "daily_pipeline.sql"
RENDERED_FRESHNESS_PATH = contract.SCHEDULED_QUERIES_DIR / "missing_deliveries.sql"
# The environment label the reviewable copy is rendered with; the deployed script carries the stack's.
RENDERED_ENVIRONMENT = "dev"

PIPELINE_RUNS = contract.table("ops.pipeline_runs")
# Columns the script writes in ops.pipeline_runs; every REQUIRED column must be among them.
_RUN_COLUMNS = ("run_id", "run_date", "step", "step_kind", "target_table", "started_at", "finished_at",
                "duration_seconds", "status", "message", "engine", "input_fingerprint")

# Script variables. They must not share a name with any column the statements read:
# in BigQuery a column name wins over a variable of the same name.
_RUN_ID = "pipeline_run_id"
_STARTED_AT = "pipeline_started_at"
_DIGEST = "pipeline_sql_digest"
_STEP = "current_step"
_KIND = "current_step_kind"
_TARGET = "current_target"
_PENDING = "pending_partition_count"
_REFRESH = "full_refresh_needed"
_CANDIDATES = "candidate_days"
_FAILURE = "failure_message"


# The digest of a raw partition's rows (the rows of `delivered`), independent of their order. A sum,
# not BIT_XOR: two identical rows cancel out under XOR, so a re-delivery that swaps one duplicated
# row for another would look unchanged. BIGNUMERIC holds the sum of any partition's INT64 hashes.
PARTITION_FINGERPRINT = (
    "format('%d:%s', count(*), cast(sum(cast(farm_fingerprint(to_json_string(delivered)) as bignumeric)) as string))"
)


def _literal(value: str | None) -> str:
    return string_literal(value)


def query_label(environment: str) -> str:
    """Job labels: lowercase letters, digits, `_` and `-` only, as key:value pairs
    (https://cloud.google.com/bigquery/docs/adding-labels#adding_a_label_to_a_query_job)."""
    return f"app:customer360,env:{environment},pipeline:daily"


def _refresh_raw_partitions(ref) -> list[str]:
    """ops.raw_partitions as INFORMATION_SCHEMA.PARTITIONS of the raw dataset lists them now."""
    sources = ", ".join(_literal(s.name) for s in contract.SOURCES)
    partitions = ref("raw", "INFORMATION_SCHEMA.PARTITIONS")
    held = ref("ops", "raw_partitions")
    return [
        "  -- What raw holds now. A transfer that reloads a day gives its partition a new last_modified_time;",
        "  -- a day whose partition expired is no longer held (silver keeps what it delivered).",
        f"  merge {held} as held",
        "  using (",
        "    select table_name as source, parse_date('%Y%m%d', partition_id) as delivery_date,",
        "      total_rows as row_count, last_modified_time as loaded_at,",
        f"    from {partitions}",
        f"    where table_name in ({sources}) and regexp_contains(partition_id, r'^[0-9]{{8}}$')",
        "  ) as listed",
        "  on held.source = listed.source and held.delivery_date = listed.delivery_date",
        "  when matched and held.loaded_at != listed.loaded_at then update set",
        "    row_count = listed.row_count, loaded_at = listed.loaded_at, fingerprint = cast(null as string)",
        "  when not matched by target then insert (source, delivery_date, row_count, loaded_at)",
        "    values (listed.source, listed.delivery_date, listed.row_count, listed.loaded_at)",
        "  when not matched by source then delete;",
    ]


def _fingerprints(ref) -> list[str]:
    """A digest of each reloaded partition's rows: a reload of the same files is then not a change."""
    held = ref("ops", "raw_partitions")
    ledger = ref("ops", "processed_partitions")
    lines = [
        "  -- The late-delivery transfers reload recent days every day: a reload of the same rows is not a change.",
    ]
    for source in contract.SOURCES:
        name = _literal(source.name)
        lines += [
            f"  set {_CANDIDATES} = (",
            f"    select array_agg(held.delivery_date) from {held} as held",
            f"    where held.source = {name} and held.fingerprint is null",
            "  );",
            f"  if {_CANDIDATES} is not null then",
            f"    update {held} as held set fingerprint = digests.fingerprint",
            "    from (",
            f"      select {contract.RAW_PARTITION_COLUMN} as delivery_date,",
            f"        {PARTITION_FINGERPRINT} as fingerprint,",
            f"      from {ref('raw', source.name)} as delivered",
            f"      where {contract.RAW_PARTITION_COLUMN} in unnest({_CANDIDATES})",
            f"      group by {contract.RAW_PARTITION_COLUMN}",
            "    ) as digests",
            f"    where held.source = {name} and held.delivery_date = digests.delivery_date;",
            "  end if;",
        ]
    lines += [
        "  -- Unchanged content: the ledger takes the new modification time and the day stays processed.",
        f"  update {ledger} as ledger set loaded_at = held.loaded_at",
        f"  from {held} as held",
        "  where ledger.source = held.source and ledger.delivery_date = held.delivery_date",
        "    and ledger.loaded_at != held.loaded_at and ledger.fingerprint = held.fingerprint;",
    ]
    return lines


def _pending(ref) -> list[str]:
    held = ref("ops", "raw_partitions")
    ledger = ref("ops", "processed_partitions")
    run_partitions = ref("ops", "run_partitions")
    source_tables = {s.silver.ref: s for s in contract.SOURCES}
    rebuilt = [t.ref for t in contract.SILVER_TABLES + contract.GOLD_TABLES if t.ref not in source_tables]
    lines = [
        "  -- A day processed under other SQL: every day raw still holds is processed again and everything",
        "  -- derived from silver is rebuilt. A day whose raw partition expired cannot be cleaned again: its",
        "  -- silver rows, rejected rows and ledger row stay (so its old digest no longer asks for a refresh),",
        "  -- and the run's change log lists its rows so the identity map and the intermediates are rebuilt with them.",
        f"  set {_REFRESH} = exists (select 1 from {ledger} as ledger inner join {held} as held",
        "    on held.source = ledger.source and held.delivery_date = ledger.delivery_date",
        f"    where ledger.pipeline_digest != {_DIGEST});",
        f"  if {_REFRESH} then",
    ]
    for table_ref, source in source_tables.items():
        dataset, name = table_ref.split(".")
        lines.append(
            f"    delete from {ref(dataset, name)} where {contract.DELIVERY_DATE_COLUMN} in "
            f"(select held.delivery_date from {held} as held where held.source = {_literal(source.name)});"
        )
    for table_ref, alias in (("ops.processed_partitions", "ledger"), ("ops.rejected_rows", "rejected")):
        dataset, name = table_ref.split(".")
        lines.append(
            f"    delete from {ref(dataset, name)} as {alias} where exists (select 1 from {held} as held "
            f"where held.source = {alias}.source and held.delivery_date = {alias}.delivery_date);"
        )
    counted = {s.identifier_counts.table.ref: s for s in contract.SOURCES if s.identifier_counts}
    for table_ref in rebuilt:
        dataset, name = table_ref.split(".")
        lines.append(f"    delete from {ref(dataset, name)} where true;")
        source = counted.get(table_ref)
        if source is not None:
            # The identifier counts start from the silver rows the refresh keeps; its silver steps move them.
            column = source.identifier_counts.column
            lines.append(
                f"    insert into {ref(dataset, name)} ({column}, row_count) select {column}, count(*) as row_count "
                f"from {ref(*source.silver.ref.split('.'))} where {column} is not null group by {column};"
            )
    lines += [
        "  end if;",
        f"  insert into {run_partitions} (run_id, run_date, source, delivery_date, reason)",
        f"  select {_RUN_ID} as run_id, @run_date as run_date, held.source, held.delivery_date,",
        f"    case when {_REFRESH} then 'full_refresh' when ledger.source is null then 'new' else 'changed' end as reason,",
        f"  from {held} as held",
        f"  left join {ledger} as ledger on held.source = ledger.source and held.delivery_date = ledger.delivery_date",
        "  where ledger.source is null or ledger.loaded_at != held.loaded_at",
        "    or ledger.fingerprint is distinct from held.fingerprint;",
        f"  set {_PENDING} = (select count(*) from {run_partitions} where run_id = {_RUN_ID});",
    ]
    return lines


def _kept_rows_as_changes(ref) -> list[str]:
    """After a full refresh, the silver rows it kept (days whose raw partition expired) as added keys of the run,
    and the identifier counts it rebuilt from them as added values."""
    keys = checks.every_key(tuple(source.silver.ref for source in contract.SOURCES)
                            + tuple(table.ref for table in contract.IDENTIFIER_COUNT_TABLES),
                            table_name=lambda logical: ref(*logical.split(".")))
    return [
        f"  if {_REFRESH} then",
        f"    insert into {ref('ops', 'run_changes')} (run_id, table_name, key_value, key_detail, change, previous)",
        f"    select {_RUN_ID} as run_id, kept.* from (",
        *(f"      {line}" for line in keys.splitlines()),
        "    ) as kept;",
        "  end if;",
    ]


def daily_script(
    dataset_names: Mapping[str, str] | None = None,
    project: str | None = None,
    *,
    environment: str = RENDERED_ENVIRONMENT,
    pipeline: tuple[contract.Step, ...] = contract.PIPELINE,
) -> str:
    """The daily scheduled query's script, for the real dataset names of a stack.

    Without dataset_names/project it renders logical names (`ops.pipeline_runs`), the reviewable
    copy kept at scheduled_queries/daily_pipeline.sql. `@run_date` is the run's date, supplied by
    the scheduled query.
    """
    names = dict(dataset_names or {layer: layer for layer in contract.DATASETS})

    def ref(dataset: str, name: str) -> str:
        if project is None:
            return f"{names[dataset]}.{name}"
        return f"`{project}.{names[dataset]}.{name}`"

    runs = ref("ops", PIPELINE_RUNS.name)
    run_partitions = ref("ops", "run_partitions")
    arguments = ", ".join(
        {"run_date": "@run_date", "run_id": _RUN_ID, "pipeline_digest": _DIGEST}[name] for name in contract.QUERY_PARAMETERS
    )
    first = pipeline[0]

    def record(status: str, message: str, finished_at: str, duration: str, step: str = _STEP, kind: str = _KIND,
               target: str = _TARGET) -> str:
        values = (_RUN_ID, "@run_date", step, kind, target, _STARTED_AT, finished_at, duration,
                  _literal(status), message, "'bigquery'", _DIGEST)
        return f"insert into {runs} ({', '.join(_RUN_COLUMNS)})\n    values ({', '.join(values)});"

    lines = [
        "-- The daily Customer 360 run: every raw partition that is new or changed since it was processed",
        "-- goes through every silver, identity, quality, intermediate and gold step of contract.PIPELINE,",
        "-- in order, in one transaction, so a failed step (a blocking quality check ASSERTs) leaves every",
        "-- table as it was. Generated by customer360/bigquery_script.py; regenerate with `c360 render-scheduled`.",
        "-- Deployed by infra/transform.py as a scheduled query running as the transformer account, with",
        "-- the stack's dataset names and environment label. A script sets no destination table",
        "-- (https://cloud.google.com/bigquery/docs/scheduling-queries#set_up_scheduled_queries).",
        f"declare {_RUN_ID} string default generate_uuid();",
        f"declare {_STARTED_AT} timestamp default current_timestamp();",
        # The digest of the deployed SQL, read from the datasets' routines at run time: a day processed
        # under other SQL is processed again, and the script itself does not change with every SQL edit.
        f"declare {_DIGEST} string default (",
        "  select to_hex(sha256(string_agg(concat(routine_schema, '.', routine_name, ':', routine_definition), '\\n'",
        "    order by routine_schema, routine_name)))",
        "  from (",
        *[
            f"    {'union all ' if i else ''}select routine_schema, routine_name, routine_definition "
            f"from {ref(dataset, 'INFORMATION_SCHEMA.ROUTINES')}"
            for i, dataset in enumerate(("silver", "gold", "ops"))
        ],
        "  )",
        ");",
        f"declare {_STEP} string default 'find pending partitions';",
        f"declare {_KIND} string default 'run';",
        f"declare {_TARGET} string default {_literal(run_partitions.replace('`', ''))};",
        f"declare {_PENDING} int64 default 0;",
        f"declare {_REFRESH} bool default false;",
        f"declare {_CANDIDATES} array<date>;",
        f"declare {_FAILURE} string;",
        "",
        "-- Labels every job below, so run cost is found in INFORMATION_SCHEMA.JOBS.",
        f'set @@query_label = "{query_label(environment)}";',
        "",
        "begin",
        "  begin transaction;",
        "",
        *_refresh_raw_partitions(ref),
        "",
        *_fingerprints(ref),
        "",
        *_pending(ref),
        "",
        f"  if {_PENDING} = 0 then",
        "    -- Nothing new or changed: nothing is written.",
        "    rollback transaction;",
        "    return;",
        "  end if;",
        f"  delete from {ref('ops', 'run_changes')} where true;",
        *_kept_rows_as_changes(ref),
    ]
    for number, step in enumerate(pipeline, start=1):
        procedure = ref(step.procedure_dataset, step.procedure_name)
        call = [
            f"  set ({_STEP}, {_KIND}, {_TARGET}) = "
            f"({_literal(step.name)}, {_literal(step.kind)}, {_literal(step.target)});",
            f"  call {procedure}({arguments});",
            # Inside a transaction current_timestamp() is the transaction's start, so
            # per-step finish times are not observable here; they stay NULL.
            "  " + record("succeeded", "cast(null as string)", "cast(null as timestamp)", "cast(null as float64)"),
        ]
        lines += ["", f"  -- {number}/{len(pipeline)} {step.kind} {step.name}: {step.description}"]
        if step.kind == "silver":
            lines += [
                f"  if exists (select 1 from {run_partitions} where run_id = {_RUN_ID} and source = {_literal(step.source)}) then",
                *("  " + line for line in call),
                "  end if;",
            ]
        else:
            lines += call
    lines += [
        "",
        "  " + record("succeeded", "cast(null as string)", "current_timestamp()",
                      f"timestamp_diff(current_timestamp(), {_STARTED_AT}, millisecond) / 1000",
                      step="'run'", kind="'run'", target="cast(null as string)"),
        "  commit transaction;",
        "exception when error then",
        "  -- Kept first: the ROLLBACK below has its own handler, and an error it raises would replace @@error.",
        f"  set {_FAILURE} = @@error.message;",
        "  -- Nothing of this run is kept. The transaction may already be gone (a concurrent run's commit",
        "  -- can cancel it), and ROLLBACK then fails: it has its own handler, so the failure is still recorded.",
        "  begin",
        "    rollback transaction;",
        "  exception when error then",
        "    select 'the transaction had already ended' as note;",
        "  end;",
        "  " + record(
            "failed", _FAILURE, "current_timestamp()",
            f"timestamp_diff(current_timestamp(), {_STARTED_AT}, millisecond) / 1000",
        ),
        "  raise using message = format(",
        f"    'customer360 daily run %s failed at step %s: %s', {_RUN_ID}, {_STEP}, {_FAILURE});",
        "end;",
        "",
    ]
    return "\n".join(lines)


def missing_sources_query(partitions: str) -> str:
    """The daily sources with no rows for @run_date in PARTITIONS (a raw dataset's partition listing),
    as one comma-separated string, or NULL when all arrived."""
    daily = ", ".join(_literal(s.name) for s in contract.SOURCES if s.expected == "daily")
    # Uncorrelated: the INFORMATION_SCHEMA view is read once, not once per source.
    return "\n".join([
        "select string_agg(source, ', ' order by source)",
        f"from unnest([{daily}]) as source",
        "where source not in (",
        f"  select held.table_name from {partitions} as held",
        "  where held.partition_id = format_date('%Y%m%d', @run_date) and held.total_rows > 0",
        ")",
    ])


def missing_deliveries_script(dataset_names: Mapping[str, str] | None = None, project: str | None = None) -> str:
    """A check that fails (so the transfer-failure alert fires) when an expected daily delivery is missing.

    It runs as its own scheduled query after the pipeline and reads the raw dataset's partitions
    directly: a missing source reaches the alert channels whether or not the pipeline had work, and
    never rolls back the day's run.
    """
    names = dict(dataset_names or {layer: layer for layer in contract.DATASETS})
    partitions = (
        f"{names['raw']}.INFORMATION_SCHEMA.PARTITIONS" if project is None
        else f"`{project}.{names['raw']}.INFORMATION_SCHEMA.PARTITIONS`"
    )
    return "\n".join([
        "-- Fails when a source expected every day has no delivery for the run's date, so the alert on failed",
        "-- transfer runs (infra/monitoring.py) reaches the stack's channels. Generated by",
        "-- customer360/bigquery_script.py; regenerate with `c360 render-scheduled`.",
        "declare missing_sources string default (",
        *("  " + line for line in missing_sources_query(partitions).splitlines()),
        ");",
        "if missing_sources is not null then",
        "  raise using message = format('customer360: no delivery for %t from %s', @run_date, missing_sources);",
        "end if;",
        "",
    ])


def render_scheduled_query(path: Path = RENDERED_PATH) -> Path:
    """Writes the reviewable copies of the scheduled scripts (logical dataset names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(daily_script(), encoding="utf-8")
    freshness = path.with_name(RENDERED_FRESHNESS_PATH.name)
    freshness.write_text(missing_deliveries_script(), encoding="utf-8")
    return path

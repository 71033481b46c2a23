"""Every pipeline step computes on DuckDB what ZetaSQL's reference evaluator (BigQuery's semantics) computes."""

from __future__ import annotations

import datetime as dt
import functools
import json

import duckdb
import pytest

from customer360 import contract, lineage, sqlgen
from customer360.sqlgen import derived
from worker_shared import computed_once
from zeta_harness import (  # noqa: F401  (reference is a fixture)
    PREVIOUS_DAY,
    RUN_DATE,
    all_raw_tables,
    as_rows,
    differential,
    duckdb_with,
    reference,
    run_reference,
    silver_tables,
)

SEEDS = (7, 8)
INTERMEDIATES = [s for s in contract.PIPELINE if s.intermediate is not None]


def _run_changes(tables: dict) -> list[dict]:
    """Every silver key as written by a run (one updated and one removed too), as ops.run_changes holds them."""
    changes = []
    keyed = [(s.silver.ref, s.primary_key) for s in contract.SOURCES]
    for ref, key in keyed:
        for number, row in enumerate(tables.get(ref, [])):
            if row.get(key[0]) is None:
                continue
            change = "updated" if number == 1 else "added"
            previous = json.dumps({c: row.get(c) for c in ("email", "phone", "customer_id", "category",
                                                          "loyalty_card_id") if c in row}) if number == 1 else None
            changes.append({
                "run_id": "run-0001", "table_name": ref, "key_value": str(row[key[0]]),
                "key_detail": "|".join(str(row[k]) for k in key[1:]) or None, "change": change, "previous": previous,
            })
        changes.append({"run_id": "run-0001", "table_name": ref, "key_value": "WITHDRAWN", "key_detail": "1"
                        if len(key) > 1 else None, "change": "removed",
                        "previous": json.dumps({"customer_id": "C2", "email": "bo@y.org", "category": "Toys"})})
    # The identifier counts: every value moved (one of them added), and one value gone from every line.
    for table in contract.IDENTIFIER_COUNT_TABLES:
        column = table.key[0]
        for number, row in enumerate(tables.get(table.ref, [])):
            changes.append({"run_id": "run-0001", "table_name": table.ref, "key_value": row[column], "key_detail": None,
                            "change": "added" if number == 0 else "updated",
                            "previous": None if number == 0 else json.dumps({"row_count": row["row_count"] + 1})})
        changes.append({"run_id": "run-0001", "table_name": table.ref, "key_value": "GONE", "key_detail": None,
                        "change": "removed", "previous": json.dumps({"row_count": 1})})
    return changes


def _identity_changes(identity: list[dict]) -> list[dict]:
    return [
        {"run_id": "run-0001", "table_name": "silver.customer_identity", "key_value": row["source_id"],
         "key_detail": row["source"], "change": "updated",
         "previous": json.dumps({"customer_key": "C3", "match_rule": "email", "is_primary_card": None})}
        for number, row in enumerate(identity) if number % 3 == 0
    ]


@functools.cache
def _chain(seed: int) -> dict:
    """Raw and silver as generated, then what every identity, intermediate and gold step writes that another step
    reads (the step graph, customer360.lineage), each computed on the reference evaluator in the graph's order;
    and the change log and the ledger as a run leaves them. Computed once per session (some seconds a seed)."""
    return computed_once(f"differential-chain-{seed}", lambda: _computed_chain(seed))


@functools.cache
def _held_chain(seed: int) -> duckdb.DuckDBPyConnection:
    """_chain(seed) loaded once into an in-memory DuckDB warehouse, which every step's query then reads."""
    return duckdb_with(_chain(seed))


def _computed_chain(seed: int) -> dict:
    graph = lineage.graph()
    tables = {**all_raw_tables(seed), **silver_tables(seed)}
    read_by_others = {d.table for d in graph.dependencies}
    for derived_step in graph.steps:
        step = derived_step.step
        if step.kind not in ("identity", "intermediate", "gold") or not read_by_others & set(derived_step.writes):
            continue
        tables[step.target] = as_rows(run_reference(sqlgen.step_query(step), tables))
        for totals in step.intermediate.totals if step.intermediate else ():
            if totals is step.intermediate.totals[0]:
                tables[totals.table] = []
            tables[totals.table] += as_rows(run_reference(derived.totals_definition(step, totals), tables))
            if totals.member_count:
                tables[totals.member_count[2]] = as_rows(
                    run_reference(derived.multiplicity_definition(step, totals), tables))
    tables["ops.run_changes"] = _run_changes(tables) + _identity_changes(tables["silver.customer_identity"])
    _ledger(tables)
    return tables


def _ledger(tables: dict) -> None:
    """ops.raw_partitions, ops.processed_partitions and ops.rejected_rows as a run leaves them (one day wrong)."""
    raw, processed, rejected = [], [], []
    for number, source in enumerate(contract.SOURCES):
        staged = as_rows(run_reference(sqlgen.step_query(contract.STEPS_BY_NAME[source.silver.name]), tables))
        rejects = [r for r in staged if r["rejection_reason"] is not None and r["_row_kind"] != "header"]
        headers = sum(r["_row_kind"] == "header" for r in staged)
        raw.append({"source": source.name, "delivery_date": RUN_DATE, "row_count": len(staged) + (number == 2),
                    "loaded_at": dt.datetime(2024, 3, 11, tzinfo=dt.timezone.utc)})
        processed.append({
            "source": source.name, "delivery_date": RUN_DATE, "loaded_at": dt.datetime(2024, 3, 11, tzinfo=dt.timezone.utc),
            "scanned_rows": len(staged), "header_rows": headers,
            "header_like_rows": sum(r["_row_kind"] == "header_like" for r in staged),
            "accepted_rows": len(staged) - headers - len(rejects), "rejected_rows": len(rejects),
            "accepted_keys_missing": 1 if number == 5 else 0, "pipeline_digest": "d", "run_id": "run-0001",
            "processed_at": dt.datetime(2024, 3, 11, tzinfo=dt.timezone.utc),
        })
        rejected += [{"source": source.name, "delivery_date": RUN_DATE, "reason": r["rejection_reason"],
                      "record_key": r["record_key"], "raw_values": r["raw_record"], "run_id": "run-0001"}
                     for r in rejects]
    raw.append({"source": "stores", "delivery_date": PREVIOUS_DAY, "row_count": 3,
                "loaded_at": dt.datetime(2024, 3, 10, tzinfo=dt.timezone.utc)})
    tables["ops.raw_partitions"], tables["ops.processed_partitions"], tables["ops.rejected_rows"] = raw, processed, rejected


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: f"{s.kind}/{s.name}")
def test_step_gives_the_same_rows_on_duckdb_as_on_bigquery_reference(reference, step, seed):
    label = f"step {step.name} ({step.sql_file or 'generated from the contract'}, data seed {seed})"
    answer = differential(label, sqlgen.step_query(step), _chain(seed), held=_held_chain(seed))
    if step.kind in ("silver", "identity", "intermediate", "gold") and seed == SEEDS[0]:
        assert answer.rows, f"{label}: the inputs produce no rows, so the comparison proves nothing"


@pytest.mark.parametrize("step", INTERMEDIATES, ids=lambda s: s.name)
def test_touched_entities_are_the_same_on_duckdb_as_on_bigquery_reference(reference, step):
    label = f"touched entities of {step.name} ({step.touched_path.name})"
    answer = differential(label, step.touched_path.read_text(encoding="utf-8"), _chain(SEEDS[0]),
                          held=_held_chain(SEEDS[0]))
    assert answer.rows, f"{label}: the run changes touch nothing, so the comparison proves nothing"


@pytest.mark.parametrize("step", [s for s in INTERMEDIATES if s.kind == "intermediate"], ids=lambda s: s.name)
def test_totals_definitions_are_the_same_on_duckdb_as_on_bigquery_reference(reference, step):
    for totals in step.intermediate.totals:
        differential(f"{totals.table} from {step.target}", derived.totals_definition(step, totals), _chain(SEEDS[0]),
                     held=_held_chain(SEEDS[0]))

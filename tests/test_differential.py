"""Every pipeline step computes on DuckDB what ZetaSQL's reference evaluator (BigQuery's semantics) computes."""

from __future__ import annotations

import pytest

from collections import Counter

from customer360 import contract, lineage, sqlgen, zeta
from zeta_harness import (  # noqa: F401  (reference is a fixture)
    RUN_DATE,
    all_raw_tables,
    as_rows,
    differential,
    reference,
    run_reference,
    silver_tables,
)

SEEDS = (7, 8)


def _totals(totals: contract.Totals, entity: tuple[str, ...], rows: list[dict]) -> dict[str, list[dict]]:
    """A totals table (and its member multiplicity table) over an intermediate's rows, as the contract defines it."""
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = groups.setdefault(tuple(row[c] for c in totals.group_by), {"entities": set(), "rows": []})
        group["entities"].add(tuple(row[c] for c in entity))
        group["rows"].append(row)
    table, multiplicity = [], []
    for key, group in groups.items():
        out = dict(zip(totals.group_by, key))
        out[totals.entity_count] = len(group["entities"])
        for target, source in totals.sums:
            out[target] = sum((r[source] for r in group["rows"] if r[source] is not None), 0)
        if totals.member_count:
            target, member, _, count = totals.member_count
            members = Counter(r[member] for r in group["rows"] if r[member] is not None)
            out[target] = len(members)
            multiplicity += [{**dict(zip(totals.group_by, key)), member: m, count: n} for m, n in members.items()]
        table.append(out)
    written = {totals.table: table}
    if totals.member_count:
        written[totals.member_count[2]] = multiplicity
    return written


def _rejected_rows(tables: dict) -> list[dict]:
    """ops.rejected_rows as the silver steps write it: the rejected rows of their staged raw rows."""
    rejected = []
    for source in contract.SOURCES:
        staged = run_reference(sqlgen.step_query(contract.STEPS_BY_NAME[source.silver.name]), tables)
        rejected += [
            {"source": source.name, "delivery_date": RUN_DATE, "reason": r["rejection_reason"],
             "record_key": r["record_key"], "raw_values": r["raw_record"], "run_id": "run-0001"}
            for r in as_rows(staged) if r["rejection_reason"] is not None
        ]
    return rejected


def _inputs_for(step: contract.Step, seed: int) -> dict:
    """The tables STEP reads, from the step graph: raw deliveries and typed silver rows as generated, and what its
    upstream identity, intermediate and gold steps write computed on the reference evaluator (their totals as the
    contract defines them); rejected rows from the silver steps' staged rows. Run bookkeeping stays empty."""
    graph = lineage.graph()
    tables = {**all_raw_tables(seed), **silver_tables(seed)}
    for name in graph.ancestors(step.name):
        upstream = contract.STEPS_BY_NAME[name]
        if upstream.kind not in ("identity", "intermediate", "gold"):
            continue
        rows = as_rows(run_reference(sqlgen.step_query(upstream), tables))
        tables[upstream.target] = rows
        for totals in upstream.intermediate.totals if upstream.intermediate else ():
            tables.update(_totals(totals, upstream.intermediate.entity, rows))
    reads = graph.lineage(step.name).dependency_reads
    if "ops.rejected_rows" in reads:
        tables["ops.rejected_rows"] = _rejected_rows(tables)
    return tables


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: f"{s.kind}/{s.name}")
def test_step_gives_the_same_rows_on_duckdb_as_on_bigquery_reference(reference, step, seed):
    label = f"step {step.name} ({step.sql_file or 'generated from the contract'}, data seed {seed})"
    answer = differential(label, sqlgen.step_query(step), _inputs_for(step, seed))
    if step.kind in ("silver", "identity", "gold") and seed == SEEDS[0]:
        assert answer.rows, f"{label}: the inputs produce no rows, so the comparison proves nothing"

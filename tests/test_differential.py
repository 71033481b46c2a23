"""Every pipeline step computes on DuckDB what ZetaSQL's reference evaluator (BigQuery's semantics) computes."""

from __future__ import annotations

import pytest

from customer360 import contract, sqlgen, zeta
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


def _inputs_for(step: contract.Step, seed: int) -> dict:
    """Raw deliveries, typed silver rows, the identity map and customer segments as the step reads them."""
    tables = {**all_raw_tables(seed), **silver_tables(seed)}
    identity_step = contract.STEPS_BY_NAME["customer_identity"]
    if step.kind in ("gold", "quality") and step.name != "customer_identity":
        identity = run_reference(sqlgen.step_query(identity_step), tables)
        tables["silver.customer_identity"] = as_rows(identity)
    if step.name == "customer_360":
        segments = run_reference(sqlgen.step_query(contract.STEPS_BY_NAME["customer_segments"]), tables)
        tables["gold.customer_segments"] = as_rows(segments)
    if step.name == "conservation":
        rejected = []
        for source in contract.SOURCES:
            staged = run_reference(sqlgen.step_query(contract.STEPS_BY_NAME[source.silver.name]), tables)
            rejected += [
                {"source": source.name, "delivery_date": RUN_DATE, "reason": r["rejection_reason"],
                 "record_key": r["record_key"], "raw_values": r["raw_record"], "run_id": "run-0001"}
                for r in as_rows(staged) if r["rejection_reason"] is not None
            ]
        tables["ops.rejected_rows"] = rejected
    return tables


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: f"{s.kind}/{s.name}")
def test_step_gives_the_same_rows_on_duckdb_as_on_bigquery_reference(reference, step, seed):
    label = f"step {step.name} ({step.sql_file or 'generated from the contract'}, data seed {seed})"
    answer = differential(label, sqlgen.step_query(step), _inputs_for(step, seed))
    if step.kind in ("silver", "identity", "gold") and seed == SEEDS[0]:
        assert answer.rows, f"{label}: the inputs produce no rows, so the comparison proves nothing"

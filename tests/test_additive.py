"""Additive intermediates (contract.Additive): silver.customer_metrics adds a customer's new orders to the
stored figures instead of recomputing them from the customer's whole history.

Each case runs a few deliveries and checks, after every run, that the incremental warehouse equals a full
refresh of a copy, and which customers took the merge path and which were recomputed (the work tables the
step creates, read as the step runs).
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlglot.lineage import lineage

from customer360 import contract, engine
from customer360.sqlgen import derived
from customer360.sqlgen.text import strip_comments
from pipeline_harness import DAY1, Pipeline, customer, member, order_line, sale_line, ticket, without_run_ids, snapshot

STEP = contract.STEPS_BY_NAME["customer_metrics"]
DAY2, DAY3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)


@pytest.fixture
def merge_paths(monkeypatch):
    """Per run of customer_metrics: (customers merged, customers recomputed), read from its work tables."""
    seen: list[tuple[set[str], set[str]]] = []
    execute_step = engine._execute_step

    class Watching:
        def __init__(self, connection):
            self._connection = connection

        def execute(self, sql, *parameters):
            result = self._connection.execute(sql, *parameters)
            if f"TABLE {derived._recompute_table(STEP)} AS".upper() in sql.upper().replace("TEMPORARY ", ""):
                merged = {k for (k,) in self._connection.execute(f"SELECT customer_key FROM {derived._delta_table(STEP)}").fetchall()}
                again = {k for (k,) in self._connection.execute(f"SELECT entity_id FROM {derived._recompute_table(STEP)}").fetchall()}
                seen.append((merged, again))
            return result

        def __getattr__(self, name):
            return getattr(self._connection, name)

    def watched(connection, step, *arguments, **options):
        return execute_step(Watching(connection) if step.name == STEP.name else connection, step, *arguments, **options)

    monkeypatch.setattr(engine, "_execute_step", watched)
    return seen


def assert_same_as_a_full_refresh(pipeline: Pipeline, day: dt.date, tmp_path) -> None:
    copy = tmp_path / f"refreshed-{day}.duckdb"
    shutil.copy(pipeline.warehouse, copy)
    engine.run(copy, day, full_refresh=True)
    derived_tables = [t.ref for t in contract.SILVER_TABLES + contract.GOLD_TABLES]
    incremental = without_run_ids({k: v for k, v in snapshot(pipeline.warehouse).items() if k in derived_tables})
    refreshed = without_run_ids({k: v for k, v in snapshot(copy).items() if k in derived_tables})
    for name in derived_tables:
        assert incremental.get(name) == refreshed.get(name), (
            f"{name} after the run of {day} differs from a full refresh:\n"
            f"incremental only: {sorted(set(incremental.get(name, [])) - set(refreshed.get(name, [])), key=repr)[:5]}\n"
            f"refreshed only: {sorted(set(refreshed.get(name, [])) - set(incremental.get(name, [])), key=repr)[:5]}"
        )


def metrics(pipeline: Pipeline, key: str) -> dict:
    return pipeline.one(f"SELECT * FROM silver.customer_metrics WHERE customer_key = '{key}'")


def test_new_orders_are_added_to_the_stored_figures_and_changed_ones_recomputed(tmp_path, merge_paths):
    pipeline = Pipeline(tmp_path)
    pipeline.run({
        "customers": [customer("C1"), customer("C2"), customer("C3")],
        "online_orders": [order_line("O1", customer_id="C1", unit_price="10.00"),
                          order_line("O2", customer_id="C2", unit_price="20.00", order_ts="2026-01-05 11:00:00")],
        "support_tickets": [ticket("K1", customer_id="C1"), ticket("K3", customer_id="C3", csat_score="4")],
    }, DAY1)
    assert merge_paths[-1][0] == set(), "on the first day every customer is new: nothing to merge into"
    assert_same_as_a_full_refresh(pipeline, DAY1, tmp_path)

    pipeline.run({
        # C1: a new order and its ticket closed; C2: its order re-delivered, cancelled; C3: its first order.
        "online_orders": [order_line("O3", customer_id="C1", unit_price="5.00", order_ts="2026-01-06 09:30:00"),
                          order_line("O2", customer_id="C2", unit_price="20.00", order_ts="2026-01-05 11:00:00",
                                     order_status="cancelled"),
                          order_line("O4", customer_id="C3", unit_price="7.50", order_ts="2026-01-06 08:00:00")],
        "support_tickets": [ticket("K1", customer_id="C1", status="closed", resolved_at="2026-01-06 10:00:00",
                                   created_at="2026-01-05 09:00:00")],
    }, DAY2)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY2, tmp_path)
    assert {"C1", "C3"} <= merged, f"C1 and C3 only gained orders, yet were not merged: merged {merged}"
    assert "C2" in recomputed and "C2" not in merged, f"C2's order changed: it must be recomputed ({merge_paths[-1]})"
    one = metrics(pipeline, "C1")
    assert (one["online_order_count"], str(one["online_revenue"]), one["open_ticket_count"]) == (2, "15.000000000", 0), one
    assert str(one["first_order_at"]).startswith("2026-01-05 10:00:00") and str(one["last_order_at"]).startswith("2026-01-06 09:30:00"), one
    three = metrics(pipeline, "C3")
    assert (three["online_order_count"], three["support_ticket_count"], three["csat_sum"]) == (1, 1, 4), three

    pipeline.run({
        # K3 moves from C3 to C1: C3 keeps its order and loses its only ticket; C4 is a new customer.
        "customers": [customer("C4")],
        "online_orders": [order_line("O5", customer_id="C4", order_ts="2026-01-07 12:00:00")],
        "support_tickets": [ticket("K3", customer_id="C1", csat_score="4", created_at="2026-01-05 09:00:00")],
    }, DAY3)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY3, tmp_path)
    assert "C4" in recomputed and "C4" not in merged, f"C4 has no stored figures to merge into ({merge_paths[-1]})"
    assert "C1" in merged, f"C1 only gained a ticket: its order figures stay, its ticket figures are computed ({merged})"
    three = metrics(pipeline, "C3")
    assert (three["online_order_count"], three["support_ticket_count"], three["csat_sum"]) == (1, 0, None), three


def test_a_customer_left_with_no_order_and_no_ticket_loses_its_row(tmp_path, merge_paths):
    pipeline = Pipeline(tmp_path)
    pipeline.run({"customers": [customer("C1"), customer("C2")],
                  "support_tickets": [ticket("K1", customer_id="C1")]}, DAY1)
    pipeline.run({"support_tickets": [ticket("K1", customer_id="C2")]}, DAY2)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY2, tmp_path)
    assert pipeline.query("SELECT count(*) FROM silver.customer_metrics WHERE customer_key = 'C1'") == [(0,)]
    assert "C1" in recomputed and "C1" not in merged, f"C1 has nothing left to merge: recomputed, and gone ({merge_paths[-1]})"


def test_orders_moved_by_identity_store_sales_and_shared_orders_merge_or_recompute_as_a_full_refresh(tmp_path, merge_paths):
    pipeline = Pipeline(tmp_path)
    pipeline.run({
        "customers": [customer("C1", email="ann@x.com"), customer("C2"), customer("C3")],
        "loyalty_members": [member("L1", customer_id="C3")],
        "online_orders": [order_line("O1", customer_id="C1"), order_line("O2", customer_id="C2")],
        "store_sales": [sale_line("T1", loyalty_card_id="L1")],
    }, DAY1)
    pipeline.run({
        # O1 re-delivered under C2 (C1 loses it: recomputed; C2 gains it: merged); C3's card buys again and
        # C3 files a ticket the same day; O6 has one line for C1 and one for C3.
        "online_orders": [order_line("O1", customer_id="C2"),
                          order_line("O6", "1", customer_id="C1", order_ts="2026-01-06 10:00:00"),
                          order_line("O6", "2", customer_id="C3", order_ts="2026-01-06 10:00:00")],
        "store_sales": [sale_line("T2", loyalty_card_id="L1", transaction_ts="2026-01-06 12:00:00")],
        "support_tickets": [ticket("K1", customer_id="C3", created_at="2026-01-06 09:00:00")],
    }, DAY2)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY2, tmp_path)
    assert "C1" in recomputed, f"C1 lost O1: it must be recomputed ({merge_paths[-1]})"
    assert {"C2", "C3"} <= merged, f"C2 and C3 only gained orders and a ticket: merged ({merge_paths[-1]})"
    assert (metrics(pipeline, "C3")["store_transaction_count"], metrics(pipeline, "C3")["online_order_count"]) == (2, 1)
    pipeline.run({
        # The card L1 is re-linked from C3 to C1 (by its customer_id): both store transactions move.
        "loyalty_members": [member("L1", customer_id="C1", updated_at="2026-01-07 00:00:00")],
    }, DAY3)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY3, tmp_path)
    assert "C3" in recomputed and "C1" in merged, f"the card's sales leave C3 and join C1 ({merge_paths[-1]})"
    assert metrics(pipeline, "C1")["store_transaction_count"] == 2 and metrics(pipeline, "C3")["store_transaction_count"] == 0
    pipeline.run({
        # Day 2 re-delivered without O6: both of its customers lose an order.
        "online_orders": [order_line("O1", customer_id="C2")],
        "store_sales": [sale_line("T2", loyalty_card_id="L1", transaction_ts="2026-01-06 12:00:00")],
        "support_tickets": [ticket("K1", customer_id="C3", created_at="2026-01-06 09:00:00")],
    }, DAY2)
    merged, recomputed = merge_paths[-1]
    assert_same_as_a_full_refresh(pipeline, DAY2, tmp_path)
    assert {"C1", "C3"} <= recomputed, f"O6 left: C1 and C3 are recomputed ({merge_paths[-1]})"


def test_the_merged_columns_read_only_the_source_and_the_others_never_read_it():
    additive = STEP.intermediate.additive
    definition = strip_comments(STEP.path.read_text(encoding="utf-8"))
    merged = dict(additive.merges)
    for column in contract.table(STEP.target).column_names:
        if column in STEP.intermediate.entity:
            continue
        node = lineage(column, definition, None, dialect="bigquery")
        tables = {f"{n.source.db}.{n.source.name}" for n in node.walk() if n.source.key == "table"}
        if column in merged:
            assert tables == {additive.source}, f"{STEP.target}.{column} is merged by {merged[column]} but reads {tables}"
        else:
            assert additive.source not in tables, f"{STEP.target}.{column} is kept as computed but reads {additive.source}"

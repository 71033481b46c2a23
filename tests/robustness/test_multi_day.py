"""Several deliveries over days: day by day versus all at once, backfills, re-deliveries and identity re-links."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from customer360 import engine
from customer360.generate import generate
from pipeline_harness import (
    DAY1,
    DAY2,
    Pipeline,
    account,
    comparable,
    customer,
    member,
    order_line,
    sale_line,
    snapshot,
    ticket,
    without_delivery_dates,
    without_run_ids,
    write_delivery,
)

DAY3 = DAY2 + dt.timedelta(days=1)

# Three days in which every record delivered again on a later day either is identical or carries a later
# (or, for a stale copy, an earlier) updated_at: the order of the deliveries is recoverable from the data.
THREE_DAYS = {
    DAY1: {
        "customers": [customer("C1", email="ann@x.com"), customer("C2", email="bo@x"), customer("")],
        "products": [{"product_id": "P1", "product_name": "Mug", "category": "Kitchen", "unit_price": "10",
                      "updated_at": "2026-01-01"},
                     {"product_id": "P2", "product_name": "Cup", "category": "Kitchen", "unit_price": "5",
                      "updated_at": "2026-01-01"}],
        "stores": [{"store_id": "S1", "store_name": "Main", "region": "South"}],
        "loyalty_members": [member("L1", customer_id="C1", tier="gold"), member("L2", email="bo@x.com", tier="silver")],
        "online_orders": [order_line("O1", "1", customer_id="C1"), order_line("O1", "2", customer_id="C1", product_id="P2"),
                          order_line("O2", customer_id="C2", quantity="0")],
        "store_sales": [sale_line("T1", loyalty_card_id="L1", unit_price="20"), sale_line("T2", loyalty_card_id="L2")],
        "support_tickets": [ticket("K1", customer_id="C1"), ticket("K2", customer_email="bo@x.com")],
        "support_agents": [{"agent_id": "A1", "agent_name": "Ada", "team": "Billing"}],
    },
    DAY2: {
        "customers": [customer("C2", email="bo@x.com", updated_at="2026-01-02 00:00:00"), customer("C3")],
        "products": [{"product_id": "P1", "product_name": "Mug", "category": "Kitchen", "unit_price": "12",
                      "updated_at": "2026-01-02"}],
        "loyalty_members": [member("L1", customer_id="C1", tier="platinum", updated_at="2026-01-02 00:00:00")],
        "online_orders": [order_line("O3", customer_id="C3", order_ts="2026-01-06 08:00:00"),
                          order_line("O1", "1", customer_id="C1")],
        "store_sales": [sale_line("T3", store_id="S2", transaction_ts="2026-01-06 18:30:00")],
        "support_tickets": [ticket("K3", customer_id="C3", status="resolved", resolved_at="2026-01-06 10:00:00",
                                   csat_score="4"),
                            ticket("K4", channel="fax")],
    },
    DAY3: {
        "customers": [customer("C1", email="stale@x.com", updated_at="2025-12-31 00:00:00")],
        "online_orders": [order_line("O4", customer_id="C1", channel="mobile_app", order_ts="2026-01-07 21:00:00")],
        "support_tickets": [ticket("K1", customer_id="C1")],
        "support_agents": [{"agent_id": "A1", "agent_name": "Ada", "team": "Billing"},
                           {"agent_id": "A2", "agent_name": "Bob"}],
    },
}


def all_at_once(folder: Path, days: dict[dt.date, dict[str, list]]) -> Path:
    """One delivery holding every day's files as parts: <source>/<day>.csv."""
    for day, rows_by_source in days.items():
        parts = write_delivery(folder / f".{day}", rows_by_source)
        for file in parts.glob("*.csv"):
            (folder / file.stem).mkdir(parents=True, exist_ok=True)
            shutil.move(file, folder / file.stem / f"{day}.csv")
        shutil.rmtree(parts)
    return folder


def tables(warehouse: Path, dataset: str) -> dict[str, list[tuple]]:
    return {name: rows for name, rows in snapshot(warehouse).items() if name.startswith(f"{dataset}.")}


def rejected_rows_without_day(warehouse: Path) -> list[tuple]:
    """(source, reason, record_key, raw_values) of every rejected row."""
    return sorted((row[0], row[2], row[3], row[4]) for row in snapshot(warehouse)["ops.rejected_rows"])


def test_day_by_day_gives_the_same_gold_as_all_days_delivered_at_once(tmp_path):
    """Equal: gold; silver except `_delivery_date`; rejected rows except their delivery day.

    Why this and no more: delivered at once, every row has the same delivery day, so `_delivery_date`,
    the raw partitions and ops.rejected_rows.delivery_date necessarily differ. Gold is equal because
    de-duplication never needs the delivery day here: a record delivered again is identical or carries
    another updated_at (the next test shows the one case where the delivery day decides).
    """
    daily = Pipeline(tmp_path / "daily")
    for day, rows_by_source in THREE_DAYS.items():
        daily.run(rows_by_source, day)
    once = tmp_path / "once.duckdb"
    engine.run_delivery(all_at_once(tmp_path / "all-days", THREE_DAYS), DAY3, once)

    assert comparable(tables(daily.warehouse, "gold")) == comparable(tables(once, "gold"))
    assert without_delivery_dates(tables(daily.warehouse, "silver")) == without_delivery_dates(tables(once, "silver"))
    assert rejected_rows_without_day(daily.warehouse) == rejected_rows_without_day(once)
    # The data exercised what it should: a stale copy, a price change, a re-linked member, an unknown store.
    assert daily.query("SELECT email FROM silver.customers WHERE customer_id = 'C1'") == [("ann@x.com",)]
    assert daily.query("SELECT unit_price FROM silver.products WHERE product_id = 'P1'")[0][0] == 12
    assert daily.query("SELECT customer_key FROM silver.customer_identity "
                       "WHERE source = 'loyalty_members' AND source_id = 'L2'") == [("C2",)]
    assert daily.query("SELECT count(*) FROM gold.customer_360") == [(3,)]


def test_without_updated_at_the_delivery_day_is_what_all_at_once_cannot_know(tmp_path):
    """An order line re-delivered with another status and no updated_at: day by day the later delivery
    wins (docs/pipeline-rules.md#de-duplication); delivered at once both copies share one delivery day and the deterministic tie-break on
    the cleaned values decides ('completed' sorts before 'returned'). This is the only way the two differ."""
    days = {DAY1: {"online_orders": [order_line("O1", order_status="completed")]},
            DAY2: {"online_orders": [order_line("O1", order_status="returned")]}}
    daily = Pipeline(tmp_path / "daily")
    for day, rows_by_source in days.items():
        daily.run(rows_by_source, day)
    once = Pipeline(tmp_path)
    engine.run_delivery(all_at_once(tmp_path / "all-days", days), DAY2, once.warehouse)
    assert daily.query("SELECT order_status FROM silver.online_order_lines") == [("returned",)]
    assert once.query("SELECT order_status FROM silver.online_order_lines") == [("completed",)]


def test_backfilling_an_old_day_after_later_days_ends_as_delivering_in_order(tmp_path):
    """Generated deliveries (dirty, with status changes, stale versions and late records) run in order and
    with the first day backfilled last give identical warehouses, run logs aside."""
    report = generate(tmp_path / "data", days=3, scale=0.05, seed=11, dirty_rate=0.05)
    deliveries = list(zip(report.delivery_dates, report.day_dirs))
    in_order, backfilled = tmp_path / "in-order.duckdb", tmp_path / "backfilled.duckdb"
    for day, folder in deliveries:
        engine.run_delivery(folder, day, in_order)
    for day, folder in deliveries[1:] + deliveries[:1]:
        engine.run_delivery(folder, day, backfilled)

    expected = comparable(without_run_ids(snapshot(in_order)))
    found = comparable(without_run_ids(snapshot(backfilled)))
    for name in expected:
        assert found[name] == expected[name], f"{name} differs when {deliveries[0][0]} is backfilled last"
    for day, _ in deliveries:
        for source, rows in account(backfilled, day).items():
            assert rows.raw == report.row_counts[day][source], f"{source} {day}: raw rows lost"
            assert rows.unaccounted == 0, f"{source} {day}: {rows.unaccounted} rows neither kept nor rejected"


def test_a_corrected_redelivery_of_a_day_replaces_that_days_values(tmp_path):
    """A day delivered again with corrections wins over what the first delivery of that day left in silver,
    even where the old values would win the tie-break, and ends as if only the correction was delivered."""
    first = {"online_orders": [order_line("O1", quantity="5")],
             "customers": [customer("C1", first_name="Ana")],
             "stores": [{"store_id": "S1", "store_name": "Central"}]}
    corrected = {"online_orders": [order_line("O1", quantity="7")],
                 "customers": [customer("C1", first_name="Anna")],
                 "stores": [{"store_id": "S1", "store_name": "Main"}]}
    later = {"online_orders": [order_line("O2")]}
    pipeline = Pipeline(tmp_path / "redelivered")
    pipeline.run(first, DAY1)
    pipeline.run(later, DAY2)
    pipeline.run(corrected, DAY1)
    assert pipeline.query("SELECT quantity FROM silver.online_order_lines WHERE order_id = 'O1'") == [(7,)]
    assert pipeline.query("SELECT first_name FROM silver.customers") == [("Anna",)]
    assert pipeline.query("SELECT store_name FROM silver.stores") == [("Main",)]

    only_corrected = Pipeline(tmp_path / "only-corrected")
    only_corrected.run(corrected, DAY1)
    only_corrected.run(later, DAY2)
    assert comparable(without_run_ids(snapshot(pipeline.warehouse))) == comparable(
        without_run_ids(snapshot(only_corrected.warehouse))
    )


def test_identity_relinks_both_ways_when_later_deliveries_change_an_email(tmp_path):
    """A loyalty member without customer_id links to the CRM customer by e-mail. The CRM e-mail is invalid
    on day 1 (member and its sales are a loyalty-only identity), fixed on day 2 (member, its day-1 sale and
    the ticket move to C1, the loyalty-only identity disappears), changed again on day 3 (back)."""
    pipeline = Pipeline(tmp_path)
    pipeline.run(
        {
            "customers": [customer("C1", email="ann@x", updated_at="2026-01-01 00:00:00")],
            "loyalty_members": [member("L1", email="ann@x.com", tier="gold", points_balance="100")],
            "store_sales": [sale_line("T1", loyalty_card_id="L1", unit_price="50")],
            "support_tickets": [ticket("K1", customer_email="ANN@x.com")],
        },
        DAY1,
    )

    def owners() -> dict[str, str | None]:
        """Who owns the member, its card's sales and the ticket."""
        return {
            f"{source}:{source_id}": key
            for source, source_id, key in pipeline.query(
                "SELECT source, source_id, customer_key FROM silver.customer_identity "
                "WHERE source IN ('loyalty_members', 'store_sales', 'support_tickets')"
            )
        }

    def owned_by(key: str) -> dict[str, str]:
        return {"loyalty_members:L1": key, "store_sales:L1": key, "support_tickets:K1": key}

    assert owners() == owned_by("L-L1")
    assert pipeline.query("SELECT customer_key, store_revenue FROM gold.customer_360 ORDER BY 1") == [
        ("C1", 0), ("L-L1", 50)
    ]

    pipeline.run({"customers": [customer("C1", email="ann@x.com", updated_at="2026-01-02 00:00:00")]}, DAY2)
    assert owners() == owned_by("C1")
    assert pipeline.query(
        "SELECT customer_key, loyalty_card_id, loyalty_tier, store_revenue, support_ticket_count, segment "
        "FROM gold.customer_360"
    ) == [("C1", "L1", "Gold", 50, 1, "High-Value")]

    pipeline.run({"customers": [customer("C1", email="ann.new@x.com", updated_at="2026-01-03 00:00:00")]}, DAY3)
    assert owners() == owned_by("L-L1")
    assert pipeline.query("SELECT customer_key FROM gold.customer_360 ORDER BY 1") == [("C1",), ("L-L1",)]

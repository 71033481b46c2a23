"""Gold table formulas (docs/pipeline-rules.md#gold-tables), each pinned on small hand-made deliveries."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from pipeline_harness import customer, member, order_line, sale_line, ticket

UTC = dt.timezone.utc


def test_average_order_value_per_product_category_and_store(pipeline):
    pipeline.run(
        {
            "products": [
                {"product_id": "P1", "product_name": "Mug", "category": "Kitchen", "unit_price": "4"},
                {"product_id": "P2", "product_name": "Cup", "category": "Kitchen", "unit_price": "3"},
            ],
            "stores": [{"store_id": "S1", "store_name": "Downtown"}],
            "online_orders": [
                order_line("O1", "1", product_id="P1", quantity="2", unit_price="4.00"),
                order_line("O1", "2", product_id="P2", quantity="1", unit_price="3.00", discount_amount="1"),
                order_line("O2", "1", product_id="P1", quantity="1", unit_price="4.00"),
                order_line("O3", "1", product_id="P1", quantity="5", unit_price="4.00", order_status="cancelled"),
                order_line("O4", "1", product_id="P1", quantity="5", unit_price="4.00", order_status="returned"),
            ],
            "store_sales": [
                sale_line("T1", "1", product_id="P2", quantity="3", unit_price="3.00"),
                sale_line("T1", "2", product_id="P9", quantity="1", unit_price="7.00"),
                sale_line("O1", "1", store_id="S404", product_id="P1", quantity="1", unit_price="4.00"),
            ],
        }
    )
    rows = {
        (r["dimension"], r["dimension_id"]): r
        for r in pipeline.rows("SELECT * FROM gold.average_order_value")
    }

    def check(key, name, orders, units, revenue):
        row = rows.pop(key)
        assert (row["dimension_name"], row["order_count"], row["units"], row["revenue"]) == (
            name, orders, units, Decimal(revenue),
        ), f"gold.average_order_value {key}: {row}"
        # NUMERIC keeps 9 decimal places, rounding half away from zero.
        expected = (Decimal(revenue) / orders).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
        assert row["average_order_value"] == expected, f"AOV of {key}"

    check(("product", "P1"), "Mug", 3, 4, "16")  # O1 l1 8 + O2 4 + store O1 4; cancelled/returned excluded
    check(("product", "P2"), "Cup", 2, 4, "11")  # O1 l2 (3-1) + T1 9
    check(("product", "P9"), "Unknown", 1, 1, "7")
    check(("category", "Kitchen"), "Kitchen", 4, 8, "27")  # online O1, O2 and store T1, O1 are distinct orders
    check(("category", "Unknown"), "Unknown", 1, 1, "7")
    check(("store", "ONLINE"), "Online", 2, 4, "14")
    check(("store", "S1"), "Downtown", 1, 4, "16")
    check(("store", "S404"), "Unknown", 1, 1, "4")
    assert not rows, f"unexpected gold.average_order_value rows: {sorted(rows)}"


def _buyers(revenues: list[int]) -> list[dict[str, str]]:
    return [customer(f"C{i:02d}") for i in range(len(revenues))]


def test_high_value_is_at_or_above_the_continuous_90th_percentile_of_buyers(pipeline):
    revenues = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]  # p90 lands exactly on 100
    orders = [order_line(f"O{i:02d}", customer_id=f"C{i:02d}", unit_price=str(r)) for i, r in enumerate(revenues)]
    pipeline.run({"customers": _buyers(revenues) + [customer("C99")], "online_orders": orders})
    threshold = np.percentile(revenues, 90, method="linear")
    assert threshold == 100
    flags = dict(pipeline.query("SELECT customer_key, is_high_value FROM gold.customer_segments"))
    for i, revenue in enumerate(revenues):
        assert flags[f"C{i:02d}"] is bool(revenue >= threshold), f"C{i:02d} with revenue {revenue}"
    assert flags["C99"] is False, "a customer without orders is never high-value"


def test_percentile_interpolates_between_buyers(pipeline):
    revenues = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # p90 = 91: only 100 qualifies
    orders = [order_line(f"O{i}", customer_id=f"C{i:02d}", unit_price=str(r)) for i, r in enumerate(revenues)]
    pipeline.run({"customers": _buyers(revenues), "online_orders": orders})
    assert pipeline.query("SELECT customer_key FROM gold.customer_segments WHERE is_high_value") == [("C09",)]


def test_segments_take_the_first_rule_that_holds(pipeline):
    pipeline.run(
        {
            "customers": [customer(c) for c in ("HV", "LC", "OT", "RB", "PR", "GOLD1")],
            "loyalty_members": [
                member("L1", customer_id="LC", tier="gold"),
                member("L2", customer_id="HV", tier="platinum"),
                member("L3", customer_id="GOLD1", tier="gold"),
            ],
            "online_orders": [
                order_line("A1", customer_id="HV", unit_price="500"),
                order_line("A2", customer_id="HV", unit_price="500"),
                order_line("B1", customer_id="LC", unit_price="5"),
                order_line("B2", customer_id="LC", unit_price="5"),
                order_line("C1", customer_id="OT", unit_price="5"),
                order_line("D1", customer_id="RB", unit_price="5"),
                order_line("D2", customer_id="RB", unit_price="5"),
                order_line("E1", customer_id="GOLD1", unit_price="5"),
                order_line("F1", customer_id="PR", unit_price="5", order_status="cancelled"),
            ],
        }
    )
    assert pipeline.query(
        "SELECT customer_key, order_count, segment, is_high_value, is_one_time_buyer, is_loyalty_champion "
        "FROM gold.customer_segments ORDER BY 1"
    ) == [
        ("GOLD1", 1, "One-Time Buyers", False, True, False),
        ("HV", 2, "High-Value", True, False, True),
        ("LC", 2, "Loyalty Champions", False, False, True),
        ("OT", 1, "One-Time Buyers", False, True, False),
        ("PR", 0, "Prospects", False, False, False),
        ("RB", 2, "Repeat Buyers", False, False, False),
    ]


def test_segments_count_store_transactions_and_online_orders_as_orders(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1")],
            "loyalty_members": [member("L1", customer_id="C1")],
            "online_orders": [order_line("X1", "1", customer_id="C1", order_ts="2026-01-03 08:00:00")],
            "store_sales": [
                sale_line("X1", "1", loyalty_card_id="L1", transaction_ts="2026-01-04 09:00:00"),
                sale_line("X1", "2", loyalty_card_id="L1", transaction_ts="2026-01-04 09:00:00"),
            ],
        }
    )
    row = pipeline.one("SELECT * FROM gold.customer_segments")
    assert (row["order_count"], row["lifetime_revenue"]) == (2, Decimal("30")), row
    assert row["first_order_at"] == dt.datetime(2026, 1, 3, 8, tzinfo=UTC)
    assert row["last_order_at"] == dt.datetime(2026, 1, 4, 9, tzinfo=UTC)


def test_channel_activity_uses_utc_sunday_first_numbering_and_ranks_ties(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1"), customer("C2")],
            "online_orders": [
                # Sunday 2026-01-04 23:30 at -05:00 is Monday 04:30 UTC.
                order_line("O1", "1", customer_id="C1", order_ts="2026-01-04T23:30:00-05:00", unit_price="10"),
                order_line("O1", "2", customer_id="C1", order_ts="2026-01-04T23:30:00-05:00", unit_price="5"),
                order_line("O2", "1", customer_id="C2", order_ts="2026-01-05 04:10:00", order_status="cancelled"),
                order_line("O3", "1", customer_id="C1", order_ts="2026-01-10 13:00:00"),
                order_line("O4", "1", customer_id="C2", order_ts="2026-01-10 13:59:59"),
                order_line("O5", "1", customer_id="C9", order_ts="2026-01-04 00:00:00", channel="mobile_app"),
            ],
            "support_tickets": [ticket("K1", channel="chat", created_at="2026-01-06 15:00:00")],
        }
    )
    rows = pipeline.query(
        "SELECT channel, day_of_week, day_of_week_number, hour_of_day, activity_count, revenue, "
        "distinct_customers, activity_rank, is_peak FROM gold.channel_activity_trends ORDER BY 1, 3, 4"
    )
    assert rows == [
        ("mobile_app", "Sunday", 1, 0, 1, Decimal("10"), 0, 1, True),
        ("support_chat", "Tuesday", 3, 15, 1, Decimal("0"), 0, 1, True),
        ("web", "Monday", 2, 4, 2, Decimal("15"), 2, 1, True),
        ("web", "Saturday", 7, 13, 2, Decimal("20"), 2, 1, True),
    ]


def test_channel_rank_orders_busiest_first(pipeline):
    pipeline.run(
        {
            "store_sales": [
                sale_line("T1", transaction_ts="2026-01-05 09:00:00"),
                sale_line("T2", transaction_ts="2026-01-05 09:30:00"),
                sale_line("T3", transaction_ts="2026-01-05 10:00:00"),
                sale_line("T4", transaction_ts="2026-01-05 11:00:00"),
            ]
        }
    )
    assert pipeline.query(
        "SELECT hour_of_day, activity_count, activity_rank, is_peak FROM gold.channel_activity_trends ORDER BY 1"
    ) == [(9, 2, 1, True), (10, 1, 2, False), (11, 1, 2, False)]


def test_agent_performance_counts_resolution_and_satisfaction(pipeline):
    pipeline.run(
        {
            "support_agents": [
                {"agent_id": "A1", "agent_name": "Ada", "team": "Billing"},
                {"agent_id": "A2", "agent_name": "Bo", "team": "Returns"},
            ],
            "support_tickets": [
                ticket("K1", agent_id="A1", status="resolved", created_at="2026-01-05 09:00:00",
                       resolved_at="2026-01-05 11:30:00", csat_score="4"),
                ticket("K2", agent_id="A1", status="closed", created_at="2026-01-05 09:00:00",
                       resolved_at="2026-01-05T10:00:00+01:00", csat_score="2"),
                ticket("K3", agent_id="A1", status="closed", resolved_at=""),
                ticket("K4", agent_id="A1", status="pending"),
                ticket("K5", agent_id="A9", status="open"),
                ticket("K6", agent_id="", status="open"),
            ],
        }
    )
    rows = {r["agent_id"]: r for r in pipeline.rows("SELECT * FROM gold.agent_performance_summary")}
    assert set(rows) == {"A1", "A2", "A9"}
    a1 = rows["A1"]
    assert (a1["tickets_assigned"], a1["tickets_resolved"], a1["open_tickets"]) == (4, 2, 1), a1
    assert a1["resolution_rate"] == pytest.approx(0.5)
    assert a1["avg_resolution_hours"] == pytest.approx((2.5 + 0.0) / 2), "K2 resolved at 09:00 UTC, K1 after 2.5 h"
    assert a1["avg_csat"] == pytest.approx(3.0)
    a2 = rows["A2"]
    assert (a2["tickets_assigned"], a2["resolution_rate"], a2["avg_resolution_hours"], a2["avg_csat"]) == (
        0, None, None, None,
    ), a2
    assert (rows["A9"]["agent_name"], rows["A9"]["team"], rows["A9"]["open_tickets"]) == ("Unknown", None, 1)


def test_customer_360_profile_from_crm_else_loyalty(pipeline):
    pipeline.run(
        {
            "customers": [
                customer("C1", first_name="Ann", last_name="Lee", email="ann@x.com", phone="5551112222",
                         city="Austin", state="TX", signup_date="2025-03-01"),
            ],
            "loyalty_members": [
                member("L1", customer_id="C1", first_name="Annie", tier="gold", points_balance="120"),
                member("L2", first_name="Solo", last_name="Shopper", email="solo@x.com", phone="5553334444",
                       tier="silver", points_balance="7", enrolled_date="2025-06-01"),
            ],
            "online_orders": [
                order_line("O1", customer_id="C1", unit_price="20", order_ts="2026-01-02 10:00:00"),
                order_line("O2", customer_id="C1", unit_price="99", order_ts="2026-01-05 10:00:00",
                           order_status="cancelled"),
            ],
            "store_sales": [sale_line("T1", loyalty_card_id="L1", unit_price="30", transaction_ts="2026-01-03 10:00:00")],
            "support_tickets": [
                ticket("K1", customer_id="C1", status="open", csat_score="5", created_at="2026-01-04 10:00:00"),
                ticket("K2", customer_email="solo@x.com", status="closed", created_at="2026-01-01 10:00:00",
                       resolved_at="2026-01-01 11:00:00", csat_score="3"),
            ],
        }
    )
    rows = {r["customer_key"]: r for r in pipeline.rows("SELECT * FROM gold.customer_360")}
    c1 = rows["C1"]
    assert {k: c1[k] for k in ("crm_customer_id", "loyalty_card_id", "first_name", "email", "phone", "city",
                                "signup_date", "loyalty_tier", "points_balance")} == {
        "crm_customer_id": "C1", "loyalty_card_id": "L1", "first_name": "Ann", "email": "ann@x.com",
        "phone": "+15551112222", "city": "Austin", "signup_date": dt.date(2025, 3, 1), "loyalty_tier": "Gold",
        "points_balance": 120,
    }
    assert (c1["online_order_count"], c1["online_revenue"], c1["store_transaction_count"], c1["store_revenue"],
            c1["lifetime_revenue"]) == (1, Decimal("20"), 1, Decimal("30"), Decimal("50"))
    assert (c1["support_ticket_count"], c1["open_ticket_count"], c1["avg_csat"]) == (1, 1, 5.0)
    assert c1["last_interaction_at"] == dt.datetime(2026, 1, 5, 10, tzinfo=UTC), "a cancelled order is an interaction"
    assert c1["segment"] == "High-Value", "the only buyer sits at the 90th percentile of buyers"
    solo = rows["L-L2"]
    assert (solo["crm_customer_id"], solo["first_name"], solo["last_name"], solo["email"], solo["phone"],
            solo["city"], solo["signup_date"]) == (None, "Solo", "Shopper", "solo@x.com", "+15553334444", None,
                                                   dt.date(2025, 6, 1))
    assert (solo["support_ticket_count"], solo["avg_csat"], solo["segment"]) == (1, 3.0, "Prospects")
    assert solo["last_interaction_at"] == dt.datetime(2026, 1, 1, 10, tzinfo=UTC)

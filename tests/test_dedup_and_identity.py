"""De-duplication and identity resolution (docs/pipeline-rules.md#de-duplication, docs/pipeline-rules.md#identity-resolution)."""

from __future__ import annotations

from pipeline_harness import DAY1, DAY2, customer, member, order_line, sale_line, ticket


def test_latest_updated_at_wins_within_a_delivery(pipeline):
    pipeline.run(
        {
            "customers": [
                customer("C1", first_name="New", updated_at="2026-01-03 00:00:00"),
                customer("C1", first_name="Old", updated_at="2026-01-02T23:00:00-02:00"),
                customer("C1", first_name="Undated", updated_at="garbage"),
            ]
        }
    )
    assert pipeline.query("SELECT first_name FROM silver.customers") == [("Old",)], "01:00Z on the 3rd beats 00:00Z"
    assert pipeline.query("SELECT count(*) FROM ops.rejected_rows") == [(0,)], "collapsed duplicates are not rejects"


def test_an_older_version_delivered_later_does_not_overwrite(pipeline):
    pipeline.run({"customers": [customer("C1", first_name="Newer", updated_at="2026-01-04 00:00:00")]}, DAY2)
    pipeline.run({"customers": [customer("C1", first_name="Older", updated_at="2026-01-01 00:00:00")]}, DAY1)
    assert pipeline.query("SELECT first_name, _delivery_date FROM silver.customers") == [("Newer", DAY2)]


def test_without_updated_at_the_latest_delivery_day_wins_in_any_run_order(pipeline):
    pipeline.run({"online_orders": [order_line("O1", quantity="7")]}, DAY2)
    pipeline.run({"online_orders": [order_line("O1", quantity="3")]}, DAY1)
    assert pipeline.query("SELECT quantity FROM silver.online_order_lines") == [(7,)]


def test_remaining_ties_break_on_the_cleaned_values_deterministically(pipeline):
    rows = [order_line("O1", quantity="5"), order_line("O1", quantity="2"), order_line("O1", quantity="9")]
    pipeline.run({"online_orders": rows})
    first = pipeline.query("SELECT quantity FROM silver.online_order_lines")
    pipeline.run({"online_orders": list(reversed(rows))}, DAY1, force=True)
    assert pipeline.query("SELECT quantity FROM silver.online_order_lines") == first == [(2,)], (
        "same key, same day, no version: the row whose values sort first (quantity 2) wins whatever the file order"
    )


def test_loyalty_member_links_by_customer_id_then_email_then_phone_else_own_identity(pipeline):
    pipeline.run(
        {
            "customers": [
                customer("C1", email="one@x.com", phone="5550000001"),
                customer("C2", email="two@x.com", phone="5550000002"),
                customer("C3", email="shared@x.com"),
                customer("C4", email="shared@x.com"),
            ],
            "loyalty_members": [
                member("L1", customer_id="C1", email="two@x.com"),
                member("L2", customer_id="C99", email="TWO@X.COM"),
                member("L3", phone="(555) 000-0001"),
                member("L4", email="nobody@x.com"),
                member("L5", email="shared@x.com"),
            ],
        }
    )
    assert pipeline.query(
        "SELECT source_id, customer_key, match_rule FROM silver.customer_identity "
        "WHERE source = 'loyalty_members' ORDER BY 1"
    ) == [
        ("L1", "C1", "customer_id"),
        ("L2", "C2", "email"),
        ("L3", "C1", "phone"),
        ("L4", "L-L4", "loyalty_only"),
        ("L5", "C3", "email"),
    ]


def test_facts_resolve_to_identities_or_stay_unresolved(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1", email="ann@x.com")],
            "loyalty_members": [member("L1", customer_id="C1"), member("L9", email="solo@x.com")],
            "online_orders": [order_line("O1", customer_id="C1"), order_line("O2", customer_id="C404")],
            "store_sales": [
                sale_line("T1", loyalty_card_id="L1"),
                sale_line("T2", loyalty_card_id="L9"),
                sale_line("T3", loyalty_card_id="L404"),
                sale_line("T4"),
            ],
            "support_tickets": [
                ticket("K1", customer_id="C1"),
                ticket("K2", customer_email=" ANN@x.com"),
                ticket("K3", customer_email="solo@x.com"),
                ticket("K4", customer_id="C404", customer_email="stranger@x.com"),
            ],
        }
    )
    identity = pipeline.query(
        "SELECT source, source_id, customer_key, match_rule FROM silver.customer_identity "
        "WHERE source NOT IN ('customers', 'loyalty_members') ORDER BY 1, 2"
    )
    assert identity == [
        ("online_orders", "C1", "C1", "customer_id"),
        ("online_orders", "C404", None, "unresolved"),
        ("store_sales", "L1", "C1", "loyalty_card"),
        ("store_sales", "L404", None, "unresolved"),
        ("store_sales", "L9", "L-L9", "loyalty_card"),
        ("support_tickets", "K1", "C1", "customer_id"),
        ("support_tickets", "K2", "C1", "email"),
        ("support_tickets", "K3", "L-L9", "email"),
        ("support_tickets", "K4", None, "unresolved"),
    ]
    # Unresolved facts are kept in silver.
    assert pipeline.query("SELECT count(*) FROM silver.online_order_lines") == [(2,)]
    assert pipeline.query("SELECT count(*) FROM silver.store_sale_lines") == [(4,)]
    # Identities are only CRM customers and loyalty-only members.
    assert pipeline.query("SELECT customer_key FROM gold.customer_360 ORDER BY 1") == [("C1",), ("L-L9",)]


def test_a_corrected_email_relinks_earlier_records(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1", email="typo@x", updated_at="2026-01-01 00:00:00")],
            "support_tickets": [ticket("K1", customer_email="ann@x.com")],
        },
        DAY1,
    )
    assert pipeline.query("SELECT customer_key FROM silver.customer_identity WHERE source_id = 'K1'") == [(None,)]
    pipeline.run({"customers": [customer("C1", email="ann@x.com", updated_at="2026-01-02 00:00:00")]}, DAY2)
    assert pipeline.query("SELECT customer_key FROM silver.customer_identity WHERE source_id = 'K1'") == [("C1",)]
    assert pipeline.query("SELECT support_ticket_count FROM gold.customer_360 WHERE customer_key = 'C1'") == [(1,)]


def test_primary_card_is_highest_tier_then_most_points_then_smallest_id(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1"), customer("C2")],
            "loyalty_members": [
                member("L3", customer_id="C1", tier="gold", points_balance="10"),
                member("L2", customer_id="C1", tier="gold", points_balance="50"),
                member("L1", customer_id="C1", tier="silver", points_balance="900"),
                member("L5", customer_id="C2", tier="platinum", points_balance="5"),
                member("L4", customer_id="C2", tier="platinum", points_balance="5"),
            ],
        }
    )
    assert pipeline.query(
        "SELECT customer_key, loyalty_card_id, loyalty_tier, points_balance FROM gold.customer_360 ORDER BY 1"
    ) == [("C1", "L2", "Gold", 50), ("C2", "L4", "Platinum", 5)]
    assert pipeline.query("SELECT customer_key, loyalty_tier FROM gold.customer_segments ORDER BY 1") == [
        ("C1", "Gold"),
        ("C2", "Platinum"),
    ]

"""Silver cleaning rules (docs/pipeline-rules.md#cleaning-rules), pinned through the local engine."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from customer360 import engine
from pipeline_harness import DAY1, customer, member, order_line, sale_line, ticket

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def macros():
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    engine.ensure_schema(connection)
    yield connection
    connection.close()


def call(connection, function: str, value):
    return connection.execute(f"SELECT silver.{function}(?)", [value]).fetchone()[0]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-01-05", dt.date(2026, 1, 5)),
        ("01/05/2026", dt.date(2026, 1, 5)),
        (" 12/31/1999 ", dt.date(1999, 12, 31)),
        ("2026-02-30", None),
        ("02/30/2026", None),
        ("2026/01/05", None),
        ("5 Jan 2026", None),
        ("2026-1-5", None),
        ("", None),
        (None, None),
    ],
)
def test_dates_accept_iso_and_us_forms_only(macros, raw, expected):
    assert call(macros, "parse_date", raw) == expected, f"parse_date({raw!r})"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-01-05 10:11:12", dt.datetime(2026, 1, 5, 10, 11, 12, tzinfo=UTC)),
        ("2026-01-05T10:11:12", dt.datetime(2026, 1, 5, 10, 11, 12, tzinfo=UTC)),
        ("2026-01-05T10:11:12.5", dt.datetime(2026, 1, 5, 10, 11, 12, 500000, tzinfo=UTC)),
        ("2026-01-05 10:11:12.123456", dt.datetime(2026, 1, 5, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2026-01-05T10:11:12Z", dt.datetime(2026, 1, 5, 10, 11, 12, tzinfo=UTC)),
        ("2026-01-05 10:11:12+02:00", dt.datetime(2026, 1, 5, 8, 11, 12, tzinfo=UTC)),
        ("2026-01-05T23:30:00-05:00", dt.datetime(2026, 1, 6, 4, 30, tzinfo=UTC)),
        ("2026-01-05", dt.datetime(2026, 1, 5, tzinfo=UTC)),
        ("2026-01-05 10:11", None),
        ("2026/01/05 10:11:12", None),
        ("01/05/2026 10:11:12", None),
        ("2026-02-30 10:00:00", None),
        ("2026-01-05 25:00:00", None),
        ("not a date", None),
        ("", None),
    ],
)
def test_timestamps_accept_the_contract_forms_and_honour_offsets(macros, raw, expected):
    assert call(macros, "parse_timestamp", raw) == expected, f"parse_timestamp({raw!r})"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12.50", Decimal("12.5")),
        ("$12.50", Decimal("12.5")),
        (" $0 ", Decimal("0")),
        ("-3.25", Decimal("-3.25")),
        ("0.1234567891", Decimal("0.123456789")),
        ("9999999999.99", Decimal("9999999999.99")),
        ("99999999999", None),
        ("12,50", None),
        ("1e3", None),
        ("$", None),
        ("abc", None),
        ("", None),
    ],
)
def test_money_is_a_plain_decimal_with_optional_dollar(macros, raw, expected):
    assert call(macros, "parse_money", raw) == expected, f"parse_money({raw!r})"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("(555) 123-4567", "+15551234567"),
        ("555.123.4567", "+15551234567"),
        ("1-555-123-4567", "+15551234567"),
        ("+1 555 123 4567", "+15551234567"),
        ("2-555-123-4567", None),
        ("123-4567", None),
        ("555-123-45678", None),
        ("", None),
    ],
)
def test_phone_keeps_north_american_numbers_in_e164(macros, raw, expected):
    assert call(macros, "clean_phone", raw) == expected, f"clean_phone({raw!r})"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("a@b.co", "a@b.co"),
        ("no-at-sign.com", None),
        ("two@@signs.com", None),
        ("a b@example.com", None),
        ("ann@example", None),
        ("", None),
    ],
)
def test_email_is_lower_cased_and_validated(macros, raw, expected):
    assert call(macros, "clean_email", raw) == expected, f"clean_email({raw!r})"


def test_strings_are_trimmed_and_empty_is_null(macros):
    assert call(macros, "clean_string", " \tAustin \r\n") == "Austin"
    assert call(macros, "clean_string", "   ") is None
    assert call(macros, "clean_string", "") is None


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"order_id": ""}, "missing_key"),
        ({"line_number": " "}, "missing_key"),
        ({"line_number": "x"}, "missing_key"),
        ({"order_ts": "05/01/2026 10:00"}, "invalid_timestamp"),
        ({"order_ts": ""}, "invalid_timestamp"),
        ({"quantity": "0"}, "invalid_quantity"),
        ({"quantity": "-2"}, "invalid_quantity"),
        ({"quantity": "1.5"}, "invalid_quantity"),
        ({"quantity": "two"}, "invalid_quantity"),
        ({"quantity": "99999999999999999999"}, "invalid_quantity"),
        ({"quantity": "1000000000"}, "invalid_quantity"),
        ({"unit_price": "-1.00"}, "invalid_price"),
        ({"unit_price": "ten"}, "invalid_price"),
        ({"unit_price": ""}, "invalid_price"),
        ({"discount_amount": "-0.01"}, "invalid_discount"),
        ({"discount_amount": "lots"}, "invalid_discount"),
        ({"quantity": "2", "unit_price": "5", "discount_amount": "10.01"}, "invalid_discount"),
        ({"channel": "fax"}, "invalid_channel"),
        ({"channel": ""}, "invalid_channel"),
        ({"order_status": "shipped"}, "invalid_status"),
        ({"order_ts": "bad", "quantity": "0"}, "invalid_timestamp"),
    ],
)
def test_online_order_hard_rules_reject_with_reason(pipeline, values, reason):
    pipeline.run({"online_orders": [order_line("O1", **values)]})
    rejected = pipeline.rows("SELECT source, reason, raw_values FROM ops.rejected_rows")
    assert [(r["source"], r["reason"]) for r in rejected] == [("online_orders", reason)], f"{values} -> {rejected}"
    assert pipeline.query("SELECT count(*) FROM silver.online_order_lines") == [(0,)]


def test_online_order_valid_edge_values_are_accepted(pipeline):
    pipeline.run(
        {
            "online_orders": [
                order_line("O1", channel=" Mobile_App ", order_status="COMPLETED", unit_price="$0", quantity="3"),
                order_line("O2", quantity="2", unit_price="5", discount_amount="10"),
                order_line("O3", discount_amount=" "),
            ]
        }
    )
    rows = pipeline.rows(
        "SELECT order_id, channel, order_status, discount_amount, line_revenue FROM silver.online_order_lines ORDER BY 1"
    )
    assert rows == [
        {"order_id": "O1", "channel": "mobile_app", "order_status": "completed", "discount_amount": 0, "line_revenue": 0},
        {"order_id": "O2", "channel": "web", "order_status": "completed", "discount_amount": 10, "line_revenue": 0},
        {"order_id": "O3", "channel": "web", "order_status": "completed", "discount_amount": 0, "line_revenue": 10},
    ]
    assert pipeline.query("SELECT count(*) FROM ops.rejected_rows") == [(0,)]


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"transaction_id": ""}, "missing_key"),
        ({"transaction_ts": "yesterday"}, "invalid_timestamp"),
        ({"quantity": "0"}, "invalid_quantity"),
        ({"unit_price": "-5"}, "invalid_price"),
        ({"discount_amount": "11", "unit_price": "10"}, "invalid_discount"),
    ],
)
def test_store_sale_hard_rules_reject_with_reason(pipeline, values, reason):
    pipeline.run({"store_sales": [sale_line("T1", **values)]})
    assert pipeline.query("SELECT source, reason FROM ops.rejected_rows") == [("store_sales", reason)]


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"ticket_id": ""}, "missing_key"),
        ({"created_at": "2026-13-01 00:00:00"}, "invalid_timestamp"),
        ({"channel": "sms"}, "invalid_channel"),
        ({"status": "escalated"}, "invalid_status"),
        ({"status": "resolved", "resolved_at": "2026-01-05 08:59:59"}, "invalid_resolution_time"),
    ],
)
def test_support_ticket_hard_rules_reject_with_reason(pipeline, values, reason):
    pipeline.run({"support_tickets": [ticket("K1", **values)]})
    assert pipeline.query("SELECT source, reason FROM ops.rejected_rows") == [("support_tickets", reason)]


def test_rejected_rows_keep_the_raw_values_as_delivered(pipeline):
    pipeline.run({"online_orders": [order_line("O1", quantity=" zero ", customer_id="C 1")]})
    row = pipeline.one("SELECT record_key, raw_values, delivery_date FROM ops.rejected_rows")
    assert row["record_key"] == "O1|1"
    assert '"quantity":" zero "' in row["raw_values"] and '"customer_id":"C 1"' in row["raw_values"]
    assert row["delivery_date"] == DAY1


def test_soft_rules_null_the_value_and_keep_the_row(pipeline):
    pipeline.run(
        {
            "customers": [customer("C1", email="not-an-email", phone="12345", birth_date="31/12/1990")],
            "products": [
                {"product_id": "P1", "product_name": "Mug", "category": "  ", "unit_price": "-4"},
                {"product_id": "P2", "product_name": "Cup", "category": "Kitchen", "unit_price": "$4.50"},
            ],
            "loyalty_members": [member("L1", tier=" GOLD "), member("L2", tier="diamond", points_balance="1.5")],
            "support_tickets": [
                ticket("K1", csat_score="0"), ticket("K2", csat_score="6"), ticket("K3", csat_score="4.5"),
                ticket("K4", csat_score=" 5 "), ticket("K5", csat_score="x"),
            ],
            "stores": [{"store_id": "S1", "store_name": "Main", "opened_date": "someday"}],
        }
    )
    assert pipeline.query("SELECT email, phone, birth_date FROM silver.customers") == [(None, None, None)]
    assert pipeline.query("SELECT product_id, category, unit_price FROM silver.products ORDER BY 1") == [
        ("P1", "Uncategorized", None),
        ("P2", "Kitchen", Decimal("4.5")),
    ]
    assert pipeline.query("SELECT loyalty_card_id, tier, points_balance FROM silver.loyalty_members ORDER BY 1") == [
        ("L1", "Gold", 0),
        ("L2", None, None),
    ]
    assert pipeline.query("SELECT ticket_id, csat_score FROM silver.support_tickets ORDER BY 1") == [
        ("K1", None), ("K2", None), ("K3", None), ("K4", 5), ("K5", None),
    ]
    assert pipeline.query("SELECT opened_date FROM silver.stores") == [(None,)]
    assert pipeline.query("SELECT count(*) FROM ops.rejected_rows") == [(0,)]

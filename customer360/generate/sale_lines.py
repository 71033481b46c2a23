"""What online order lines and store sale lines share: lines per order, amounts, and their SQL and dirty kinds."""

from __future__ import annotations

import numpy as np

from customer360.generate.draws import Columns, flags, pick_weighted, repeat_index
from customer360.generate.formats import TS_BARE_DATE
from customer360.generate.writer import ColumnSql, Overrides

LINES_PER_ORDER_WEIGHTS = (0.45, 0.25, 0.15, 0.10, 0.05)  # 1 to 5 lines
QUANTITY_WEIGHTS = (0.70, 0.18, 0.07, 0.03, 0.01, 0.01)  # 1 to 6 units
DISCOUNT_EMPTY, DISCOUNT_ZERO, DISCOUNT_AMOUNT = range(3)
DISCOUNT_KIND_WEIGHTS = (0.62, 0.10, 0.28)


def expand_to_lines(rng: np.random.Generator, orders: int) -> tuple[np.ndarray, np.ndarray]:
    """Expand orders into 1-5 lines: (order index of each line, its line number in the order)."""
    per_order = pick_weighted(rng, np.array(LINES_PER_ORDER_WEIGHTS), orders) + 1
    order = repeat_index(per_order)
    starts = np.cumsum(per_order) - per_order
    line = np.arange(order.size, dtype=np.int64) - starts[order] + 1
    return order, line


def line_amounts(rng: np.random.Generator, list_price_cents: np.ndarray, product: np.ndarray) -> Columns:
    """Quantity, unit price (list price, 8% of lines on promotion) and discount of each line."""
    n = product.size
    quantity = pick_weighted(rng, np.array(QUANTITY_WEIGHTS), n) + 1
    price = list_price_cents[product].copy()
    promotion = rng.random(n) < 0.08
    price[promotion] = price[promotion] * 8 // 10
    discount_kind = pick_weighted(rng, np.array(DISCOUNT_KIND_WEIGHTS), n)
    discount = (quantity * price * rng.uniform(0.05, 0.3, n)).astype(np.int64)
    return dict(quantity=quantity, price_cents=price, price_dollar_sign=flags(rng, n, 0.1),
                discount_kind=discount_kind, discount_cents=discount, discount_dollar_sign=flags(rng, n, 0.1))


def line_columns(id_column: str, id_prefix: str, timestamp_column: str) -> ColumnSql:
    """SQL of the columns every sale line has: its key, time, product and amounts."""
    return {
        id_column: f"'{id_prefix}-' || id_date::VARCHAR || '-' || g_pad(id_number, 7)",
        "line_number": "line_number::VARCHAR",
        timestamp_column: "g_ts(event_us, timestamp_format, utc_offset_minutes)",
        "product_id": "g_product_id(product_index + 1)",
        "quantity": "quantity::VARCHAR",
        "unit_price": "g_money(price_cents, price_dollar_sign)",
        "discount_amount": (f"CASE discount_kind WHEN {DISCOUNT_EMPTY} THEN NULL WHEN {DISCOUNT_ZERO} THEN"
                            " CASE WHEN variant % 2 = 0 THEN '0' ELSE '0.00' END"
                            " ELSE g_money(discount_cents, discount_dollar_sign) END"),
    }


def line_overrides(id_column: str, blank_id: str, timestamp_column: str) -> Overrides:
    """The dirty kinds every sale line has, and what each writes."""
    return {
        "missing_key": {id_column: f"CASE variant % 3 WHEN 0 THEN NULL WHEN 1 THEN {{b}} ELSE '{blank_id}' END",
                        "line_number": "CASE variant % 3 WHEN 1 THEN NULL ELSE {b} END"},
        "invalid_timestamp": {timestamp_column: "g_bad_ts(event_us, variant)"},
        "bare_date_timestamp": {timestamp_column: f"g_ts(event_us, {TS_BARE_DATE}, 0)"},
        "invalid_quantity": {"quantity": "g_bad_quantity(variant)"},
        "invalid_price": {"unit_price": "g_bad_money(price_cents, variant)"},
        "negative_discount": {"discount_amount": "'-' || g_money(50 + variant % 1000, 0)"},
        "unparsable_discount": {"discount_amount": "g_pick(variant, ['10%', 'n/a', '1..5', 'five', '$$2.00'])"},
        "discount_exceeds_total": {"discount_amount": "g_money(quantity * price_cents + 1 + variant % 2000, 0)"},
        "unknown_product": {"product_id": "g_unknown_product_id(variant)"},
    }

"""The web shop's order lines file: the day's orders, and yesterday's completed orders that came back."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import (
    BASE_COUNTS, US_PER_DAY, US_PER_HOUR, concat, date_digits, day_number, format_codes, narrow, pick_weighted,
    row_count, take, utc_profile,
)
from customer360.generate.formats import (
    TS_MICROS_Z, TS_MILLIS, TS_MILLIS_OFFSET, TS_OFFSET, TS_SPACE, TS_T, TS_Z,
)
from customer360.generate.sale_lines import expand_to_lines, line_amounts, line_columns, line_overrides
from customer360.generate.vocabulary import BUSINESS_UTC_OFFSET_HOURS, ONLINE_LOCAL_HOURS, ONLINE_WEEKDAY, ORDER_STATUSES

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "online_orders"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "invalid_channel",
        "invalid_status", "odd_case_enum", "pad_whitespace", "unknown_product", "unknown_customer",
        "duplicate", "key_conflict"
    ),
)
COMPLETED, RETURNED = ORDER_STATUSES.index("completed"), ORDER_STATUSES.index("returned")
MEAN_LINES_PER_ORDER = 2.05
GUEST = -1

COLUMNS = {
    **line_columns("order_id", "O", "order_ts"),
    "customer_id": "CASE WHEN customer_index >= 0 THEN g_customer_id(customer_index + 1) END",
    "channel": "g_order_channel(channel_index)",
    "order_status": "g_order_status(status_index)",
}
OVERRIDES = {
    **line_overrides("order_id", "  ", "order_ts"),
    "invalid_channel": {"channel": "CASE WHEN variant % 6 = 5 THEN NULL"
                                   " ELSE g_pick(variant, ['store', 'phone', 'webshop', 'in_store', 'app']) END"},
    "invalid_status": {"order_status": "CASE WHEN variant % 6 = 5 THEN NULL"
                                       " ELSE g_pick(variant, ['shipped', 'pending', 'refunded', 'complete', 'cancel']) END"},
    "odd_case_enum": {"channel": "g_odd_case({b}, variant)", "order_status": "g_odd_case({b}, variant // 4)"},
    "pad_whitespace": {"order_id": "' ' || {b} || ' '", "customer_id": "'  ' || {b}", "product_id": "{b} || ' '"},
    "unknown_customer": {"customer_id": "g_unknown_customer_id(variant)"},
    "key_conflict": {"quantity": "(quantity + 1)::VARCHAR"},
}


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    day_us = day_number(day) * US_PER_DAY
    mean_orders = BASE_COUNTS["online_order_lines_per_day"] * run.scale / MEAN_LINES_PER_ORDER * ONLINE_WEEKDAY[day.weekday()]
    orders = max(1, int(rng.poisson(mean_orders)))
    hours = utc_profile(ONLINE_LOCAL_HOURS, BUSINESS_UTC_OFFSET_HOURS)
    ordered_us = np.sort(day_us + pick_weighted(rng, hours, orders) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, orders))
    local_hour = ((ordered_us - day_us) // US_PER_HOUR + BUSINESS_UTC_OFFSET_HOURS) % 24
    mobile_share = np.where((local_hour >= 18) | (local_hour < 1), 0.6, 0.38)
    customer = pick_weighted(rng, run.world.customers.activity + 1e-3, orders)
    customer[rng.random(orders) < 0.02] = GUEST
    per_order = dict(
        customer_index=customer, event_us=ordered_us,
        timestamp_format=format_codes(rng, orders, (TS_SPACE, TS_T, TS_Z, TS_MILLIS, TS_MICROS_Z, TS_OFFSET, TS_MILLIS_OFFSET),
                                      (0.45, 0.1, 0.2, 0.08, 0.07, 0.07, 0.03)),
        utc_offset_minutes=np.array([-300, -360, -480, 120, 60, 330])[
            pick_weighted(rng, np.array([0.4, 0.25, 0.2, 0.07, 0.05, 0.03]), orders)],
        channel_index=(rng.random(orders) < mobile_share).astype(np.int64),
        status_index=pick_weighted(rng, np.array([0.88, 0.07, 0.05]), orders),
    )
    order, line = expand_to_lines(rng, orders)
    product = pick_weighted(rng, run.world.products.popularity, line.size)
    lines = dict(id_date=np.full(line.size, date_digits(day), dtype=np.int64), id_number=order + 1,
                 line_number=line, **take(narrow(per_order), order), product_index=product,
                 **line_amounts(rng, run.world.products.price, product))
    frame = lines
    # Yesterday's completed orders that came back: every line re-delivered as returned (same keys).
    yesterday = run.carry_over.get(SOURCE)
    if yesterday:
        completed = np.unique(yesterday["id_number"][yesterday["status_index"] == COMPLETED])
        returned = completed[rng.random(completed.size) < 0.015]
        again = take(yesterday, np.flatnonzero(np.isin(yesterday["id_number"], returned)))
        again["status_index"] = np.full(row_count(again), RETURNED, dtype=np.int64)
        frame = concat([lines, again])
    run.carry_over[SOURCE] = lines
    frame = dict(frame)
    frame["dirty_kind"], frame["variant"] = run.dirty.assign(rng, DIRTY, row_count(frame))
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES)

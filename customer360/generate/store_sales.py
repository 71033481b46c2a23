"""The stores' point-of-sale lines file: the day's transactions, written by each till in its own style."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import (
    BASE_COUNTS, US_PER_DAY, US_PER_HOUR, US_PER_SECOND, date_digits, day_number, narrow, pick_weighted, take,
)
from customer360.generate.formats import TS_MICROS_Z, TS_MILLIS_OFFSET, TS_OFFSET, TS_SPACE, TS_T
from customer360.generate.sale_lines import expand_to_lines, line_amounts, line_columns, line_overrides
from customer360.generate.vocabulary import CITY_UTC_OFFSET_MINUTES, PAYMENT_METHODS, STORE_LOCAL_HOURS, STORE_WEEKDAY

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "store_sales"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "unknown_store",
        "unknown_product", "unknown_card", "pad_whitespace", "empty_string", "odd_case_payment",
        "duplicate", "key_conflict"
    ),
)
MEAN_LINES_PER_TRANSACTION = 2.05
ANONYMOUS = -1
# Each till system writes one timestamp style: local time with offset, UTC, or UTC with Z.
TILL_FORMATS = np.array([TS_OFFSET, TS_SPACE, TS_MICROS_Z, TS_MILLIS_OFFSET, TS_T])

COLUMNS = {
    **line_columns("transaction_id", "T", "transaction_ts"),
    "store_id": "g_store_id(store_index + 1)",
    "loyalty_card_id": "CASE WHEN card_index >= 0 THEN g_card_id(card_index + 1) END",
    "payment_method": "g_payment(payment_index)",
}
OVERRIDES = {
    **line_overrides("transaction_id", " ", "transaction_ts"),
    "unknown_store": {"store_id": "g_unknown_store_id(variant)"},
    "unknown_card": {"loyalty_card_id": "g_unknown_card_id(variant)"},
    "pad_whitespace": {"transaction_id": "{b} || '  '", "store_id": "' ' || {b}",
                       "loyalty_card_id": "' ' || {b} || ' '"},
    "empty_string": {"loyalty_card_id": "''"},
    "odd_case_payment": {"payment_method": "g_odd_case({b}, variant)"},
    "key_conflict": {"payment_method": f"g_payment((payment_index + 1) % {len(PAYMENT_METHODS)})"},
}


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    stores = run.world.stores
    mean_transactions = (BASE_COUNTS["store_sale_lines_per_day"] * run.scale / MEAN_LINES_PER_TRANSACTION
                         * STORE_WEEKDAY[day.weekday()])
    transactions = max(1, int(rng.poisson(mean_transactions)))
    store = pick_weighted(rng, stores.footfall, transactions)
    offset = CITY_UTC_OFFSET_MINUTES[stores.city[store]]
    local_us = (day_number(day) * US_PER_DAY + pick_weighted(rng, STORE_LOCAL_HOURS, transactions) * US_PER_HOUR
                + rng.integers(0, US_PER_HOUR, transactions))
    sold_us = local_us - offset * 60 * US_PER_SECOND
    by_time = np.argsort(sold_us, kind="stable")
    store, offset, sold_us = store[by_time], offset[by_time], sold_us[by_time]
    card = np.where(rng.random(transactions) < 0.5, pick_weighted(rng, run.world.members.activity, transactions),
                    ANONYMOUS)
    per_transaction = dict(store_index=store, event_us=sold_us, timestamp_format=TILL_FORMATS[store % TILL_FORMATS.size],
                           utc_offset_minutes=offset, card_index=card,
                           payment_index=pick_weighted(rng, np.array([0.6, 0.2, 0.15, 0.05]), transactions))
    transaction, line = expand_to_lines(rng, transactions)
    n = line.size
    product = pick_weighted(rng, run.world.products.popularity, n)
    frame = dict(id_date=np.full(n, date_digits(day), dtype=np.int64), id_number=transaction + 1,
                 line_number=line, **take(narrow(per_transaction), transaction), product_index=product,
                 **line_amounts(rng, run.world.products.price, product))
    frame["dirty_kind"], frame["variant"] = run.dirty.assign(rng, DIRTY, n)
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES)

"""The product catalogue file: every product on the first day, then price changes and new products."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import US_PER_DAY, US_PER_HOUR, flags, format_codes
from customer360.generate.formats import TS_MICROS_Z, TS_SPACE, TS_T

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "products"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "pad_whitespace", "empty_category", "negative_price", "garbage_price",
        "bad_updated_at", "duplicate", "version_pair"
    ),
    later_day=("stale_version",),
    dimension=True,
)

COLUMNS = {
    "product_id": "g_product_id(product_number)",
    "product_name": "g_brand(brand_index) || ' ' || g_noun(noun_index) || g_variant(name_suffix_index)",
    "category": "g_category(category_index)",
    "brand": "g_brand(brand_index)",
    "unit_price": "g_money(price_cents, price_dollar_sign)",
    "updated_at": "g_ts(updated_us, timestamp_format, utc_offset_minutes)",
}
OVERRIDES = {
    "missing_key": {"product_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE ' ' END"},
    "pad_whitespace": {"product_name": "' ' || {b} || '  '", "brand": "{b} || ' '", "category": "'  ' || {b}"},
    "empty_category": {"category": "CASE variant % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE '   ' END"},
    "negative_price": {"unit_price": "'-' || g_money(price_cents, 0)"},
    "garbage_price": {"unit_price": "g_pick(variant, ['N/A', 'free', 'TBD', '$', '12.99.1'])"},
    "bad_updated_at": {"updated_at": "g_bad_ts(updated_us, variant)"},
    "version_pair": {
        "updated_at": f"g_ts(updated_us - (1 + variant % 72) * {US_PER_HOUR}, timestamp_format, utc_offset_minutes)",
        "unit_price": "g_money(price_cents + 100 + variant % 900, price_dollar_sign)",
    },
    "stale_version": {
        "updated_at": f"g_ts(updated_us - (20 + variant % 200) * {US_PER_DAY}, timestamp_format, utc_offset_minutes)",
        "unit_price": "g_money(price_cents + 500 + variant % 900, price_dollar_sign)",
    },
}


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    products = run.world.products
    delivered, stale_pool = run.world.delivery(SOURCE, day_index)
    records, codes, variants = run.dirty.versioned_delivery(rng, DIRTY, delivered, stale_pool)
    n = records.size
    frame = dict(
        product_number=records + 1, category_index=products.category[records], brand_index=products.brand[records],
        noun_index=products.noun[records], name_suffix_index=products.variant[records],
        price_cents=products.price[records], price_dollar_sign=flags(rng, n, 0.15), updated_us=products.updated[records],
        timestamp_format=format_codes(rng, n, (TS_T, TS_MICROS_Z, TS_SPACE), (0.7, 0.2, 0.1)),
        utc_offset_minutes=np.zeros(n, dtype=np.int64), dirty_kind=codes, variant=variants,
    )
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES)

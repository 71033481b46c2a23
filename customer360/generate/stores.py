"""The store list file: every store on the first day, then renamed stores and the new one."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from customer360.generate.dirty import DirtyKinds
from customer360.generate.vocabulary import STORE_SUFFIXES

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "stores"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "pad_whitespace", "empty_string", "bad_opened_date", "duplicate", "key_conflict"
    ),
    dimension=True,
)

COLUMNS = {
    "store_id": "g_store_id(store_number)",
    "store_name": "g_city(city_index) || ' ' || g_suffix(suffix_index)",
    "city": "g_city(city_index)",
    "state": "g_state(city_index)",
    "region": "g_region(city_index)",
    "opened_date": "g_date(opened_day, opened_format)",
}
OVERRIDES = {
    "missing_key": {"store_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE '' END"},
    "pad_whitespace": {"store_name": "'  ' || {b} || ' '", "store_id": "' ' || {b}"},
    "empty_string": {"region": "''", "city": "CASE WHEN variant % 2 = 0 THEN '' ELSE {b} END"},
    "bad_opened_date": {"opened_date": "g_bad_date(opened_day, variant)"},
    "key_conflict": {"store_name": f"g_city(city_index) || ' ' || g_suffix((suffix_index + 1) % {len(STORE_SUFFIXES)})"},
}


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    stores = run.world.stores
    delivered, _ = run.world.delivery(SOURCE, day_index)
    codes, variants = run.dirty.assign(rng, DIRTY, delivered.size)
    frame = dict(
        store_number=delivered + 1, city_index=stores.city[delivered], suffix_index=stores.suffix[delivered],
        opened_day=stores.opened[delivered], opened_format=stores.opened_format[delivered],
        dirty_kind=codes, variant=variants,
    )
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES)

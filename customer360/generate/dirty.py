"""Which rows of a generated file are dirty on purpose, of which kind, and the coverage every run guarantees."""

from __future__ import annotations

from collections import Counter

import numpy as np

from customer360.contract import SOURCES
from customer360.generate.draws import Columns, repeat_rows

# The dirty kinds of each source, in the order their codes are assigned (code = position + 1).
# `duplicate` repeats a row exactly; `key_conflict` repeats a row's key with a different value;
# `version_pair` repeats a versioned record in the same file with an older updated_at placed after the
# newer one; `stale_version` (later days) re-delivers an existing record with an updated_at older than
# the one already delivered. `unknown_*` reference an id that no dimension file ever delivers.
# `missing_key` blanks the key of a fact line; in a dimension file it adds a blank-keyed copy of a record.
DIRTY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_birth_date",
        "bad_signup_date", "bad_updated_at", "duplicate", "version_pair",
    ),
    "products": (
        "missing_key", "pad_whitespace", "empty_category", "negative_price", "garbage_price",
        "bad_updated_at", "duplicate", "version_pair",
    ),
    "stores": ("missing_key", "pad_whitespace", "empty_string", "bad_opened_date", "duplicate", "key_conflict"),
    "online_orders": (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "invalid_channel",
        "invalid_status", "odd_case_enum", "pad_whitespace", "unknown_product", "unknown_customer",
        "duplicate", "key_conflict",
    ),
    "store_sales": (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "unknown_store",
        "unknown_product", "unknown_card", "pad_whitespace", "empty_string", "odd_case_payment",
        "duplicate", "key_conflict",
    ),
    "loyalty_members": (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_tier",
        "odd_case_tier", "bad_points", "bad_enrolled_date", "unknown_customer_id", "bad_updated_at",
        "duplicate", "version_pair",
    ),
    "support_tickets": (
        "missing_key", "invalid_timestamp", "invalid_channel", "invalid_status", "odd_case_enum",
        "resolved_before_created", "bad_resolved_at", "bad_csat", "bad_email", "unknown_agent",
        "unknown_customer_id", "pad_whitespace", "duplicate", "key_conflict",
    ),
    "support_agents": ("missing_key", "pad_whitespace", "bad_hire_date", "duplicate", "key_conflict"),
}
# Kinds that add a re-delivered record to a later day's delta file instead of altering a row.
LATER_DAY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": ("stale_version",),
    "products": ("stale_version",),
    "loyalty_members": ("stale_version",),
}
# How many times a kind must appear in a run before it is left to chance (default once): enough to
# walk through the variants that matter, in the order the SQL macros list them.
COVERAGE = {
    "missing_key": 2, "invalid_timestamp": 3, "invalid_quantity": 4, "invalid_price": 4, "unparsable_discount": 2,
    "invalid_channel": 2, "invalid_status": 2, "odd_case_enum": 4, "bad_email": 3, "bad_phone": 3, "bad_csat": 4,
    "bad_tier": 2, "garbage_price": 2, "empty_category": 2, "bad_birth_date": 2,
}
STRUCTURAL_KINDS = ("duplicate", "key_conflict", "version_pair")
# In dimension files a missing key is an extra, blank-keyed copy of a record (an export glitch), so the
# record itself still arrives and facts keep resolving; in fact files the line itself loses its key.
DIMENSIONS = ("customers", "products", "stores", "loyalty_members", "support_agents")
# The n-th occurrence of a kind in a run gets variant n modulo this (divisible by every variant-list length).
VARIANT_CYCLE = 840


def kind_code(source: str, kind: str) -> int:
    """The dirty-kind code of a source's kind (0 is a clean row)."""
    return (DIRTY_KINDS[source] + LATER_DAY_KINDS.get(source, ())).index(kind) + 1


class DirtyRows:
    """Chooses the dirty rows of every file of a run, counting each kind's occurrences for coverage."""

    def __init__(self, dirty_rate: float) -> None:
        self.dirty_rate = dirty_rate
        self.occurrences: dict[str, Counter] = {source.name: Counter() for source in SOURCES}

    def assign(self, rng: np.random.Generator, source: str, n: int,
               kinds: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per row, a dirty-kind code (0 = clean) and a variant number; about dirty_rate of rows are dirty.

        Until a kind has appeared COVERAGE[kind] times in the run it is forced in (up to a third of the
        file's rows), so small runs still show every kind. The n-th occurrence of a kind in the run gets a
        variant number equal to n modulo VARIANT_CYCLE, so its first occurrences walk through that kind's
        variants in order (e.g. csat 0, 6, 4.5, x).
        """
        kinds = DIRTY_KINDS[source] if kinds is None else kinds
        codes = np.zeros(n, dtype=np.int64)
        variant = rng.integers(0, 1 << 30, n)
        if self.dirty_rate <= 0 or n == 0:
            return codes, variant
        all_kinds = DIRTY_KINDS[source] + LATER_DAY_KINDS.get(source, ())
        seen = self.occurrences[source]
        wanted = [kind for round_ in range(max(COVERAGE.values())) for kind in kinds
                  if seen[kind] <= round_ < COVERAGE.get(kind, 1)]
        dirty_count = int(rng.binomial(n, self.dirty_rate))
        dirty_count = min(n, max(dirty_count, min(len(wanted), n // 3)))
        if dirty_count == 0:
            return codes, variant
        positions = rng.choice(n, size=dirty_count, replace=False)
        allowed = np.array([all_kinds.index(kind) + 1 for kind in kinds], dtype=np.int64)
        chosen = allowed[rng.integers(0, len(allowed), dirty_count)]
        forced = [all_kinds.index(kind) + 1 for kind in wanted[:dirty_count]]
        chosen[: len(forced)] = forced
        codes[positions] = chosen
        for code in np.unique(chosen):
            kind = all_kinds[code - 1]
            rows = np.flatnonzero(codes == code)
            variant[rows] = ((seen[kind] + np.arange(rows.size)) % VARIANT_CYCLE
                             + VARIANT_CYCLE * rng.integers(0, 1 << 20, rows.size))
            seen[kind] += rows.size
        return codes, variant

    def stale(self, rng: np.random.Generator, source: str, pool: np.ndarray, delta_size: int) -> np.ndarray:
        """Records re-delivered with an updated_at older than the one already delivered (dirty)."""
        if self.dirty_rate <= 0 or pool.size == 0:
            return np.zeros(0, dtype=np.int64)
        stale_count = int(rng.binomial(max(delta_size, 1), self.dirty_rate))
        if not self.occurrences[source]["stale_version"]:
            stale_count = max(stale_count, 1)
        chosen = rng.choice(pool, size=min(stale_count, pool.size), replace=False)
        self.occurrences[source]["stale_version"] += chosen.size
        return chosen

    def versioned_delivery(self, rng: np.random.Generator, source: str, delivered: np.ndarray,
                           stale_pool: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(records, kind codes, variants) of a versioned dimension's file: the delivered records with their
        dirty kinds, then (on later days, stale_pool given) the stale re-deliveries."""
        if stale_pool is None:
            stale = np.zeros(0, dtype=np.int64)
        else:
            stale = self.stale(rng, source, stale_pool, delivered.size)
        codes, variants = self.assign(rng, source, delivered.size)
        records = np.concatenate([delivered, stale])
        codes = np.concatenate([codes, np.full(stale.size, kind_code(source, "stale_version"))])
        variants = np.concatenate([variants, rng.integers(0, 1 << 30, stale.size)])
        return records, codes, variants


def expand(source: str, columns: Columns) -> Columns:
    """Apply the structural dirty kinds: a row marked duplicate, key_conflict, version_pair (or, in a
    dimension file, missing_key) is written twice.

    The exact duplicate keeps its code on both copies (no SQL override, so they are identical); for the
    others only the second copy keeps the code, which the SQL turns into the conflicting, older or
    blank-keyed version.
    """
    codes = columns["dirty_kind"]
    kinds = STRUCTURAL_KINDS + (("missing_key",) if source in DIMENSIONS else ())
    structural = [kind_code(source, kind) for kind in kinds if kind in DIRTY_KINDS[source]]
    repeat = np.where(np.isin(codes, structural), 2, 1)
    if (repeat == 1).all():
        return columns
    out = repeat_rows(columns, repeat)
    first_copy = np.ones(out["dirty_kind"].size, dtype=bool)
    first_copy[(np.cumsum(repeat) - 1)[repeat == 2]] = False
    for kind in kinds:
        if kind != "duplicate" and kind in DIRTY_KINDS[source]:
            out["dirty_kind"][first_copy & (out["dirty_kind"] == kind_code(source, kind))] = 0
    return out

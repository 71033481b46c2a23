"""Which rows of a generated file are dirty on purpose, of which kind, and the coverage every run guarantees."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from customer360.contract import SOURCES
from customer360.generate.draws import Columns, repeat_rows

# Every source module declares its dirty kinds as a DirtyKinds. `duplicate` repeats a row exactly;
# `key_conflict` repeats a row's key with a different value; `version_pair` repeats a versioned record in
# the same file with an older updated_at placed after the newer one; `stale_version` (later days)
# re-delivers an existing record with an updated_at older than the one already delivered. `unknown_*`
# reference an id that no dimension file ever delivers. `missing_key` blanks the key of a fact line; in a
# dimension file it adds a blank-keyed copy of a record (an export glitch), so the record itself still
# arrives and facts keep resolving.

# How many times a kind must appear in a run before it is left to chance (default once): enough to
# walk through the variants that matter, in the order the SQL macros list them.
COVERAGE = {
    "missing_key": 2, "invalid_timestamp": 3, "invalid_quantity": 4, "invalid_price": 4, "unparsable_discount": 2,
    "invalid_channel": 2, "invalid_status": 2, "odd_case_enum": 4, "bad_email": 3, "bad_phone": 3, "bad_csat": 4,
    "bad_tier": 2, "garbage_price": 2, "empty_category": 2, "bad_birth_date": 2,
}
STRUCTURAL_KINDS = ("duplicate", "key_conflict", "version_pair")
# The n-th occurrence of a kind in a run gets variant n modulo this (divisible by every variant-list length).
VARIANT_CYCLE = 840


@dataclass(frozen=True)
class DirtyKinds:
    """One source's dirty kinds; a kind's code is its position in kinds + later_day, plus 1 (0 is clean)."""

    source: str
    kinds: tuple[str, ...]
    later_day: tuple[str, ...] = ()  # kinds that add a re-delivered record to a later day's file
    dimension: bool = False  # a missing key adds a blank-keyed copy instead of blanking a line's key

    @property
    def every_kind(self) -> tuple[str, ...]:
        return self.kinds + self.later_day

    def code(self, kind: str) -> int:
        return self.every_kind.index(kind) + 1


class DirtyRows:
    """Chooses the dirty rows of every file of a run, counting each kind's occurrences for coverage."""

    def __init__(self, dirty_rate: float) -> None:
        self.dirty_rate = dirty_rate
        self.occurrences: dict[str, Counter] = {source.name: Counter() for source in SOURCES}

    def assign(self, rng: np.random.Generator, dirty: DirtyKinds, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, a dirty-kind code (0 = clean) and a variant number; about dirty_rate of rows are dirty.

        Until a kind has appeared COVERAGE[kind] times in the run it is forced in (up to a third of the
        file's rows), so small runs still show every kind. The n-th occurrence of a kind in the run gets a
        variant number equal to n modulo VARIANT_CYCLE, so its first occurrences walk through that kind's
        variants in order (e.g. csat 0, 6, 4.5, x).
        """
        kinds = dirty.kinds
        codes = np.zeros(n, dtype=np.int64)
        variant = rng.integers(0, 1 << 30, n)
        if self.dirty_rate <= 0 or n == 0:
            return codes, variant
        all_kinds = dirty.every_kind
        seen = self.occurrences[dirty.source]
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

    def stale(self, rng: np.random.Generator, dirty: DirtyKinds, pool: np.ndarray, delta_size: int) -> np.ndarray:
        """Records re-delivered with an updated_at older than the one already delivered (dirty)."""
        if self.dirty_rate <= 0 or pool.size == 0:
            return np.zeros(0, dtype=np.int64)
        stale_count = int(rng.binomial(max(delta_size, 1), self.dirty_rate))
        seen = self.occurrences[dirty.source]
        if not seen["stale_version"]:
            stale_count = max(stale_count, 1)
        chosen = rng.choice(pool, size=min(stale_count, pool.size), replace=False)
        seen["stale_version"] += chosen.size
        return chosen

    def versioned_delivery(self, rng: np.random.Generator, dirty: DirtyKinds, delivered: np.ndarray,
                           stale_pool: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(records, kind codes, variants) of a versioned dimension's file: the delivered records with their
        dirty kinds, then (on later days, stale_pool given) the stale re-deliveries."""
        if stale_pool is None:
            stale = np.zeros(0, dtype=np.int64)
        else:
            stale = self.stale(rng, dirty, stale_pool, delivered.size)
        codes, variants = self.assign(rng, dirty, delivered.size)
        records = np.concatenate([delivered, stale])
        codes = np.concatenate([codes, np.full(stale.size, dirty.code("stale_version"))])
        variants = np.concatenate([variants, rng.integers(0, 1 << 30, stale.size)])
        return records, codes, variants


def expand(dirty: DirtyKinds, columns: Columns) -> Columns:
    """Apply the structural dirty kinds: a row marked duplicate, key_conflict, version_pair (or, in a
    dimension file, missing_key) is written twice.

    The exact duplicate keeps its code on both copies (no SQL override, so they are identical); for the
    others only the second copy keeps the code, which the SQL turns into the conflicting, older or
    blank-keyed version.
    """
    codes = columns["dirty_kind"]
    kinds = [kind for kind in STRUCTURAL_KINDS + (("missing_key",) if dirty.dimension else ()) if kind in dirty.kinds]
    structural = [dirty.code(kind) for kind in kinds]
    repeat = np.where(np.isin(codes, structural), 2, 1)
    if (repeat == 1).all():
        return columns
    out = repeat_rows(columns, repeat)
    first_copy = np.ones(out["dirty_kind"].size, dtype=bool)
    first_copy[(np.cumsum(repeat) - 1)[repeat == 2]] = False
    for kind in kinds:
        if kind != "duplicate":
            out["dirty_kind"][first_copy & (out["dirty_kind"] == dirty.code(kind))] = 0
    return out

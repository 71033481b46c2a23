"""Seeded random draws, entity counts and numpy column helpers shared by every source of the generator."""

from __future__ import annotations

from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)
US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
MAX_SCALE = 1_000  # identifier widths and phone-number ranges are sized for this

# Entity counts at scale 1.0 (every count scales linearly, with a floor so tiny scales still work).
BASE_COUNTS = {
    "customers": 2_000,
    "products": 200,
    "stores": 25,
    "loyalty_members": 1_500,
    "support_agents": 40,
    "online_order_lines_per_day": 3_000,
    "store_sale_lines_per_day": 3_000,
    "support_tickets_per_day": 300,
}

# Streams: every random draw of a (day, purpose) comes from its own generator. A new purpose goes last.
STREAMS = {name: i for i, name in enumerate(
    ("world", "customers", "products", "stores", "loyalty_members", "support_agents",
     "online_orders", "store_sales", "support_tickets"), start=1)}


def stream(seed: int, day_index: int, purpose: str) -> np.random.Generator:
    """The random generator of one (seed, day, purpose): the same arguments always draw the same numbers."""
    return np.random.default_rng([seed, day_index, STREAMS[purpose]])


def count(base: float, scale: float, minimum: int) -> int:
    return max(minimum, round(base * scale))


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def date_digits(day: date) -> int:
    """The day as the number YYYYMMDD, the form identifiers carry it in."""
    return int(day.strftime("%Y%m%d"))


def utc_profile(local: np.ndarray, offset_hours: int) -> np.ndarray:
    """Re-index a local-hour profile by UTC hour."""
    return np.roll(local, -offset_hours)


def pick_weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """size indexes drawn with the given weights: index i where uniform * total falls in cumulative bin i."""
    cdf = np.cumsum(weights, dtype=np.float64)
    return _bins_of(cdf, rng.random(size) * cdf[-1])


# A cumulative table longer than this is searched through a guide table instead of bisected per draw: a
# bisection of a table larger than the CPU cache misses the cache at almost every step.
_GUIDED_SEARCH_MIN = 4_096


def _bins_of(cdf: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per value, how many entries of the non-decreasing cdf are <= it (numpy.searchsorted, side="right")."""
    if cdf.size < _GUIDED_SEARCH_MIN or values.size < _GUIDED_SEARCH_MIN:
        return np.searchsorted(cdf, values, side="right").astype(np.int64)
    # Guide table: for cell k of an even grid over [0, total), the answer at the cell's lower edge. Each
    # value starts there (never past its answer, because answers grow with the value) and steps forward
    # while the next entry is still <= it; with as many cells as entries, a value takes few steps.
    cells = cdf.size
    step = cdf[-1] / cells
    edges = np.arange(cells + 1, dtype=np.float64) * step
    guide = np.searchsorted(cdf, edges, side="right")
    cell = np.minimum((values / step).astype(np.int64), cells)
    cell -= edges[cell] > values  # a division that rounded up lands one cell too far
    found = guide[cell]
    active = np.flatnonzero(found < cdf.size)
    while active.size:
        advance = cdf[found[active]] <= values[active]
        active = active[advance]
        found[active] += 1
        active = active[found[active] < cdf.size]
    return found.astype(np.int64)


def format_codes(rng: np.random.Generator, n: int, codes: tuple[int, ...], weights: tuple[float, ...]) -> np.ndarray:
    """n format codes drawn from codes with the given weights."""
    return np.asarray(codes, dtype=np.int64)[pick_weighted(rng, np.asarray(weights, dtype=np.float64), n)]


def flags(rng: np.random.Generator, n: int, probability: float) -> np.ndarray:
    """n 0/1 flags, each 1 with the given probability."""
    return (rng.random(n) < probability).astype(np.int64)


def subscriber_numbers(index: np.ndarray, offset: int = 0) -> np.ndarray:
    """Seven-digit subscriber numbers, distinct for distinct (index + offset) below 8 million."""
    shifted = np.asarray(index, dtype=np.int64) + offset
    return 2_000_000 + (shifted * 1_234_567 + 777) % 8_000_000


def charm_price(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """List prices in cents, log-uniform between low and high, mostly ending in .99."""
    dollars = np.exp(rng.uniform(np.log(low), np.log(high)))
    ending = np.array([99, 99, 99, 49, 0, 95])[rng.integers(0, 6, dollars.size)]
    cents = np.floor(dollars).astype(np.int64) * 100 + ending
    return np.clip(cents, 499, 49_900)


Columns = dict[str, np.ndarray]


def concat(parts: list[Columns]) -> Columns:
    """The rows of every part, in order (parts without rows are skipped)."""
    parts = [part for part in parts if part and len(next(iter(part.values())))]
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def take(columns: Columns, index: np.ndarray) -> Columns:
    """The rows at index, in that order."""
    return {name: values[index] for name, values in columns.items()}


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


class Entities:
    """A growable table of numpy columns (one entity per row)."""

    def __init__(self, **columns: np.ndarray) -> None:
        self.cols = {name: np.asarray(values) for name, values in columns.items()}

    def __len__(self) -> int:
        return row_count(self.cols)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def append(self, **columns: np.ndarray) -> None:
        assert set(columns) == set(self.cols), set(columns) ^ set(self.cols)
        for name, values in columns.items():
            self.cols[name] = np.concatenate([self.cols[name], np.asarray(values, dtype=self.cols[name].dtype)])

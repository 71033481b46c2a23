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


# Many draws from a table at least this long go through a guide table: a bisection per draw misses the
# CPU cache at almost every step once the table outgrows it.
_GUIDED_SEARCH_MIN = 4_096


def _bins_of(cdf: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per value, how many entries of the non-decreasing cdf are <= it (numpy.searchsorted, side="right")."""
    if cdf.size < _GUIDED_SEARCH_MIN or values.size < _GUIDED_SEARCH_MIN:
        return np.searchsorted(cdf, values, side="right").astype(np.int64)
    # Guide table over an even grid of cells: guide[k] is the answer at cell k's lower edge k * step. A
    # value starts at its cell's answer (never past its own, since answers grow with the value) and steps
    # forward while the next entry is still <= it; with as many cells as entries that is rare.
    cells = cdf.size
    step = cdf[-1] / cells
    # guide[k] = #{j: cdf[j] <= k * step} = #{j: first_cell[j] <= k}, where first_cell[j] is the first k
    # with k * step >= cdf[j]: estimated by division, then corrected exactly against k * step.
    first_cell = np.minimum(np.ceil(cdf / step).astype(np.int64), cells + 1)
    first_cell -= (first_cell > 0) & ((first_cell - 1) * step >= cdf)
    first_cell += (first_cell <= cells) & (first_cell * step < cdf)
    guide = np.cumsum(np.bincount(first_cell, minlength=cells + 2))[: cells + 1]
    cell = np.minimum((values / step).astype(np.int64), cells)
    cell -= cell * step > values  # a division that rounded up lands one cell too far
    found = guide[cell]
    active = np.flatnonzero(found < cdf.size)
    while active.size:
        active = active[cdf[found[active]] <= values[active]]
        found[active] += 1
        active = active[found[active] < cdf.size]
    return found


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


def repeat_index(times: np.ndarray) -> np.ndarray:
    """np.repeat(np.arange(times.size), times) for times >= 1, without numpy's loop per element."""
    starts = np.cumsum(times) - times
    step = np.zeros(int(starts[-1] + times[-1]) if times.size else 0, dtype=np.int64)
    step[starts[1:]] = 1
    return np.cumsum(step)


def repeat_rows(columns: Columns, times: np.ndarray) -> Columns:
    """Every row repeated times[row] (>= 1) times, in order."""
    return take(columns, repeat_index(times))


_NARROW_TYPES = tuple(np.iinfo(t) for t in (np.int8, np.int16, np.int32))


def narrow(columns: Columns) -> Columns:
    """The same integer columns, each held in the smallest signed type its values fit (int8 to int64).

    The values do not change; a day's frames take a third of the memory, so copying their rows (per-order
    values onto lines, duplicated rows) and scanning them is that much cheaper. The writer's SQL reads every
    column as BIGINT, whatever width holds it.
    """
    out = {}
    for name, values in columns.items():
        assert values.dtype.kind == "i", f"{name}: {values.dtype} column, the generator's columns are integers"
        if values.size and values.dtype.itemsize > 1:
            low, high = int(values.min()), int(values.max())
            fits = next((info for info in _NARROW_TYPES if info.min <= low and high <= info.max), None)
            if fits is not None and fits.bits < values.dtype.itemsize * 8:
                values = values.astype(fits.dtype)
        out[name] = values
    return out


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

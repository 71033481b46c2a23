"""Seeded, deterministic, vectorised generator of realistic (and deliberately dirty) source CSV deliveries."""

# How it works
# ------------
# A small "world" (CRM customers, products, stores, loyalty members, support agents; world.py) is drawn
# with numpy and evolved one delivery day at a time. For every (day, source) the source's module builds
# numeric numpy columns (indexes into the built-in word lists, cents, epoch microseconds, format codes,
# and a dirty-kind code and variant number per row), and writer.py registers them in an in-memory DuckDB,
# where one SELECT of SQL macros (formats.py) turns them into strings that `COPY ... TO` writes as
# RFC 4180 CSV. No Python code runs per row.
#
# Every random draw comes from a numpy Generator seeded with (seed, day index, purpose), so the same
# arguments give byte-identical files, and the first k days of a longer run equal a k-day run.
#
# What a delivery holds
# - Day 1 delivers every dimension in full; later days deliver only what changed: customers with a
#   new e-mail, phone or address, e-mails corrected after a bad delivery, and new sign-ups; price
#   changes and new products; renamed stores and (day 2) a new store; agents moving team and (day 2)
#   a new hire; loyalty points and tier changes and new members. Changed records carry a later
#   updated_at; stores and agents have none, so their latest delivery wins.
# - Facts: the day's online order lines and support tickets (by UTC day) and store sale lines (by the
#   store's local business day, written in local time with its offset by most tills). Yesterday's
#   completed orders that came back are re-delivered with every line `returned`; tickets still open
#   at the end of their day are re-delivered resolved or closed on the day they are resolved.
# - Valid-but-varied values appear at any dirty rate, because real exports look like that:
#   timestamps in every accepted form (space or `T`, fractional seconds, `Z`, `+HH:MM`/`-HH:MM`),
#   dates as YYYY-MM-DD or MM/DD/YYYY, phones in eight punctuations (10 digits, or 11 starting with
#   1), prices with and without `$`, empty and zero discounts, capitalised e-mails and tiers, guest
#   orders, anonymous store sales, duplicate CRM accounts sharing an e-mail (and often a phone), and
#   loyalty members linked by customer_id, by e-mail only, by phone only (punctuated differently) or
#   not at all. With dirty_rate=0 every value satisfies every cleaning rule of the silver layer and
#   every reference resolves.
# - Dirty rows (each source module's DIRTY) are about `dirty_rate` of each file, at most one kind per row. Until
#   a kind has appeared COVERAGE[kind] times in the run it is forced in (up to a third of a file's
#   rows), so even small runs exercise every rule; at the default scale over three days every hard
#   and soft cleaning rule and every identity rule is hit.

from __future__ import annotations

import importlib
import numbers
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from customer360.contract import SOURCES
from customer360.generate.dirty import COVERAGE
from customer360.generate.draws import BASE_COUNTS, MAX_SCALE, count
from customer360.generate.run import Run
from customer360.generate.writer import GeneratedFile

__all__ = [
    "BASE_COUNTS", "COVERAGE", "DEFAULT_START", "DIRTY_KINDS", "LATER_DAY_KINDS", "MAX_SCALE", "SOURCE_MODULES",
    "GeneratedFile", "GenerationReport", "expected_counts", "generate",
]

DEFAULT_START = date(2026, 1, 5)

# Each contract source's file is written by the module of the same name in this package, which holds its
# DIRTY kinds and a `write(run, day_index, day)` function.
SOURCE_MODULES = {source.name: importlib.import_module(f"{__name__}.{source.name}") for source in SOURCES}
DIRTY_KINDS = {name: module.DIRTY.kinds for name, module in SOURCE_MODULES.items()}
LATER_DAY_KINDS = {name: module.DIRTY.later_day for name, module in SOURCE_MODULES.items() if module.DIRTY.later_day}


@dataclass(frozen=True)
class GenerationReport:
    """What a generate() call wrote: every file with its row count, and how long it took."""

    out_dir: Path
    start: date
    days: int
    scale: float
    seed: int
    dirty_rate: float
    files: tuple[GeneratedFile, ...]
    elapsed_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.elapsed_seconds if self.elapsed_seconds > 0 else float("inf")

    @property
    def delivery_dates(self) -> tuple[date, ...]:
        return tuple(self.start + timedelta(days=k) for k in range(self.days))

    @property
    def day_dirs(self) -> tuple[Path, ...]:
        return tuple(self.out_dir / d.isoformat() for d in self.delivery_dates)

    @property
    def row_counts(self) -> dict[date, dict[str, int]]:
        """Rows per delivery day and source."""
        counts: dict[date, dict[str, int]] = {}
        for f in self.files:
            counts.setdefault(f.delivery_date, {})[f.source] = f.rows
        return counts

    @property
    def paths(self) -> dict[date, dict[str, Path]]:
        """File per delivery day and source."""
        out: dict[date, dict[str, Path]] = {}
        for f in self.files:
            out.setdefault(f.delivery_date, {})[f.source] = f.path
        return out

    def rows_of(self, source: str | None = None, delivery_date: date | None = None) -> int:
        """Rows of one source and/or one delivery day."""
        return sum(f.rows for f in self.files
                   if (source is None or f.source == source)
                   and (delivery_date is None or f.delivery_date == delivery_date))


def generate(
    out_dir: Path,
    days: int,
    scale: float = 1.0,
    seed: int = 42,
    start: date = DEFAULT_START,
    dirty_rate: float = 0.03,
) -> GenerationReport:
    """Write `days` consecutive deliveries as OUT/<YYYY-MM-DD>/<source>.csv for every source.

    Same arguments give byte-identical files. Raises ValueError on an unusable argument.
    """
    if isinstance(days, bool) or not isinstance(days, numbers.Integral) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, got {days!r}")
    if isinstance(scale, bool) or not (isinstance(scale, numbers.Real) and np.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError(f"scale must be a number > 0 and <= {MAX_SCALE}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(dirty_rate, bool) or not (isinstance(dirty_rate, numbers.Real) and 0 <= dirty_rate <= 0.5):
        raise ValueError(f"dirty_rate must be between 0 and 0.5, got {dirty_rate!r}")
    if not isinstance(start, date):
        raise TypeError(f"start must be a date, got {start!r}")
    start = date(start.year, start.month, start.day)  # a datetime counts as its day
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: exists and is not a directory")

    began = time.perf_counter()
    run = Run(out_dir, float(scale), int(seed), start, float(dirty_rate))
    try:
        for day_index in range(int(days)):
            _generate_day(run, day_index)
    except BaseException:
        run.writer.finish(raise_errors=False)
        raise
    run.writer.finish()
    return GenerationReport(
        out_dir=out_dir, start=start, days=int(days), scale=float(scale), seed=int(seed), dirty_rate=float(dirty_rate),
        files=tuple(run.writer.files), elapsed_seconds=time.perf_counter() - began,
    )


def _generate_day(run: Run, day_index: int) -> None:
    day = run.start + timedelta(days=day_index)
    modules = list(SOURCE_MODULES.values())
    if day_index == 0:
        # The CRM is drawn first and its file written (on the writer's thread) while the rest is drawn.
        run.world.build_customers()
        SOURCE_MODULES["customers"].write(run, day_index, day)
        run.world.build_rest()
        modules.remove(SOURCE_MODULES["customers"])
    else:
        run.world.evolve(day_index, day)
    for module in modules:
        module.write(run, day_index, day)


def expected_counts(scale: float) -> dict[str, int]:
    """Entity counts and mean daily fact volumes at a scale (before day-of-week seasonality)."""
    return {name: count(base, scale, 1) for name, base in BASE_COUNTS.items()}

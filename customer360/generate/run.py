"""One generator run: its arguments, world, dirty-row choices and writer, shared by every source's module."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from customer360.generate.dirty import DirtyRows
from customer360.generate.draws import stream
from customer360.generate.world import World
from customer360.generate.writer import CsvWriter


@dataclass
class Run:
    out_dir: Path
    scale: float
    seed: int
    start: date
    dirty_rate: float
    world: World = field(init=False)
    dirty: DirtyRows = field(init=False)
    writer: CsvWriter = field(init=False)
    # What a source hands from one day to the next (yesterday's orders, tickets still open), by source.
    carry_over: dict[str, dict[str, np.ndarray]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.world = World(self.seed, self.scale, self.start)
        self.dirty = DirtyRows(self.dirty_rate)
        self.writer = CsvWriter(self.out_dir)

    def rng(self, day_index: int, purpose: str) -> np.random.Generator:
        return stream(self.seed, day_index, purpose)

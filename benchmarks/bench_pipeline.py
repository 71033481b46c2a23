"""Benchmark: generator and `c360 run` throughput, side by side with a plain DuckDB CSV load of the same files.

Usage: python benchmarks/bench_pipeline.py [--scale 1 5 20] [--days 3] [--out build/bench]
Prints figures only; nothing here asserts on time (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import time
from pathlib import Path

import duckdb

from customer360 import engine, generate


def plain_load_seconds(day_dirs: list[Path], folder: Path) -> float:
    """The floor: DuckDB copying every CSV of every day into a table file as VARCHAR, with no pipeline."""
    target = folder / "plain_load.duckdb"
    target.unlink(missing_ok=True)
    connection = duckdb.connect(str(target))
    started = time.perf_counter()
    for index, day in enumerate(day_dirs):
        for path in sorted(day.glob("*.csv")):
            connection.execute(
                f"CREATE TABLE {path.stem}_{index} AS "
                "SELECT * FROM read_csv(?, header = true, all_varchar = true, auto_detect = true)",
                [str(path)],
            )
    connection.close()
    return time.perf_counter() - started


def bench(scale: float, days: int, out: Path) -> dict[str, float]:
    data = out / f"scale-{scale:g}" / "data"
    warehouse = out / f"scale-{scale:g}" / "warehouse.duckdb"
    if data.parent.exists():
        shutil.rmtree(data.parent)
    data.parent.mkdir(parents=True)
    started = time.perf_counter()
    report = generate.generate(data, days=days, scale=scale, seed=7)
    generate_seconds = time.perf_counter() - started
    day_dirs = sorted(p for p in data.iterdir() if p.is_dir())
    run_seconds = 0.0
    rows = 0
    for day in day_dirs:
        result = engine.run_delivery(day, dt.date.fromisoformat(day.name), warehouse)
        run_seconds += result.seconds
        rows += result.rows_loaded
    floor = plain_load_seconds(day_dirs, data.parent)
    return {
        "scale": scale,
        "rows": rows,
        "generated_rows": report.total_rows,
        "generate_s": generate_seconds,
        "generate_rows_per_s": report.total_rows / generate_seconds,
        "run_s": run_seconds,
        "run_rows_per_s": rows / run_seconds,
        "plain_load_s": floor,
        "run_vs_plain_load": run_seconds / floor,
        "warehouse_mb": warehouse.stat().st_size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    args = parser.parse_args()
    print(f"{'scale':>6} {'rows':>11} {'gen rows/s':>11} {'run s':>8} {'run rows/s':>11} "
          f"{'plain load s':>12} {'run/plain':>9} {'warehouse MB':>12}")
    results = []
    for scale in args.scale:
        r = bench(scale, args.days, args.out)
        results.append(r)
        print(f"{r['scale']:>6g} {r['rows']:>11,} {r['generate_rows_per_s']:>11,.0f} {r['run_s']:>8.1f} "
              f"{r['run_rows_per_s']:>11,.0f} {r['plain_load_s']:>12.2f} {r['run_vs_plain_load']:>9.1f} "
              f"{r['warehouse_mb']:>12.1f}", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"\nscaling: {last['rows'] / first['rows']:.1f}x the rows took "
              f"{last['run_s'] / first['run_s']:.1f}x the run time")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()

"""Benchmark: the generator, `c360 run` against the floor (a bare DuckDB load of the same CSVs), a day's cost as history grows, and a re-delivery.

Usage:
    python benchmarks/bench_pipeline.py [--scale 20 100] [--history-days 10 --history-scale 20] [--out build/bench]

Every measured command runs in its own process, so its peak resident memory is its own (os.wait4).
The floor is DuckDB reading every CSV of the day as VARCHAR into a table file, with no pipeline: the
physical cost of loading the same bytes on this machine, measured in the same run. Figures only:
nothing here asserts on time (the machine is shared and noisy); read the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import sys, duckdb
from pathlib import Path
day, target = Path(sys.argv[1]), sys.argv[2]
connection = duckdb.connect(target)
for path in sorted(day.glob("*.csv")):
    connection.execute(
        f"CREATE TABLE {path.stem} AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [str(path)]
    )
connection.close()
"""


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    cpu_seconds: float  # user + system: steadier than wall time when other work shares the cores


def measure(command: list[str]) -> Measured:
    """Runs COMMAND; its wall time and its own peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode(errors="replace").strip().splitlines()
        raise SystemExit(f"{' '.join(command[:3])}... failed: {error[-1] if error else status}")
    return Measured(seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)


def c360(*arguments: str) -> list[str]:
    return [str(Path(sys.executable).with_name("c360")), *arguments]


def generate(out: Path, scale: float, days: int) -> tuple[list[Path], float, int]:
    """Generates the deliveries; returns the day folders, seconds and rows written."""
    from customer360 import generate as generator

    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    report = generator.generate(out, days=days, scale=scale, seed=7)
    return list(report.day_dirs), time.perf_counter() - started, report.total_rows


def rows_in(day: Path) -> int:
    return sum(max(0, sum(1 for _ in p.open("rb")) - 1) for p in day.glob("*.csv"))


def gb(value: int) -> str:
    return f"{value / 1024**3:.2f}"


def one_day(scale: float, out: Path) -> dict:
    folder = out / f"day-scale-{scale:g}"
    days, generate_seconds, generated_rows = generate(folder / "data", scale, 1)
    day = days[0]
    warehouse = folder / "warehouse.duckdb"
    floor_file = folder / "floor.duckdb"
    for path in (warehouse, floor_file):
        path.unlink(missing_ok=True)
    floor = measure([sys.executable, "-c", FLOOR, str(day), str(floor_file)])
    run = measure(c360("run", "--data", str(day), "--warehouse", str(warehouse)))
    return {"scale": scale, "rows": rows_in(day), "generator_rows_per_s": generated_rows / generate_seconds,
            "run": run, "floor": floor}


def history(scale: float, days: int, out: Path) -> list[Measured]:
    folder = out / f"history-scale-{scale:g}"
    day_dirs, _, _ = generate(folder / "data", scale, days)
    warehouse = folder / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    series = []
    for day in day_dirs:
        series.append(measure(c360("run", "--data", str(day), "--warehouse", str(warehouse))))
        print(f"  day {len(series):>3} {day.name}: {series[-1].seconds:7.1f} s ({series[-1].cpu_seconds:7.1f} s of CPU), "
              f"peak {gb(series[-1].peak_rss_bytes)} GB", flush=True)
    return series, day_dirs[0], warehouse


def redelivery(first_day: Path, warehouse: Path) -> Measured:
    """Day 1 delivered again (the same files, --force) into the warehouse that holds the whole history."""
    measured = measure(c360("run", "--data", str(first_day), "--warehouse", str(warehouse), "--force"))
    print(f"  day   1 {first_day.name} re-delivered: {measured.seconds:7.1f} s ({measured.cpu_seconds:7.1f} s of CPU), "
          f"peak {gb(measured.peak_rss_bytes)} GB", flush=True)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="*", default=[20.0], help="one delivery day at each scale")
    parser.add_argument("--history-days", type=int, default=5, help="consecutive days for the history series (0: none)")
    parser.add_argument("--history-scale", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.scale:
        print(f"{'scale':>6} {'rows':>11} {'gen rows/s':>11} {'run s':>8} {'floor s':>8} {'run/floor':>9} "
              f"{'cpu run/floor':>13} {'run peak GB':>11} {'floor peak GB':>13}")
        for scale in args.scale:
            r = one_day(scale, args.out)
            print(f"{r['scale']:>6g} {r['rows']:>11,} {r['generator_rows_per_s']:>11,.0f} {r['run'].seconds:>8.1f} "
                  f"{r['floor'].seconds:>8.1f} {r['run'].seconds / r['floor'].seconds:>9.2f} "
                  f"{r['run'].cpu_seconds / r['floor'].cpu_seconds:>13.2f} "
                  f"{gb(r['run'].peak_rss_bytes):>11} {gb(r['floor'].peak_rss_bytes):>13}", flush=True)
    if args.history_days:
        print(f"\nhistory: {args.history_days} consecutive days at scale {args.history_scale:g}")
        series, first_day, warehouse = history(args.history_scale, args.history_days, args.out)
        again = redelivery(first_day, warehouse)
        first, last = series[0], series[-1]
        peaks = [m.peak_rss_bytes for m in series]
        print(f"day {len(series)} / day 1: run time {last.seconds / first.seconds:.2f}x "
              f"(CPU time {last.cpu_seconds / first.cpu_seconds:.2f}x), "
              f"peak memory {last.peak_rss_bytes / first.peak_rss_bytes:.2f}x "
              f"(peak memory over the series: {gb(min(peaks))}-{gb(max(peaks))} GB, "
              f"spread {max(peaks) / min(peaks) - 1:.0%})")
        print(f"day 1 re-delivered after {len(series)} days / its first run: run time {again.seconds / first.seconds:.2f}x "
              f"(CPU time {again.cpu_seconds / first.cpu_seconds:.2f}x)")


if __name__ == "__main__":
    main()

"""Benchmark: the generator, `c360 run` against the floor (a bare DuckDB load of the same CSVs), a day's cost as history grows, and a re-delivery.

Usage:
    python benchmarks/bench_pipeline.py [--scale 20 100] [--history-days 10 --history-scale 20] [--out build/bench]
        [--against REF]

With --against REF (a commit), the history series runs REF's code too, from a temporary git worktree, on
the same days, interleaved day by day with the checkout's, so that whatever else the machine does weighs
on both alike; it prints both series and their ratio.

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


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Runs COMMAND; its wall time and its own peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
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


def c360_of(checkout: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run CHECKOUT's c360 with this interpreter (its dependencies)."""
    return ([sys.executable, "-c", "import sys; from customer360.command import main; sys.argv[0] = 'c360'; main()"],
            {**os.environ, "PYTHONPATH": str(checkout)})


def history(scale: float, days: int, out: Path, against: Path | None = None):
    folder = out / f"history-scale-{scale:g}"
    day_dirs, _, _ = generate(folder / "data", scale, days)
    warehouse = folder / "warehouse.duckdb"
    earlier = folder / "warehouse-against.duckdb"
    for path in (warehouse, earlier):
        path.unlink(missing_ok=True)
    series, against_series = [], []
    for day in day_dirs:
        if against is not None:
            command, env = c360_of(against)
            against_series.append(measure(command + ["run", "--data", str(day), "--warehouse", str(earlier)], env))
        series.append(measure(c360("run", "--data", str(day), "--warehouse", str(warehouse))))
        line = (f"  day {len(series):>3} {day.name}: {series[-1].seconds:7.1f} s ({series[-1].cpu_seconds:7.1f} s of CPU), "
                f"peak {gb(series[-1].peak_rss_bytes)} GB")
        if against is not None:
            then = against_series[-1]
            line += f"   against: {then.seconds:7.1f} s ({then.cpu_seconds:7.1f} s of CPU), peak {gb(then.peak_rss_bytes)} GB"
        print(line, flush=True)
    return series, against_series, day_dirs[0], warehouse


def worktree(ref: str, out: Path) -> Path:
    """A detached git worktree of REF under OUT (removed by remove_worktree)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                         capture_output=True, text=True)
    if sha.returncode != 0:
        raise SystemExit(f"--against {ref}: not a commit of this repository")
    path = out / f"against-{sha.stdout.strip()[:12]}"
    if path.exists():
        remove_worktree(path)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), sha.stdout.strip()],
                   check=True)
    return path


def remove_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)


def ratios(label: str, series: list[Measured]) -> str:
    first, last = series[0], series[-1]
    peaks = [m.peak_rss_bytes for m in series]
    return (f"{label}day {len(series)} / day 1: run time {last.seconds / first.seconds:.2f}x "
            f"(CPU time {last.cpu_seconds / first.cpu_seconds:.2f}x), "
            f"peak memory {last.peak_rss_bytes / first.peak_rss_bytes:.2f}x "
            f"(peak memory over the series: {gb(min(peaks))}-{gb(max(peaks))} GB, "
            f"spread {max(peaks) / min(peaks) - 1:.0%})")


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
    parser.add_argument("--against", metavar="REF", help="also run the history series with REF's code, interleaved")
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
        print(f"\nhistory: {args.history_days} consecutive days at scale {args.history_scale:g}"
              + (f", against {args.against}" if args.against else ""))
        checkout = worktree(args.against, args.out) if args.against else None
        try:
            series, against_series, first_day, warehouse = history(args.history_scale, args.history_days, args.out, checkout)
        finally:
            if checkout is not None:
                remove_worktree(checkout)
        again = redelivery(first_day, warehouse)
        first = series[0]
        print(ratios("", series))
        if against_series:
            print(ratios(f"against {args.against}: ", against_series))
            tail = slice(-min(7, len(series)), None)

            def total(measured: list[Measured], what: str) -> float:
                return sum(getattr(m, what) for m in measured[tail])

            print(f"this checkout / {args.against}, day {len(series)}: run time "
                  f"{series[-1].seconds / against_series[-1].seconds:.2f}x "
                  f"(CPU time {series[-1].cpu_seconds / against_series[-1].cpu_seconds:.2f}x); "
                  f"the last {len(series[tail])} days: {total(series, 'seconds') / total(against_series, 'seconds'):.2f}x "
                  f"(CPU time {total(series, 'cpu_seconds') / total(against_series, 'cpu_seconds'):.2f}x)")
        print(f"day 1 re-delivered after {len(series)} days / its first run: run time {again.seconds / first.seconds:.2f}x "
              f"(CPU time {again.cpu_seconds / first.cpu_seconds:.2f}x)")


if __name__ == "__main__":
    main()

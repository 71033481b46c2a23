"""The c360 command line: run the pipeline locally, generate data, validate, plan and show."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from customer360 import contract, engine, report

app = typer.Typer(
    name="c360",
    help="Customer 360 on BigQuery, runnable locally on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


console = Console()
error_console = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_PIPELINE_FAILED = 3
EXIT_LOCKED = 5


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, no traceback, a meaningful exit code."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_day(value: str, option: str = "--run-date") -> dt.date:
    """A YYYY-MM-DD date; any other form is one message naming the option."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date in the form YYYY-MM-DD (e.g. 2026-01-05)", EXIT_BAD_INPUT)


def parse_run_date(value: str) -> dt.date:
    return parse_day(value)


def delivery_day(data: Path, run_date: str | None, force: bool) -> dt.date:
    """--run-date, or the delivery folder's own date; a --run-date that contradicts a dated folder is refused."""
    from customer360.delivery import date_of_folder_name

    named = date_of_folder_name(data.resolve().name)
    if run_date is None:
        if named is None:
            fail(f"--run-date is needed: the folder name {data.name!r} is not a date (YYYY-MM-DD)", EXIT_BAD_INPUT)
        return named
    day = parse_day(run_date)
    if named is not None and named != day and not force:
        fail(
            f"--run-date {day} contradicts the delivery folder {data.name!r} (day {named}); "
            "this would replace another day's raw data (use --force if it is meant)",
            EXIT_BAD_INPUT,
        )
    return day


def _resources(memory_limit: str | None, threads: int | None):
    from customer360 import warehouse as warehouse_file

    try:
        return warehouse_file.Resources.default(memory_limit, threads)
    except warehouse_file.WarehouseError as error:
        fail(str(error), EXIT_BAD_INPUT)


def execute_job(job, *, quiet: bool = False) -> engine.RunResult:
    """Runs an engine job with a step log; exits with one line and the documented code on failure."""
    from customer360 import runner

    try:
        return runner.run_interruptibly(job)
    except engine.Interrupted as error:
        fail(str(error), 128 + error.signal_number)
    except engine.LockedError as error:
        fail(str(error), EXIT_LOCKED)
    except engine.InputError as error:
        fail(str(error), EXIT_BAD_INPUT)
    except engine.OutOfSpace as error:
        fail(f"run rolled back, warehouse unchanged: {error}", EXIT_PIPELINE_FAILED)
    except engine.PipelineError as error:
        fail(f"run rolled back, warehouse unchanged: {error}", EXIT_PIPELINE_FAILED)


def _step_printer(quiet: bool):
    def on_step(index: int, total: int, step) -> None:
        if not quiet:
            console.print(report.step_line(index, total, step), highlight=False, soft_wrap=True)

    return on_step


def run_pipeline(data: Path | None, run_date: dt.date, warehouse: Path, force: bool, quiet: bool = False, *,
                 full_refresh: bool = False, resources=None, load_only: bool = False) -> engine.RunResult:
    """Runs (or, with load_only, loads) one delivery; exits with a one-line error on failure."""
    options = engine.RunOptions(force=force, full_refresh=full_refresh, load_only=load_only, resources=resources)
    job = engine.Run(warehouse, run_date, data, options, on_step=_step_printer(quiet))
    return execute_job(job, quiet=quiet)


def _finish_line(result: engine.RunResult, warehouse: Path) -> None:
    peak = result.peak_memory_bytes / 1024**3
    console.print(report.totals_line(result), highlight=False, soft_wrap=True)
    console.print(
        f"[green]Run {result.run_id} committed[/] to {warehouse} in {result.seconds:.1f} s "
        f"(peak memory {peak:.2f} GB).",
        soft_wrap=True,
    )


DataOption = Annotated[Path | None, typer.Option(help="Delivery folder: <source>.csv[.gz] or <source>/*.csv[.gz] files.")]
RunDateOption = Annotated[
    str | None, typer.Option("--run-date", help="Delivery day, YYYY-MM-DD; defaults to the folder's name when it is a date.")
]
WarehouseOption = Annotated[Path, typer.Option(help="DuckDB warehouse file (created when missing).")]
MemoryOption = Annotated[
    str | None, typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 3GB (default: 60% of RAM, at most 3 GB).")
]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="DuckDB threads (default: one per core).")]


@app.command()
def run(
    warehouse: WarehouseOption,
    data: DataOption = None,
    run_date: RunDateOption = None,
    force: Annotated[bool, typer.Option("--force", help="Load the folder again even if unchanged, or under a --run-date other than its name.")] = False,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild silver, the intermediates and gold from every raw day.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Also print the detailed tables: rows by source, rejects, match rates, checks.")] = False,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Load a delivery into raw (with --data), then process every pending raw partition: silver, checks, gold."""
    if data is not None:
        day = delivery_day(data, run_date, force)
    else:
        day = parse_day(run_date) if run_date else dt.datetime.now(dt.timezone.utc).date()
    result = run_pipeline(data, day, warehouse, force, full_refresh=full_refresh,
                          resources=_resources(memory_limit, threads))
    for line in result.notes:
        console.print(f"note: {line}", highlight=False, soft_wrap=True)
    if result.ignored_files:
        console.print(f"ignored (markers): {', '.join(result.ignored_files)}", highlight=False, soft_wrap=True)
    if result.skipped:
        console.print(f"Nothing to do: no raw partition is new or changed since it was processed ({warehouse} unchanged).",
                      soft_wrap=True)
        return
    if summary:
        console.print()
        report.print_run_summary(console, result)
    _finish_line(result, warehouse)


@app.command()
def load(
    data: Annotated[Path, typer.Option(help="Delivery folder: <source>.csv[.gz] or <source>/*.csv[.gz] files.")],
    warehouse: WarehouseOption,
    run_date: RunDateOption = None,
    force: Annotated[bool, typer.Option("--force", help="Load the folder again even if unchanged, or under a --run-date other than its name.")] = False,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Only load a delivery into its day's raw partitions, as the cloud transfer does; the next `c360 run` processes it."""
    day = delivery_day(data, run_date, force)
    result = run_pipeline(data, day, warehouse, force, load_only=True, resources=_resources(memory_limit, threads))
    for line in result.notes:
        console.print(f"note: {line}", highlight=False, soft_wrap=True)
    if result.skipped:
        console.print(f"Nothing loaded: {data} holds the same files as the delivery already held for {day}.", soft_wrap=True)
        return
    loaded = ", ".join(f"{s} {n:,}" for s, n in sorted(result.raw_rows.items()))
    console.print(f"Loaded {result.rows_loaded:,} rows for {day} into {warehouse} ({loaded}); "
                  "run `c360 run` to process them.", soft_wrap=True)


@app.command()
def backfill(
    first: Annotated[str, typer.Option("--from", help="First delivery day, YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="Last delivery day, YYYY-MM-DD.")],
    data: Annotated[Path | None, typer.Option(help="Folder of day folders (ROOT/YYYY-MM-DD/...) to load and process.")] = None,
    warehouse: Annotated[Path | None, typer.Option(help="Local DuckDB warehouse (with --data).")] = None,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Load and process every day folder under --data from --from to --to, one committed run per day."""
    start, end = parse_day(first, "--from"), parse_day(last, "--to")
    if end < start:
        fail(f"--to {end} is before --from {start}", EXIT_BAD_INPUT)
    if data is None or warehouse is None:
        fail("give --data ROOT and --warehouse FILE", EXIT_BAD_INPUT)
    from customer360.delivery import date_of_folder_name

    if not data.is_dir():
        fail(f"{data}: folder not found", EXIT_BAD_INPUT)
    days = sorted((date_of_folder_name(p.name), p) for p in data.iterdir() if p.is_dir() and date_of_folder_name(p.name))
    days = [(d, p) for d, p in days if start <= d <= end]
    if not days:
        fail(f"{data}: no day folders (YYYY-MM-DD) from {start} to {end}", EXIT_BAD_INPUT)
    resources = _resources(memory_limit, threads)
    for number, (day, folder) in enumerate(days, start=1):
        result = run_pipeline(folder, day, warehouse, False, quiet=True, resources=resources)
        state = "nothing new" if result.skipped else (
            f"{result.rows_loaded:,} rows loaded, {len(result.partitions)} partitions processed, "
            f"{result.rows_rejected:,} rejected")
        console.print(f"{number:>3}/{len(days)} {day}: {state} [{result.seconds:.1f}s]", highlight=False)
    console.print(f"Backfilled {len(days)} days into {warehouse}.")


@app.command()
def freshness(
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file to read.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to judge freshness on, YYYY-MM-DD (default: the newest delivery day).")] = None,
) -> None:
    """Per source: how often it is expected, its newest delivery, and the expected days that are missing."""
    from customer360 import freshness as source_freshness

    day = parse_day(as_of, "--as-of") if as_of else None
    try:
        rows = source_freshness.read(warehouse, day)
    except engine.InputError as error:
        fail(str(error), EXIT_BAD_INPUT)
    console.print(source_freshness.render(rows), highlight=False, soft_wrap=True)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the sample data and the warehouse.")] = Path("build/demo"),
    days: Annotated[int, typer.Option(min=1, max=60, help="Delivery days to generate and run.")] = 3,
    scale: Annotated[float, typer.Option(min=0.01, max=100.0, help="Data volume; 1.0 is about 2,000 customers.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed of the sample data.")] = 42,
) -> None:
    """Generate a few days of sample data, run them in order and show the gold tables' highlights."""
    from customer360 import generate

    started = time.perf_counter()
    data_root = out / "data"
    warehouse = out / "warehouse.duckdb"
    if data_root.exists():
        shutil.rmtree(data_root)
    warehouse.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    generated = generate.generate(data_root, days=days, scale=scale, seed=seed)
    console.print(f"Generated {generated.total_rows:,} rows over {days} delivery days in {data_root}.")
    for day_dir in sorted(p for p in data_root.iterdir() if p.is_dir()):
        result = run_pipeline(day_dir, parse_run_date(day_dir.name), warehouse, force=False, quiet=True)
        rejected = sum(s.rows_rejected or 0 for s in result.steps)
        console.print(
            f"  {day_dir.name}: {result.rows_loaded:,} raw rows, {rejected:,} rejected, "
            f"{len(result.steps)} steps in {result.seconds:.1f} s"
        )
    console.print()
    connection = engine.connect(warehouse)
    try:
        report.print_highlights(console, connection)
    finally:
        connection.close()
    from customer360.dashboard import DuckDBSource, write_dashboard

    built = write_dashboard(DuckDBSource(warehouse), out / "dashboard.html")
    console.print(f"Warehouse: {warehouse}  (demo took {time.perf_counter() - started:.1f} s)")
    console.print(f"Dashboard: {built.path}  (open it in a browser; it works offline)")



@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Where to write the data dictionary.")] = Path("docs/tables.md"),
) -> None:
    """Write the data dictionary (sources, every table and column, the step order) from the contract."""
    from customer360 import docs as data_dictionary

    console.print(f"Wrote {data_dictionary.write(out)}")

def main() -> None:
    app()


@app.command()
def plan(
    stack: Annotated[str, typer.Option(help="Stack whose committed Pulumi.<stack>.yaml configures the program.")] = "dev",
) -> None:
    """List every resource the stack would declare, with its key settings, computed offline under Pulumi mocks."""
    from customer360 import plan as offline_plan

    try:
        captured = offline_plan.capture(stack)
    except offline_plan.PlanError as error:
        fail(f"stack {stack}: {error}", EXIT_BAD_INPUT)
    typer.echo(offline_plan.render(captured), nl=False)


@app.command("render-scheduled")
def render_scheduled() -> None:
    """Regenerate scheduled_queries/daily_pipeline.sql, the reviewable copy of the daily BigQuery script."""
    from customer360 import bigquery_script

    path = bigquery_script.render_scheduled_query()
    console.print(f"Wrote {path.relative_to(contract.REPO_ROOT)}")


@app.command()
def dashboard(
    out: Annotated[Path, typer.Option(help="HTML file to write; one self-contained page that works offline.")] = Path(
        "dashboard.html"
    ),
    warehouse: Annotated[Path | None, typer.Option(help="Local DuckDB warehouse to read.")] = None,
    project: Annotated[str | None, typer.Option(help="Google Cloud project of the deployed datasets.")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="The stack's prefix: reads <prefix>_gold, _ops and _silver (dashes as underscores).")
    ] = None,
) -> None:
    """Write the Customer 360 dashboard from a local warehouse (--warehouse) or from BigQuery (--project, --prefix)."""
    from customer360.dashboard import BigQuerySource, DuckDBSource, SourceError, write_dashboard

    if (warehouse is None) == (project is None and prefix is None):
        fail("give either --warehouse FILE or both --project and --prefix", EXIT_BAD_INPUT)
    if warehouse is None and (project is None or prefix is None):
        fail("BigQuery needs both --project and --prefix", EXIT_BAD_INPUT)
    try:
        source = DuckDBSource(warehouse) if warehouse is not None else BigQuerySource(project, prefix)
        built = write_dashboard(source, out)
    except SourceError as error:
        fail(str(error), EXIT_BAD_INPUT)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror}", EXIT_BAD_INPUT)
    console.print(f"Dashboard: {built.path} ({built.size_bytes / 1e6:.1f} MB, built in {built.seconds:.1f} s)", soft_wrap=True)


@app.command()
def export(
    warehouse: Annotated[Path, typer.Option(help="Local DuckDB warehouse to read.")],
    out: Annotated[Path, typer.Option(help="Folder for one file per gold table.")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Write every gold table to CSV or Parquet, for Tableau, Looker Studio or a spreadsheet."""
    from customer360.dashboard import SourceError
    from customer360.export import export_gold

    try:
        exported = export_gold(warehouse, out, format)
    except SourceError as error:
        fail(str(error), EXIT_BAD_INPUT)
    for table in exported:
        console.print(f"{table.ref}: {table.rows:,} rows -> {table.path}", soft_wrap=True)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="SQL files to check; default: every file, procedure and script.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Analyse everything again, ignoring cached results.")] = False,
) -> None:
    """Check every SQL file, generated stored procedure and scheduled script with ZetaSQL, BigQuery's analyzer."""
    from customer360 import validate as validator

    raise typer.Exit(validator.main(paths or None, use_cache=not no_cache))


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option(help="Folder for the deliveries: OUT/<YYYY-MM-DD>/<source>.csv.")],
    days: Annotated[int, typer.Option(help="Consecutive delivery days to write.")] = 3,
    scale: Annotated[float, typer.Option(help="Volume; 1.0 is about 2,000 customers and 6,000 sale lines a day.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same arguments give byte-identical files.")] = 42,
    start: Annotated[str, typer.Option(help="First delivery day, YYYY-MM-DD.")] = "2026-01-05",
    dirty_rate: Annotated[float, typer.Option("--dirty-rate", help="Share of rows made dirty on purpose; 0 is clean.")] = 0.03,
) -> None:
    """Write seeded sample deliveries of all eight sources, with dirty rows on purpose."""
    from rich.table import Table

    from customer360 import generate as generator

    try:
        first_day = dt.date.fromisoformat(start)
    except ValueError:
        fail(f"--start {start!r} is not a date in the form YYYY-MM-DD", EXIT_BAD_INPUT)
    try:
        generated = generator.generate(out, days=days, scale=scale, seed=seed, start=first_day, dirty_rate=dirty_rate)
    except ValueError as error:
        fail(str(error), EXIT_BAD_INPUT)
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror or error}", EXIT_BAD_INPUT)
    table = Table("source", title=f"Rows written to {out}")
    for heading in [*(d.isoformat() for d in generated.delivery_dates), "total"]:
        table.add_column(heading, justify="right")
    for source in contract.SOURCES:
        counts = [generated.row_counts[d][source.name] for d in generated.delivery_dates]
        table.add_row(source.name, *(f"{n:,}" for n in counts), f"{sum(counts):,}")
    console.print(table)
    console.print(
        f"Total {generated.total_rows:,} rows in {len(generated.files)} files, "
        f"{generated.elapsed_seconds:.1f} s ({generated.rows_per_second:,.0f} rows/s).",
        soft_wrap=True,
    )

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


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, no traceback, a meaningful exit code."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_run_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def run_pipeline(data: Path, run_date: dt.date, warehouse: Path, force: bool, quiet: bool = False):
    """Runs one delivery with a progress display; exits with a one-line error on failure."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=quiet,
    ) as progress:
        task = progress.add_task(f"{run_date} load", total=len(contract.PIPELINE) + 1)

        def update(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=f"{run_date} {step}")

        try:
            return engine.run_delivery(data, run_date, warehouse, force=force, progress=update)
        except engine.InputError as error:
            fail(str(error), EXIT_BAD_INPUT)
        except engine.PipelineError as error:
            fail(f"run {run_date} rolled back, warehouse unchanged: {error}", EXIT_PIPELINE_FAILED)


@app.command()
def run(
    data: Annotated[Path, typer.Option(help="Delivery folder: <source>.csv or <source>/*.csv files.")],
    run_date: Annotated[str, typer.Option("--run-date", help="Delivery day, YYYY-MM-DD: the raw partition to replace.")],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file (created when missing).")],
    force: Annotated[bool, typer.Option(help="Re-run even when this exact delivery was already loaded.")] = False,
) -> None:
    """Load one delivery into raw and run every silver, quality and gold step, all or nothing."""
    date = parse_run_date(run_date)
    result = run_pipeline(data, date, warehouse, force)
    if result.skipped:
        console.print(
            f"Delivery {date} from {data} is already loaded with the same files and SQL; nothing changed "
            "(use --force to run it again)."
        )
        return
    connection = engine.connect(warehouse)
    try:
        report.print_run_summary(console, connection, result)
    finally:
        connection.close()
    console.print(f"[green]Run {result.run_id} committed[/] to {warehouse} in {result.seconds:.1f} s.")


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
        result = run_pipeline(day_dir, parse_run_date(day_dir.name), warehouse, force=False)
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


@app.command()
def regenerate() -> None:
    """Rewrite every committed generated file (data dictionary, daily script, stack inventories) that is stale."""
    from customer360 import artifacts

    rewritten = artifacts.regenerate()
    for artifact in rewritten:
        console.print(f"Rewrote {artifact.label} ({artifact.what})")
    if not rewritten:
        console.print(f"All {len(artifacts.artifacts())} generated files are up to date.")

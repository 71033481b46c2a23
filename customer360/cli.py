"""The c360 command line: run the pipeline locally, generate data, validate, plan, query and show.

One thin function per command (about fifteen), each parsing its options and calling the module that
does the work; the length is the number of commands, not logic.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import enum
import json
import re
import shutil
import signal
import sys
import threading
import time
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from customer360 import contract, engine, report
from customer360.export import ExportFormat

# Output that goes to a pipe or a file is read by programs, or by people after the fact: never wrap it.
PIPED_WIDTH = 10_000


class _Console(Console):
    """A rich console as wide as the terminal, and unbounded (no wrapping) when output is not a terminal,
    whatever COLUMNS says (CI runners and shells often export COLUMNS=80)."""

    def _size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        return size

    size = property(_size, Console.size.fset)


class _Group(TyperGroup):
    """Help without a `<bool>` placeholder after flags such as --force and --help: they take no value."""

    def get_params(self, ctx):
        return _hide_flag_placeholders(super().get_params(ctx))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _hide_flag_placeholders([*command.params, command.get_help_option(ctx)])
        return command


def _hide_flag_placeholders(params):
    for param in params:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


app = typer.Typer(
    name="c360",
    cls=_Group,
    help="Customer 360 on BigQuery, runnable locally on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


console = _Console()
error_console = _Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_PIPELINE_FAILED = 3
EXIT_LOCKED = 5


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"c360 {installed_version('customer360')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, no traceback, a meaningful exit code."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str, option: str) -> dt.date:
    """The one reader of every date on the command line: exactly YYYY-MM-DD, and a day the calendar has.

    Anything else (`20260105`, `2026-1-5`, `05/01/2026`, `2026-02-30`) is one line naming `option`, exit 2.
    """
    if _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    fail(f"{option} {value!r} is not a date in the form YYYY-MM-DD (e.g. 2026-01-05)", EXIT_BAD_INPUT)


def parse_run_date(value: str) -> dt.date:
    return parse_date(value, "--run-date")


def delivery_day(data: Path, run_date: str | None, force: bool) -> dt.date:
    """--run-date, or the delivery folder's own date; a --run-date that contradicts a dated folder is refused."""
    from customer360.delivery import date_of_folder_name

    named = date_of_folder_name(data.resolve().name)
    if run_date is None:
        if named is None:
            fail(f"--run-date is needed: the folder name {data.name!r} is not a date (YYYY-MM-DD)", EXIT_BAD_INPUT)
        return named
    day = parse_date(run_date, "--run-date")
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


def execute_job(job, *, on_failure=None, committed_before: str | None = None) -> engine.RunResult:
    """Runs an engine job; exits with one line and the documented code on failure, after on_failure(code, line).

    COMMITTED_BEFORE says what earlier jobs of the same command committed (backfill), for the interrupted line.
    """
    from customer360 import runner

    try:
        return runner.run_interruptibly(job)
    except engine.Interrupted as error:
        code, message = 128 + error.signal_number, f"{error}{f'; {committed_before}' if committed_before else ''}"
    except engine.LockedError as error:
        code, message = EXIT_LOCKED, str(error)
    except engine.InputError as error:
        code, message = EXIT_BAD_INPUT, str(error)
    except engine.CheckFailed as error:
        code, message = EXIT_PIPELINE_FAILED, f"{'checks' if job.options.checks_only else 'run'} rolled back, warehouse unchanged: {error}"
    except engine.PipelineError as error:  # OutOfSpace included
        code, message = EXIT_PIPELINE_FAILED, f"run rolled back, warehouse unchanged: {error}"
    if on_failure is not None:
        on_failure(code, message)
    fail(message, code)


class StepLog:
    """The run's log on LOG: one line per finished step, and on a terminal a transient display of the step in
    progress (nothing of it is left in the output). Quiet prints nothing."""

    def __init__(self, log: Console, quiet: bool = False) -> None:
        self.log = log
        self.quiet = quiet
        self.live: Progress | None = None
        self._task = None

    def __enter__(self) -> StepLog:
        if not self.quiet and self.log.is_terminal:
            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.log, transient=True)
            self.live.start()
            self._task = self.live.add_task("starting", total=None)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Takes the transient display away (before an error line is printed)."""
        if self.live is not None:
            self.live.stop()
            self.live = None

    def on_progress(self, label: str, index: int, total: int) -> None:
        if self.live is not None:
            self.live.update(self._task, description=f"running {label}", completed=index, total=total)

    def on_step(self, index: int, total: int, step) -> None:
        if not self.quiet:
            self.log.print(report.step_line(index, total, step), highlight=False, soft_wrap=True)


def run_pipeline(data: Path | None, run_date: dt.date, warehouse: Path, force: bool, quiet: bool = False, *,
                 full_refresh: bool = False, resources=None, load_only: bool = False,
                 select: tuple[str, ...] | None = None, log: Console | None = None,
                 on_failure=None, committed_before: str | None = None, detailed: bool = False) -> engine.RunResult:
    """Runs (or, with load_only, loads) one delivery; exits with a one-line error on failure."""
    options = engine.RunOptions(force=force, full_refresh=full_refresh, load_only=load_only, resources=resources,
                                select=select, watch_for_kill=True, detailed=detailed)
    with StepLog(log or console, quiet) as step_log:
        job = engine.Run(warehouse, run_date, data, options, progress=step_log.on_progress, on_step=step_log.on_step)
        def failed(code: int, line: str) -> None:
            step_log.stop()
            if on_failure is not None:
                on_failure(job, code, line)

        return execute_job(job, on_failure=failed, committed_before=committed_before)


@contextlib.contextmanager
def _signal_handlers_kept():
    """Restores the SIGINT/SIGTERM handlers when the command ends: after a committed run they stay ignored
    while the run is reported (runner.run_interruptibly), so that a late Ctrl-C cannot hide its success."""
    from customer360 import runner

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in runner.SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _resources_line(result: engine.RunResult) -> str:
    peak = f"peak memory {result.peak_memory_bytes / 1024**3:.2f} GB"
    settings = result.settings
    if not settings:
        return peak
    threads = settings["threads"]
    return f"{peak}; memory limit {settings['memory_limit']}, {threads} thread{'' if threads == '1' else 's'}"


def _finish_line(log: Console, result: engine.RunResult, warehouse: Path) -> None:
    log.print(report.totals_line(result), highlight=False, soft_wrap=True)
    log.print(
        f"[green]Run {result.run_id} committed[/] to {escape(str(warehouse))} in {result.seconds:.1f} s "
        f"({_resources_line(result)}).",
        soft_wrap=True, highlight=False,
    )


def results_path(warehouse: Path, results: Path | None) -> Path:
    return results if results is not None else warehouse.parent / report.RESULTS_FILE


def publish_results(document: dict, path: Path, as_json: bool) -> None:
    """Writes run_results.json (beside the warehouse, or --results) whole or not at all, and with --json to stdout.

    After a failed run a file that cannot be written is passed over: the run's own error line is the news.
    """
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if as_json:
        sys.stdout.write(text)
        sys.stdout.flush()
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        if document["status"] != "failed":
            error_console.print(f"[yellow]warning:[/] cannot write {escape(str(path))}: "
                                f"{escape(error.strerror or str(error))}", highlight=False, soft_wrap=True)


def select_steps(expression: str | None) -> tuple[str, ...] | None:
    """The steps --select names (customer360.lineage), or None for every step; a bad name is exit 2."""
    if expression is None:
        return None
    from customer360 import lineage

    try:
        return lineage.graph().select(expression)
    except lineage.SelectionError as error:
        fail(str(error), EXIT_BAD_INPUT)


DataOption = Annotated[Path | None, typer.Option(help="Delivery folder: <source>.csv[.gz] or <source>/*.csv[.gz] files.")]
RunDateOption = Annotated[
    str | None, typer.Option("--run-date", help="Delivery day, YYYY-MM-DD; defaults to the folder's name when it is a date.")
]
WarehouseOption = Annotated[Path, typer.Option(help="DuckDB warehouse file (created when missing).")]
MemoryOption = Annotated[
    str | None, typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 3GB (default: 60% of RAM, at most 3 GB).")
]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="DuckDB threads (default: $C360_THREADS, else one per core).")]


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print run_results.json on stdout (and nothing else; the log goes to stderr).")
]
ResultsOption = Annotated[
    Path | None, typer.Option("--results", help="Where to write run_results.json (default: beside the warehouse).")
]


@app.command()
def run(
    warehouse: WarehouseOption,
    data: DataOption = None,
    run_date: RunDateOption = None,
    select: Annotated[
        str | None,
        typer.Option("--select", metavar="STEPS",
                     help="Only these steps: STEP, STEP+ (and what depends on it), +STEP (and what it depends on), "
                          "comma-separated; over the whole warehouse."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Load the folder again even if unchanged, or under a --run-date other than its name.")] = False,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild silver, the intermediates and gold from every raw day.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Also print the detailed tables: rows by source, rejects, match rates, checks.")] = False,
    as_json: JsonOption = False,
    results: ResultsOption = None,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Load a delivery into raw (with --data), then process every pending raw partition: silver, checks, gold."""
    if data is not None:
        day = delivery_day(data, run_date, force)
    else:
        day = parse_date(run_date, "--run-date") if run_date else dt.datetime.now(dt.timezone.utc).date()
    if select is not None and full_refresh:
        fail("give either --select or --full-refresh, not both", EXIT_BAD_INPUT)
    selected = select_steps(select)
    resources = _resources(memory_limit, threads)
    log = error_console if as_json else console
    if selected is not None:
        log.print(f"Selected {len(selected)} of {len(contract.PIPELINE)} steps: {', '.join(selected)}",
                  highlight=False, soft_wrap=True)
    started = time.perf_counter()
    destination = results_path(warehouse, results)

    def results_of(result, status: str, code: int, error: str | None) -> dict:
        return report.run_results(
            result, command="run", status=status, exit_code=code, error=error, warehouse=warehouse,
            delivery_folder=data, day=day, selection=(select, selected) if selected is not None else None,
            seconds=time.perf_counter() - started, peak_memory_bytes=engine._peak_memory(),
        )

    def failed(job, code: int, line: str) -> None:
        publish_results(results_of(job.result, "failed", code, line), destination, as_json)

    with _signal_handlers_kept():
        result = run_pipeline(data, day, warehouse, force, full_refresh=full_refresh, resources=resources,
                              select=selected, log=log, on_failure=failed, detailed=summary)
        _report_run(result, warehouse, summary, log, lambda status: publish_results(
            results_of(result, status, 0, None), destination, as_json))


def _report_run(result: engine.RunResult, warehouse: Path, summary: bool, log: Console, publish) -> None:
    for line in result.notes:
        log.print(f"note: {line}", highlight=False, soft_wrap=True)
    if result.ignored_files:
        log.print(f"ignored (markers): {', '.join(result.ignored_files)}", highlight=False, soft_wrap=True)
    if result.skipped:
        log.print(f"Nothing to do: no raw partition is new or changed since it was processed ({warehouse} unchanged).",
                  soft_wrap=True)
        publish("nothing_to_do")
        return
    if summary:
        log.print()
        report.print_run_summary(log, result)
    _finish_line(log, result, warehouse)
    publish("succeeded")


@app.command()
def check(
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file to check.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Day deliveries_arrived judges on, YYYY-MM-DD (default: the newest delivery day)."),
    ] = None,
    as_json: JsonOption = False,
    results: ResultsOption = None,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Run only the data-quality checks, over the whole warehouse, like `dbt test`; exit 3 when a blocking one fails.

    The results are recorded in ops.data_quality_results under a run id of their own; when a blocking
    check fails nothing is recorded.
    """
    day = parse_date(as_of, "--as-of") if as_of else None
    resources = _resources(memory_limit, threads)
    log = error_console if as_json else console
    started = time.perf_counter()
    destination = results_path(warehouse, results)

    def results_of(result, status: str, code: int, error: str | None) -> dict:
        return report.run_results(
            result, command="check", status=status, exit_code=code, error=error, warehouse=warehouse,
            delivery_folder=None, day=result.run_date if result else day, seconds=time.perf_counter() - started,
            peak_memory_bytes=engine._peak_memory(),
        )

    def failed(code: int, line: str) -> None:
        step_log.stop()
        if job.result is not None and job.result.steps:
            log.print(report.check_totals_line(job.result), highlight=False, soft_wrap=True)
        publish_results(results_of(job.result, "failed", code, line), destination, as_json)

    options = engine.RunOptions(checks_only=True, resources=resources)
    with StepLog(log) as step_log:
        job = engine.Run(warehouse, day, None, options, progress=step_log.on_progress, on_step=step_log.on_step)
        result = execute_job(job, on_failure=failed)
    log.print(report.check_totals_line(result), highlight=False, soft_wrap=True)
    log.print(f"[green]Checks {result.run_id} recorded[/] in {warehouse} (ops.data_quality_results), "
              f"freshness as of {result.run_date}, in {result.seconds:.1f} s.", soft_wrap=True)
    publish_results(results_of(result, "succeeded", 0, None), destination, as_json)


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
    with _signal_handlers_kept():
        result = run_pipeline(data, day, warehouse, force, load_only=True, resources=_resources(memory_limit, threads))
        for line in result.notes:
            console.print(f"note: {line}", highlight=False, soft_wrap=True)
        if result.skipped:
            console.print(f"Nothing loaded: {data} holds the same files as the delivery already held for {day}.",
                          soft_wrap=True)
            return
        loaded = ", ".join(f"{s} {n:,}" for s, n in sorted(result.raw_rows.items()))
        console.print(f"Loaded {result.rows_loaded:,} rows for {day} into {warehouse} ({loaded}); "
                      f"run `c360 run` to process them ({_resources_line(result)}).", soft_wrap=True)


@app.command()
def backfill(
    first: Annotated[str, typer.Option("--from", help="First delivery day, YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="Last delivery day, YYYY-MM-DD (inclusive).")],
    data: Annotated[Path | None, typer.Option(help="Locally: folder of day folders (ROOT/YYYY-MM-DD/...) to load and process.")] = None,
    warehouse: Annotated[Path | None, typer.Option(help="Locally: the DuckDB warehouse (with --data).")] = None,
    stack: Annotated[str | None, typer.Option(help="In BigQuery: the deployed stack whose transfers and daily pipeline are run.")] = None,
    memory_limit: MemoryOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Load and process the delivery days --from..--to: locally from --data into --warehouse (a committed run per
    day), or in BigQuery for --stack (manual transfer runs, then the daily pipeline per day)."""
    start, end = parse_date(first, "--from"), parse_date(last, "--to")
    if end < start:
        fail(f"--to {end} is before --from {start}", EXIT_BAD_INPUT)
    if stack is not None:
        if data is not None or warehouse is not None:
            fail("give either --stack (BigQuery) or --data and --warehouse (local), not both", EXIT_BAD_INPUT)
        from customer360.cloud_backfill import BackfillArgumentError, BackfillError, cloud_backfill

        try:
            cloud_backfill(stack, start, end, echo=console.print)
        except BackfillArgumentError as error:
            fail(f"stack {stack}: {error}", EXIT_BAD_INPUT)
        except BackfillError as error:
            fail(f"stack {stack}: {error}", EXIT_PIPELINE_FAILED)
        return
    if data is None or warehouse is None:
        fail("give --data ROOT and --warehouse FILE (local), or --stack STACK (BigQuery)", EXIT_BAD_INPUT)
    from customer360.delivery import date_of_folder_name

    if not data.is_dir():
        fail(f"{data}: folder not found", EXIT_BAD_INPUT)
    days = sorted((date_of_folder_name(p.name), p) for p in data.iterdir() if p.is_dir() and date_of_folder_name(p.name))
    days = [(d, p) for d, p in days if start <= d <= end]
    if not days:
        fail(f"{data}: no day folders (YYYY-MM-DD) from {start} to {end}", EXIT_BAD_INPUT)
    resources = _resources(memory_limit, threads)
    from customer360 import command

    for number, (day, folder) in enumerate(days, start=1):
        done = f"the {number - 1} days before {day} are committed" if number > 1 else None
        with _signal_handlers_kept():
            result = run_pipeline(folder, day, warehouse, False, quiet=True, resources=resources, committed_before=done)
            state = "nothing new" if result.skipped else (
                f"{result.rows_loaded:,} rows loaded, {len(result.partitions)} partitions processed, "
                f"{result.rows_rejected:,} rejected")
            console.print(f"{number:>3}/{len(days)} {day}: {state} [{result.seconds:.1f}s]", highlight=False)
        command.interrupted_message = f"interrupted; the {number} days up to {day} are committed"
    console.print(f"Backfilled {len(days)} days into {warehouse}.")


@app.command()
def freshness(
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file to read.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to judge freshness on, YYYY-MM-DD (default: the newest delivery day).")] = None,
) -> None:
    """Per source: how often it is expected, its newest delivery, and the expected days that are missing."""
    from customer360 import freshness as source_freshness

    day = parse_date(as_of, "--as-of") if as_of else None
    try:
        rows = source_freshness.read(warehouse, day)
    except engine.InputError as error:
        fail(str(error), EXIT_BAD_INPUT)
    console.print(source_freshness.render(rows), highlight=False, soft_wrap=True)


# What `c360 demo` writes in its folder. It records them in DEMO_MANIFEST before writing, so that
# --force replaces only what an earlier demo wrote and never a file it did not create.
DEMO_DATA = "data"
DEMO_WAREHOUSE = "warehouse.duckdb"
DEMO_DASHBOARD = "dashboard.html"
DEMO_OUTPUTS = (DEMO_DATA, DEMO_WAREHOUSE, f"{DEMO_WAREHOUSE}.wal", DEMO_DASHBOARD)
DEMO_MANIFEST = ".c360-demo.json"


def _earlier_demo_outputs(out: Path) -> list[str]:
    """What an earlier demo in `out` recorded as its own (only names the demo writes are believed)."""
    try:
        recorded = json.loads((out / DEMO_MANIFEST).read_text(encoding="utf-8")).get("created", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in DEMO_OUTPUTS if name in recorded]


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def prepare_demo_folder(out: Path, force: bool) -> list[Path]:
    """Make `out` ready for a demo; returns what was removed: only what an earlier demo created there."""
    if _exists(out) and not out.is_dir():
        fail(f"--out {out} is a file, not a folder", EXIT_BAD_INPUT)
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return []
    ours = _earlier_demo_outputs(out)
    replaceable = [out / name for name in ours if _exists(out / name)]
    if not force:
        if replaceable:
            fail(
                f"--out {out} holds an earlier demo: --force replaces exactly "
                f"{', '.join(str(p) for p in replaceable)} and leaves everything else; or choose a new folder",
                EXIT_BAD_INPUT,
            )
        fail(
            f"--out {out} is not empty ({', '.join(entries[:5])}{', ...' if len(entries) > 5 else ''}) and holds no "
            f"earlier demo: choose a new or empty folder, e.g. --out {out / 'demo'}",
            EXIT_BAD_INPUT,
        )
    foreign = [out / name for name in DEMO_OUTPUTS if name not in ours and _exists(out / name)]
    if foreign:
        fail(
            f"--out {out}: {', '.join(str(p) for p in foreign)} {'were' if len(foreign) > 1 else 'was'} not written "
            f"by c360 demo, so the demo will not replace {'them' if len(foreign) > 1 else 'it'} even with --force: "
            "choose a new or empty folder",
            EXIT_BAD_INPUT,
        )
    for path in replaceable:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return replaceable


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="New or empty folder for the sample data, the warehouse and the dashboard.")] = Path(
        "build/demo"
    ),
    days: Annotated[int, typer.Option(min=1, max=60, help="Delivery days to generate and run.")] = 3,
    scale: Annotated[float, typer.Option(min=0.01, max=100.0, help="Data volume; 1.0 is about 2,000 customers.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed of the sample data.")] = 42,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=f"Use a folder that holds an earlier demo: replaces only what that demo wrote there "
            f"({', '.join(n for n in DEMO_OUTPUTS if not n.endswith('.wal'))}); nothing else is removed.",
        ),
    ] = False,
) -> None:
    """Generate a few days of sample data, run them in order and show the gold tables' highlights."""
    from customer360 import generate
    from customer360.dashboard import DuckDBSource, write_dashboard

    started = time.perf_counter()
    resources = _resources(None, None)  # a bad C360_THREADS is refused before the earlier demo is touched
    removed = prepare_demo_folder(out, force)
    data_root = out / DEMO_DATA
    warehouse = out / DEMO_WAREHOUSE
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / DEMO_MANIFEST).write_text(json.dumps({"created": list(DEMO_OUTPUTS)}, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        fail(f"cannot write to --out {out}: {error.strerror or error}", EXIT_BAD_INPUT)
    if removed:
        console.print(f"Replaced the earlier demo's {', '.join(str(p) for p in removed)}.", soft_wrap=True)
    generated = generate.generate(data_root, days=days, scale=scale, seed=seed)
    console.print(f"Generated {generated.total_rows:,} rows over {days} delivery days in {data_root}.", soft_wrap=True)
    for day_dir in sorted(p for p in data_root.iterdir() if p.is_dir()):
        result = run_pipeline(day_dir, parse_date(day_dir.name, "delivery folder"), warehouse, force=False, quiet=True,
                              resources=resources)
        rejected = sum(s.rows_rejected or 0 for s in result.steps)
        # The steps as ops.pipeline_runs recorded them, counted by the query the dashboard shows them with.
        with DuckDBSource(warehouse) as source:
            recorded = next(r for r in source.fetch("recent_runs") if r["run_id"] == result.run_id)
        console.print(
            f"  {day_dir.name}: {result.rows_loaded:,} raw rows, {rejected:,} rejected, "
            f"{recorded['steps']} steps in {result.seconds:.1f} s"
        )
    console.print()
    connection = engine.connect(warehouse)
    try:
        report.print_highlights(console, connection)
    finally:
        connection.close()

    with DuckDBSource(warehouse) as source:
        built = write_dashboard(source, out / DEMO_DASHBOARD)
    console.print(f"Warehouse: {warehouse}  (demo took {time.perf_counter() - started:.1f} s)", soft_wrap=True)
    console.print(f"Dashboard: {built.path}  (open it in a browser; it works offline)", soft_wrap=True)


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Where to write the data dictionary.")] = Path("docs/tables.md"),
) -> None:
    """Write the data dictionary (sources, every table and column, the step order) from the contract."""
    from customer360 import docs as data_dictionary

    console.print(f"Wrote {data_dictionary.write(out)}")

def main() -> None:
    from customer360 import command

    command.main()


@app.command()
def plan(
    stack: Annotated[str, typer.Option(help="Stack whose committed Pulumi.<stack>.yaml configures the program.")] = "dev",
    diff: Annotated[
        str | None,
        typer.Option("--diff", metavar="REF", help="Show what the working tree changes against git ref REF (e.g. origin/main)."),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="With --diff: text, or markdown for a pull-request comment.")
    ] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="With --diff: the diff as JSON, for tools.")] = False,
) -> None:
    """List every resource the stack would declare, or with --diff REF what changes; computed offline under Pulumi mocks.

    With --diff the exit code is 0 when nothing loses data without a declared migration, 4 when
    something does, 2 for a bad argument or a ref that does not exist.
    """
    from customer360 import plan as offline_plan

    if diff is None:
        if as_json or output_format != "text":
            fail("--format and --json go with --diff REF", EXIT_BAD_INPUT)
        try:
            captured = offline_plan.capture(stack)
        except offline_plan.PlanError as error:
            fail(f"stack {stack}: {error}", EXIT_BAD_INPUT)
        typer.echo(offline_plan.render(captured), nl=False)
        return

    from customer360 import migrations, plan_diff

    if output_format not in ("text", "markdown"):
        fail(f"--format {output_format!r}: expected text or markdown", EXIT_BAD_INPUT)
    if as_json and output_format != "text":
        fail("give either --json or --format markdown", EXIT_BAD_INPUT)
    try:
        offline_plan.stack_config(stack)
        changes = plan_diff.diff_against(stack, diff)
    except (offline_plan.PlanError, plan_diff.DiffError, migrations.MigrationError) as error:
        fail(f"stack {stack}: {error}", EXIT_BAD_INPUT)
    if as_json:
        typer.echo(plan_diff.render_json(changes), nl=False)
    elif output_format == "markdown":
        typer.echo(plan_diff.render_markdown(changes), nl=False)
    else:
        typer.echo(plan_diff.render_text(changes), nl=False)
    raise typer.Exit(changes.exit_code)


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
    screenshot: Annotated[
        Path | None,
        typer.Option(help="Also save a full-page PNG of it at 1440 px, in headless Chromium, offline; and PNG.json, "
                          "the digest of the dashboard code that drew it."),
    ] = None,
) -> None:
    """Write the Customer 360 dashboard from a local warehouse (--warehouse) or from BigQuery (--project, --prefix)."""
    from customer360.dashboard import BigQuerySource, DuckDBSource, SourceError, write_dashboard
    from customer360.dashboard.screenshot import take_screenshot

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
    if screenshot is not None:
        try:
            console.print(f"Screenshot: {take_screenshot(built.path, screenshot)}", soft_wrap=True)
        except SourceError as error:
            fail(str(error), EXIT_BAD_INPUT)


@app.command()
def export(
    warehouse: Annotated[Path, typer.Option(help="Local DuckDB warehouse to read.")],
    out: Annotated[Path, typer.Option(help="Folder for one file per gold table.")],
    file_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="csv: plain decimals (904.31) and ISO 8601 UTC times (…Z); parquet: exact types."),
    ] = ExportFormat.csv,
) -> None:
    """Write every gold table to CSV or Parquet, for Tableau, Looker Studio or a spreadsheet."""
    from customer360.dashboard import SourceError
    from customer360.export import export_gold

    try:
        exported = export_gold(warehouse, out, file_format)
    except SourceError as error:
        fail(str(error), EXIT_BAD_INPUT)
    for table in exported:
        console.print(f"{table.ref}: {table.rows:,} rows -> {table.path}", soft_wrap=True)


class SqlFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("sql")
def sql_command(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="One BigQuery-dialect statement naming tables by dataset, e.g. gold.customer_360.")
    ],
    warehouse: Annotated[Path, typer.Option(help="Local DuckDB warehouse to read; opened read-only.")],
    output_format: Annotated[
        SqlFormat, typer.Option("--format", help="table for reading; csv or json (an array of objects) for programs.")
    ] = SqlFormat.table,
) -> None:
    """Run BigQuery SQL on a local warehouse through the engine's own translation to DuckDB, read-only."""
    from rich.table import Table

    from customer360 import values
    from customer360.dashboard import SourceError
    from customer360.query import QueryError, is_numeric_type, run_query

    try:
        result = run_query(warehouse, query)
    except (QueryError, SourceError) as error:
        fail(str(error), EXIT_BAD_INPUT)
    if output_format is SqlFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([values.text(v) for v in row] for row in result.rows)
    elif output_format is SqlFormat.json:
        records = [{c: values.json_value(v) for c, v in zip(result.columns, row)} for row in result.rows]
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    else:
        table = Table(show_edge=False, header_style="bold")
        for column, column_type in zip(result.columns, result.types):
            table.add_column(escape(column), justify="right" if is_numeric_type(column_type) else "left")
        for row in result.rows:
            table.add_row(*(escape(values.text(v)) if v is not None else "[dim]NULL[/]" for v in row))
        if result.columns:
            console.print(table)
        rows = len(result.rows)
        console.print(f"{rows:,} row{'' if rows == 1 else 's'} in {result.seconds:.2f} s", highlight=False)


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

    first_day = parse_date(start, "--start")
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
def migrate(
    stack: Annotated[str, typer.Option(help="Stack whose committed Pulumi.<stack>.yaml names the project and datasets.")],
) -> None:
    """Run the declared table migrations (migrations/*.sql) in BigQuery; run it before `pulumi up --refresh`."""
    from customer360 import migrations
    from customer360 import plan as offline_plan

    try:
        settings = offline_plan.stack_settings(stack)
        declared = migrations.declared()
    except (offline_plan.PlanError, migrations.MigrationError) as error:
        fail(f"stack {stack}: {error}", EXIT_BAD_INPUT)
    if not declared:
        console.print("No migrations declared in migrations/; nothing to do.")
        return
    from google.cloud import bigquery

    client = bigquery.Client(project=settings.project, location=settings.location)
    try:
        applied = migrations.apply_cloud(client, settings.project, settings.dataset_names, declared, echo=console.print)
    except migrations.MigrationError as error:
        fail(f"stack {stack}: {error}", EXIT_PIPELINE_FAILED)
    console.print(f"{len(applied)} of {len(declared)} migrations ran; the others were not needed.")


@app.command()
def regenerate() -> None:
    """Rewrite every committed generated file (data dictionary, daily script, stack inventories) that is stale."""
    from customer360 import artifacts

    try:
        rewritten = artifacts.regenerate()
    except artifacts.RegenerationRefused as error:
        fail(str(error), EXIT_BAD_INPUT)
    for artifact in rewritten:
        console.print(f"Rewrote {artifact.label} ({artifact.what})")
    if not rewritten:
        console.print(f"All {len(artifacts.artifacts())} generated files are up to date.")


@app.command("cost")
def cost_command(
    rows_per_day: Annotated[
        int | None, typer.Option(min=1, help="Raw rows delivered on a regular day (default: the demo retailer's).")
    ] = None,
    history_days: Annotated[int, typer.Option(min=1, help="Days of history of the later day compared with day 1.")] = 365,
    growing: Annotated[int, typer.Option(min=0, help="How many of the reads that grow with history to list.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
    step_name: Annotated[
        str | None, typer.Option("--step", help="Only this step, statement by statement, with the tables each scans.")
    ] = None,
) -> None:
    """Estimate the bytes each step of a daily run processes in BigQuery, on day 1 and on day --history-days."""
    from rich.table import Table

    from customer360 import cost

    rows = rows_per_day if rows_per_day is not None else cost.demo_rows_per_day()
    if step_name is not None:
        step = contract.STEPS_BY_NAME.get(step_name)
        if step is None:
            fail(f"--step {step_name!r} is not a step of the pipeline (e.g. {contract.PIPELINE[0].name})", EXIT_BAD_INPUT)
        result = cost.estimate(rows, history_days, cost.step_reads([step]))
        _print_step_cost(result, step)
        return
    result = cost.estimate(rows, history_days)
    first, last = result.days
    if as_json:
        print(json.dumps(cost.as_json(result), indent=2))
        return
    table = Table(title=f"BigQuery bytes processed by a daily run of {rows:,} raw rows: day {first} vs day {last}",
                  show_edge=False, header_style="bold")
    for heading in ("step", "kind", f"day {first}", f"day {last}", "ratio"):
        table.add_column(heading, justify="left" if heading in ("step", "kind") else "right")
    for step in contract.PIPELINE:
        if step.name not in result.statements:
            continue
        day_first, day_last = result.step_bytes(step.name, 0), result.step_bytes(step.name, 1)
        note = " (incomplete: see below)" if step.name in result.unanalysed else ""
        table.add_row(step.name + note, step.kind, cost.format_bytes(day_first), cost.format_bytes(day_last),
                      cost.ratio(day_first, day_last))
    table.add_section()
    for group in ("silver", "quality", "intermediate", "gold"):
        day_first, day_last = result.group_bytes(group, 0), result.group_bytes(group, 1)
        label = "silver steps + identity" if group == "silver" else f"{group} steps"
        table.add_row(f"total {label}", "", cost.format_bytes(day_first), cost.format_bytes(day_last),
                      cost.ratio(day_first, day_last))
    day_first, day_last = result.total_bytes(0), result.total_bytes(1)
    table.add_row("total", "", cost.format_bytes(day_first), cost.format_bytes(day_last), cost.ratio(day_first, day_last))
    console.print(table)
    ratios = ", ".join(f"{group} {cost.ratio(result.group_bytes(group, 0), result.group_bytes(group, 1))}"
                       for group in ("silver", "gold"))
    console.print(f"Day {last} against day {first}: {ratios} (flat means at most {cost.FLAT_RATIO}x).", soft_wrap=True)
    stored = [result.total_bytes(i) - result.temporary_bytes(i) for i in (0, 1)]
    temporary = [result.temporary_bytes(i) for i in (0, 1)]
    console.print(
        f"Reads of stored tables alone: day {first} {cost.format_bytes(stored[0])}, day {last} "
        f"{cost.format_bytes(stored[1])} ({cost.ratio(*stored)}); of temporary tables, sized as upper bounds from "
        f"the statements creating them: {cost.format_bytes(temporary[0])} and {cost.format_bytes(temporary[1])}.",
        soft_wrap=True,
    )
    reads = result.growing_reads()
    if reads and growing:
        console.print(f"\nReads that grow with history (largest on day {last} first, {min(growing, len(reads))} of {len(reads)}):")
        listing = Table(show_edge=False, header_style="bold")
        for heading in ("step", "line", "statement", "table", f"day {first}", f"day {last}", "why"):
            listing.add_column(heading, justify="right" if heading.startswith(("day", "line")) else "left")
        for read in reads[:growing]:
            listing.add_row(read.step, str(read.statement.line), escape(read.statement.summary[:60]), read.table,
                            cost.format_bytes(read.first_bytes), cost.format_bytes(read.last_bytes), read.reason)
        console.print(listing)
    for step, problems in result.unanalysed.items():
        for problem in problems:
            console.print(f"{step}: statement not analysed by ZetaSQL, not counted: {escape(problem)}", soft_wrap=True)
    console.print(
        f"\nDay d: a regular delivery of {rows:,} raw rows processed over d days of history; table model in "
        "customer360/cost_model.py (measured on the demo retailer). Bytes processed as a dry run reports them.",
        soft_wrap=True,
    )


def _print_step_cost(result, step: contract.Step) -> None:
    """One step of a cost estimate, statement by statement."""
    from rich.table import Table

    from customer360 import cost

    first, last = result.days
    table = Table(title=f"{step.name}: BigQuery bytes per statement, day {first} vs day {last}", show_edge=False,
                  header_style="bold")
    for heading in ("line", "statement", "scans", f"day {first}", f"day {last}", "ratio"):
        table.add_column(heading, justify="right" if heading.startswith(("day", "line", "ratio")) else "left")
    for on_first, on_last in result.statements.get(step.name, ()):
        if on_first.bytes <= 0 and on_last.bytes <= 0:
            continue
        scans = "; ".join(
            f"{s.scan.table} ({len(s.scan.columns)} col, "
            f"{'whole' if s.scan.partitions is None else f'{s.scan.partitions} partition(s)'})"
            for s in on_first.scans
        )
        if on_first.modified_bytes:
            scans += f"; {on_first.found.target} (all columns: DML target)"
        table.add_row(str(on_first.found.line), escape(on_first.found.summary[:70]), escape(scans),
                      cost.format_bytes(on_first.bytes), cost.format_bytes(on_last.bytes),
                      cost.ratio(on_first.bytes, on_last.bytes))
    day_first, day_last = result.step_bytes(step.name, 0), result.step_bytes(step.name, 1)
    table.add_section()
    table.add_row("", "total", "", cost.format_bytes(day_first), cost.format_bytes(day_last), cost.ratio(day_first, day_last))
    console.print(table)
    for problem in result.unanalysed.get(step.name, ()):
        console.print(f"{step.name}: statement not analysed by ZetaSQL, not counted: {escape(problem)}", soft_wrap=True)

"""The c360 command line: run the pipeline locally, generate data, validate, plan and show."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="c360",
    help="Customer 360 on BigQuery, runnable locally on DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()

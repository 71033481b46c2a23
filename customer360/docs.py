"""Renders the data dictionary (docs/tables.md) from the contract, so the docs cannot drift from it."""

from __future__ import annotations

from pathlib import Path

from customer360 import contract

DOCS_PATH = contract.REPO_ROOT / "docs" / "tables.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _columns(table: contract.Table) -> list[str]:
    lines = ["| column | type | required | description |", "|---|---|---|---|"]
    for column in table.columns:
        lines.append(
            f"| `{column.name}` | {column.type} | {'yes' if column.required else ''} | {_cell(column.description)} |"
        )
    return lines


def render() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from `customer360/contract.py` by `c360 docs`; do not edit by hand.",
        "The same descriptions are on every BigQuery column in the console.",
        "",
        "## Sources (CSV files, columns in this order)",
        "",
    ]
    for source in contract.SOURCES:
        lines += [
            f"### `{source.name}` ({source.system})",
            "",
            f"{source.description} Primary key: {', '.join(f'`{k}`' for k in source.primary_key)}. "
            f"Feeds `{source.silver.ref}`."
            + (f" Latest `{source.version_column}` wins on de-duplication." if source.version_column else "")
            + (
                f" Hard rules: {', '.join(f'`{r}`' for r in source.rejection_reasons)}."
                if source.rejection_reasons
                else ""
            ),
            "",
            "| # | column | description |",
            "|---|---|---|",
            *(f"| {i} | `{name}` | {_cell(text)} |" for i, (name, text) in enumerate(source.columns, start=1)),
            "",
        ]
    for dataset in contract.DATASETS:
        if dataset == "raw":
            continue
        lines += [f"## `{dataset}`: {contract.DATASET_DESCRIPTIONS[dataset]}", ""]
        for table in (t for t in contract.ALL_TABLES if t.dataset == dataset):
            layout = []
            if table.partition_by:
                layout.append(f"partitioned by `{table.partition_by}`")
            if table.cluster_by:
                layout.append(f"clustered by {', '.join(f'`{c}`' for c in table.cluster_by)}")
            lines += [
                f"### `{table.ref}`",
                "",
                f"Grain: {table.grain}." + (f" {'; '.join(layout).capitalize()}." if layout else ""),
                "",
                *_columns(table),
                "",
            ]
    lines += [
        "## `raw`",
        "",
        f"One table per source, every column STRING, one partition per delivery day "
        f"(`{contract.RAW_PARTITION_COLUMN}`), columns as in the source above.",
        "",
        "## Pipeline steps, in order",
        "",
        "| # | step | kind | writes / checks | SQL |",
        "|---|---|---|---|---|",
        *(
            f"| {i} | `{step.name}` | {step.kind}{' (' + step.severity + ')' if step.kind == 'quality' else ''} "
            f"| `{step.target}` | {f'`sql/{step.sql_file}`' if step.sql_file else 'generated from the contract'} |"
            for i, step in enumerate(contract.PIPELINE, start=1)
        ),
        "",
    ]
    return "\n".join(lines)


def write(path: Path = DOCS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path

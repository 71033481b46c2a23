"""Renders the data dictionary (docs/tables.md) from the contract and the step graph, so the docs cannot drift from them."""

from __future__ import annotations

from pathlib import Path

from customer360 import contract, lineage

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
            f"| {i} | `{step.name}` | {step.kind}{' (' + step.check.thresholds + ')' if step.check else ''} "
            f"| `{step.target}` | {f'`sql/{step.sql_file}`' if step.sql_file else 'generated from the contract'} |"
            for i, step in enumerate(contract.PIPELINE, start=1)
        ),
        "",
        "A check's thresholds are conditions on its count of violating rows: one that meets `error if` fails "
        "and rolls the run back; one that meets only `warn if` is recorded as a warning.",
        "",
        *_lineage(),
    ]
    return "\n".join(lines)


def _tables(refs: tuple[str, ...]) -> str:
    return ", ".join(f"`{ref}`" for ref in refs) or "—"


def _lineage() -> list[str]:
    graph = lineage.graph()
    lines = [
        "## Lineage",
        "",
        "Derived from the SQL by `customer360/lineage.py`: every table each step's statements read and write "
        "(its temp tables left out). An arrow runs from a step to a step that reads what it writes; arrows "
        "another path already implies are left out of the drawing, not of the table below. The step order "
        "above is checked to be a topological order of this graph, and `c360 run --select` follows it.",
        "",
        "```mermaid",
        lineage.mermaid(graph),
        "```",
        "",
        "| step | reads | writes | runs after |",
        "|---|---|---|---|",
    ]
    for step in graph.steps:
        shared = set(step.shared)
        reads = ", ".join(f"`{t}`" + (" (shared)" if t in shared else "") for t in step.reads) or "—"
        after = ", ".join(f"`{n}`" for n in graph.upstream(step.step.name)) or "—"
        lines.append(f"| `{step.step.name}` | {reads} | {_tables(step.writes)} | {after} |")
    lines += [
        "",
        "Shared bookkeeping tables, whose reads marked *shared* are not dependencies (declared in "
        "`contract.LINEAGE_EXEMPTIONS` and verified against the SQL):",
        "",
        *(f"- `{e.table}` (read by the {', '.join(e.readers)} steps, filtered on `{e.column}`): {e.reason}"
          for e in contract.LINEAGE_EXEMPTIONS),
        "",
    ]
    return lines


def write(path: Path = DOCS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path

"""Runs a query on ZetaSQL's reference evaluator (BigQuery's semantics) over given table contents."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from customer360 import contract
from customer360.zeta.catalog import Catalog, analyzer_options
from customer360.zeta.runtime import ZetaError, empty_response, protos, runtime
from customer360.zeta.syntax import Source, descendants, parse_statement, path_names, span
from customer360.zeta.types import from_value_proto, to_value_proto, type_name


@dataclass
class Result:
    """Rows a query returned on the reference evaluator, with BigQuery column types."""

    columns: list[tuple[str, str]]
    rows: list[tuple]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def _reference_tables(sql: str, catalog: Catalog) -> tuple[str, set[str]]:
    """Quote dataset.table references as one identifier: only root tables can hold content.

    Also returns every catalog table the query names (quoted or not): the only root tables it needs.
    """
    source = Source.of(sql)
    edits = []
    named = set()
    for table in descendants(parse_statement(sql), "TablePathExpression"):
        if not table.HasField("path_expr"):
            continue  # UNNEST(...)
        names = path_names(table.path_expr)
        ref = ".".join(names)
        if ref in catalog.tables:
            named.add(ref)
        if len(names) != 2 or ref not in catalog.tables:
            continue
        start, end = span(table.path_expr)
        # `raw.customers` is implicitly aliased `customers`; a quoted `raw.customers` would not be.
        alias = "" if table.HasField("alias") else f" AS {names[1]}"
        edits.append((start, end, f"`{ref}`{alias}".encode("utf-8")))
    data = source.data
    for start, end, replacement in sorted(edits, reverse=True):
        data = data[:start] + replacement + data[end:]
    return data.decode("utf-8"), named


def evaluate(
    sql: str,
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | None = None,
) -> Result:
    """Run one query on ZetaSQL's reference evaluator over the given table contents.

    tables maps `dataset.table` to rows (dicts keyed by column name; a missing key is NULL);
    every other table of the catalog is empty. parameters are the query parameters' values.
    """
    p = protos()
    catalog = catalog or Catalog.from_contract()
    tables = tables or {}
    unknown = set(tables) - set(catalog.tables)
    if unknown:
        raise ValueError(f"no table {sorted(unknown)} in the catalog")
    parameter_types = {**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS}
    quoted, named = _reference_tables(sql, catalog)
    request = p.ls.PrepareQueryRequest(
        sql=quoted,
        options=analyzer_options(parameter_types, system_variables=False),
        # Only the tables the query names: each root table adds to building the catalog, most of a query's cost.
        simple_catalog=catalog.proto(root_tables=named | set(tables)),
    )
    for ref, columns in catalog.tables.items():
        if ref not in named and ref not in tables:
            continue
        content = request.table_content[ref]
        content.table_data.SetInParent()
        for row in tables.get(ref, ()):
            extra = set(row) - {name for name, _, _ in columns}
            if extra:
                raise ValueError(f"{ref} has no column {sorted(extra)}")
            content.table_data.row.add(cell=[to_value_proto(row.get(name), type_) for name, type_, _ in columns])
    service = runtime()
    prepared = service.call("PrepareQuery", request, p.ls.PrepareQueryResponse).prepared
    try:
        evaluate_request = p.ls.EvaluateQueryRequest(prepared_query_id=prepared.prepared_query_id)
        for name, value in (parameters or {}).items():
            evaluate_request.params.add(name=name, value=to_value_proto(value, parameter_types[name]))
        response = service.call("EvaluateQuery", evaluate_request, p.ls.EvaluateQueryResponse)
    finally:
        with contextlib.suppress(ZetaError):
            service.call(
                "UnprepareQuery", p.ls.UnprepareQueryRequest(prepared_query_id=prepared.prepared_query_id), empty_response()
            )
    column_types = [c.type for c in prepared.columns]
    rows = [
        tuple(from_value_proto(cell, type_) for cell, type_ in zip(row.cell, column_types))
        for row in response.content.table_data.row
    ]
    return Result([(c.name, type_name(c.type)) for c in prepared.columns], rows)

"""Every persistent SQL function (sql/functions) returns on DuckDB what it returns on BigQuery's reference evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer360 import zeta
from zeta_harness import (  # noqa: F401  (reference is a fixture)
    CSAT, DATES, DISCOUNTS, EMAILS, IDS, MONEY, ONLINE_CHANNELS, ORDER_STATUSES, PHONES, QUANTITIES, TEXT, TICKET_CHANNELS,
    TICKET_STATUSES, TIERS, TIMESTAMPS, WHOLE_NUMBERS, differential, reference,
)

# Values beyond the pools: offsets out of range, lone signs, whitespace kinds.
EXTRA = [
    "2024-03-10T10:00:00+14:00", "2024-03-10T10:00:00+15:00", "2024-03-10T10:00:00-23:59", "2024-03-10T10:00:00+24:00",
    "2024-03-10T10:00:00+05:60", "+", "-", "$", "-$", "\u00a07\u00a0", "\x0b7\x0c", "\r\n", "1.", "-0", "-0.0", "0000000001",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "10000-01-01", "２０２４-01-01", "٣",
]
EDGE_VALUES = sorted(
    {v for pool in (TEXT, IDS, EMAILS, PHONES, DATES, TIMESTAMPS, MONEY, QUANTITIES, DISCOUNTS, ONLINE_CHANNELS,
                    ORDER_STATUSES, TICKET_CHANNELS, TICKET_STATUSES, TIERS, CSAT, WHOLE_NUMBERS, EXTRA)
     for v in pool if v is not None}
) + [None]

EDGE_TABLE = "test.edge_values"
EDGE_COLUMNS = (("position", "INT64"), ("value", "STRING"))


def _catalog() -> zeta.Catalog:
    catalog = zeta.Catalog.from_contract()
    catalog.add_table(EDGE_TABLE, EDGE_COLUMNS)
    return catalog


@pytest.mark.parametrize("function", zeta.load_functions(), ids=lambda f: f.ref)
def test_function_agrees_with_bigquery_on_every_edge_value(reference, function):
    assert [t.upper() for _, t in function.arguments] == ["STRING"], f"{function.file}: extend the edge values for its arguments"
    rows = [{"position": i, "value": v} for i, v in enumerate(EDGE_VALUES)]
    sql = f"select position, value, {function.ref}(value) as result from {EDGE_TABLE}"
    differential(
        f"function {function.ref} ({Path(function.file).name})", sql, {EDGE_TABLE: rows},
        catalog=_catalog(), extra={EDGE_TABLE: EDGE_COLUMNS},
    )

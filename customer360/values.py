"""Warehouse values as text for CSV, JSON and the terminal: exact decimals, ISO 8601 UTC timestamps."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any

# Every NUMERIC in the contract is money, kept by BigQuery and DuckDB at 9 decimal places
# (DECIMAL(38, 9)). Written out, a value keeps the digits it has and at least the cents.
MONEY_DECIMALS = 2


def plain_decimal(value: decimal.Decimal) -> str:
    """`904.310000000` -> `904.31`, `900.000000000` -> `900.00`, `141.291250000` -> `141.29125`: never rounded."""
    text = format(value, "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(MONEY_DECIMALS, "0")
    return f"{whole}.{fraction}"


def iso_timestamp(value: dt.datetime) -> str:
    """A TIMESTAMP in ISO 8601 UTC with `Z`; fractional seconds only when there are any.

    A datetime without a time zone (BigQuery's DATETIME) is written without one.
    """
    zone = ""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        zone = "Z"
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if value.microsecond:
        text = text.rstrip("0")
    return text + zone


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def text(value: Any) -> str:
    """One value as CSV or a table cell shows it; NULL is the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return plain_decimal(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dt.datetime):
        return iso_timestamp(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(json_value(value), ensure_ascii=False)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def json_value(value: Any) -> Any:
    """One value for JSON: decimals and timestamps as exact text, so no reader turns money into a float."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _float_text(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return text(value)

"""BigQuery types and values as ZetaSQL's TypeProto and ValueProto, both ways."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from typing import Any

from customer360.zeta.runtime import protos

_SIMPLE_TYPES = {
    "STRING": "TYPE_STRING",
    "INT64": "TYPE_INT64",
    "INTEGER": "TYPE_INT64",
    "INT": "TYPE_INT64",
    "FLOAT64": "TYPE_DOUBLE",
    "BOOL": "TYPE_BOOL",
    "BOOLEAN": "TYPE_BOOL",
    "NUMERIC": "TYPE_NUMERIC",
    "DECIMAL": "TYPE_NUMERIC",
    "BIGNUMERIC": "TYPE_BIGNUMERIC",
    "BIGDECIMAL": "TYPE_BIGNUMERIC",
    "DATE": "TYPE_DATE",
    "TIMESTAMP": "TYPE_TIMESTAMP",
    "DATETIME": "TYPE_DATETIME",
    "TIME": "TYPE_TIME",
    "BYTES": "TYPE_BYTES",
    "JSON": "TYPE_JSON",
    "INTERVAL": "TYPE_INTERVAL",
}
_TYPE_NAMES = {v: k for k, v in reversed(list(_SIMPLE_TYPES.items()))}
_TYPE_NAMES["TYPE_DOUBLE"] = "FLOAT64"


def type_proto(bigquery_type: str):
    """A TypeProto for a BigQuery type name (scalar types and ARRAY<scalar>)."""
    p = protos()
    name = bigquery_type.strip().upper()
    array = re.fullmatch(r"ARRAY\s*<\s*(.+)\s*>", name)
    if array:
        return p.type.TypeProto(
            type_kind=p.type.TYPE_ARRAY, array_type=p.type.ArrayTypeProto(element_type=type_proto(array.group(1)))
        )
    name = re.sub(r"\(.*\)$", "", name).strip()  # NUMERIC(38, 9) and STRING(10) parameters
    try:
        return p.type.TypeProto(type_kind=getattr(p.type, _SIMPLE_TYPES[name]))
    except KeyError:
        raise ValueError(f"unsupported BigQuery type {bigquery_type!r}") from None


def type_name(proto) -> str:
    """The BigQuery name of a TypeProto."""
    p = protos()
    kind = p.type.TypeKind.Name(proto.type_kind)
    if kind == "TYPE_ARRAY":
        return f"ARRAY<{type_name(proto.array_type.element_type)}>"
    if kind == "TYPE_STRUCT":
        fields = ", ".join(f"{f.field_name} {type_name(f.field_type)}" for f in proto.struct_type.field)
        return f"STRUCT<{fields}>"
    return _TYPE_NAMES.get(kind, kind.removeprefix("TYPE_"))


_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NUMERIC_SCALE = 10**9
_BIGNUMERIC_SCALE = 10**38
_DECIMAL = decimal.Context(prec=100)  # wide enough for BIGNUMERIC without rounding


def _int_to_le_bytes(value: int) -> bytes:
    length = max(1, (value.bit_length() + 8) // 8)
    return value.to_bytes(length, "little", signed=True)


def to_value_proto(value: Any, type_: str):
    """A ValueProto holding a Python value of the given BigQuery type (None is NULL)."""
    p = protos()
    V = p.value.ValueProto
    if value is None:
        return V()
    name = type_.strip().upper()
    array = re.fullmatch(r"ARRAY\s*<\s*(.+)\s*>", name)
    if array:
        return V(array_value=V.Array(element=[to_value_proto(v, array.group(1)) for v in value]))
    name = re.sub(r"\(.*\)$", "", name).strip()
    kind = _SIMPLE_TYPES.get(name)
    if kind == "TYPE_STRING":
        return V(string_value=str(value))
    if kind == "TYPE_INT64":
        return V(int64_value=int(value))
    if kind == "TYPE_DOUBLE":
        return V(double_value=float(value))
    if kind == "TYPE_BOOL":
        return V(bool_value=bool(value))
    if kind in ("TYPE_NUMERIC", "TYPE_BIGNUMERIC"):
        scale = _NUMERIC_SCALE if kind == "TYPE_NUMERIC" else _BIGNUMERIC_SCALE
        scaled = _DECIMAL.scaleb(decimal.Decimal(str(value)), len(str(scale)) - 1)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value!r} has more decimal places than {name} holds")
        data = _int_to_le_bytes(int(scaled))
        return V(numeric_value=data) if kind == "TYPE_NUMERIC" else V(bignumeric_value=data)
    if kind == "TYPE_DATE":
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        if isinstance(value, dt.datetime):
            value = value.date()
        return V(date_value=(value - _EPOCH_DATE).days)
    if kind == "TYPE_TIMESTAMP":
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        delta = value - _EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
        seconds, micro = divmod(micros, 10**6)
        value_proto = V()
        value_proto.timestamp_value.seconds = seconds
        value_proto.timestamp_value.nanos = micro * 1000
        return value_proto
    if kind == "TYPE_JSON":
        return V(json_value=value if isinstance(value, str) else json.dumps(value))
    if kind == "TYPE_BYTES":
        return V(bytes_value=bytes(value))
    raise ValueError(f"cannot convert a Python value to {type_}")


def from_value_proto(value, type_proto_):
    """The Python value of a ValueProto: str, int, float, bool, Decimal, date, aware datetime, list or dict."""
    p = protos()
    which = value.WhichOneof("value")
    if which is None:
        return None
    kind = p.type.TypeKind.Name(type_proto_.type_kind)
    if which == "array_value":
        return [from_value_proto(v, type_proto_.array_type.element_type) for v in value.array_value.element]
    if which == "struct_value":
        fields = type_proto_.struct_type.field
        return {f.field_name: from_value_proto(v, f.field_type) for f, v in zip(fields, value.struct_value.field)}
    if which in ("numeric_value", "bignumeric_value"):
        raw = int.from_bytes(getattr(value, which), "little", signed=True)
        exponent = 9 if which == "numeric_value" else 38
        return _DECIMAL.scaleb(decimal.Decimal(raw), -exponent)
    if which == "date_value":
        return _EPOCH_DATE + dt.timedelta(days=value.date_value)
    if which == "timestamp_value":
        ts = value.timestamp_value
        return _EPOCH + dt.timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)
    if which == "json_value":
        return value.json_value
    if kind == "TYPE_DOUBLE" or which == "double_value":
        return value.double_value
    return getattr(value, which)


"""The one wrapper around Google's ZetaSQL (the BigQuery SQL front end): catalog, analysis and reference evaluation."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import decimal
import fcntl
import gc
import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from customer360 import contract, sqlgen
from customer360.sqlgen import SqlFunction

ZETASQL_VERSION = "0.1.5"

# ---------------------------------------------------------------------------
# Runtime: the WebAssembly module, compiled once and cached on disk.
# ---------------------------------------------------------------------------


class ZetaSQLUnavailable(RuntimeError):
    """The zetasql package is missing or is not the pinned version."""


def _cache_dir() -> Path:
    configured = os.environ.get("C360_ZETASQL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "customer360"


class _Runtime:
    """One instantiated ZetaSQL WebAssembly module speaking the local-service protocol."""

    def __init__(self) -> None:
        try:
            import wasmtime
            import zetasql
            from zetasql.wasi import get_wasm_path
        except ImportError as exc:  # pragma: no cover - exercised only on broken installs
            raise ZetaSQLUnavailable(f"the zetasql package is not installed ({exc}); run `make install`") from exc
        if zetasql.__version__ != ZETASQL_VERSION:
            raise ZetaSQLUnavailable(
                f"zetasql {zetasql.__version__} is installed but customer360 is pinned to {ZETASQL_VERSION}"
            )
        self._wasmtime = wasmtime
        wasm_path = Path(get_wasm_path())
        config = wasmtime.Config()
        with contextlib.suppress(AttributeError):
            config.shared_memory = True
        self.engine = wasmtime.Engine(config)
        module = self._load_module(wasm_path, wasmtime)
        wasi = wasmtime.WasiConfig()
        wasi.inherit_stderr()
        tzdir = _tzinfo_dir()
        if tzdir:
            wasi.preopen_dir(tzdir, "/usr/share/zoneinfo")
        self.store = wasmtime.Store(self.engine)
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        instance = linker.instantiate(self.store, module)
        self.exports = instance.exports(self.store)
        with contextlib.suppress(KeyError):
            self.exports["_initialize"](self.store)
        self.memory = self.exports["memory"]
        self._malloc = self.exports["wasm_malloc"]
        self._free = self.exports["wasm_free"]
        self.lock = threading.RLock()

    def _load_module(self, wasm_path: Path, wasmtime):
        """Deserialize the compiled module from the cache, compiling it (once, under a file lock) when absent."""
        stat = wasm_path.stat()
        key = hashlib.sha256(
            f"{ZETASQL_VERSION}|{wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}"
            f"|{stat.st_size}|{int(stat.st_mtime)}|{os.uname().machine}".encode()
        ).hexdigest()[:16]
        cache_dir = _cache_dir()
        compiled = cache_dir / f"zetasql-{ZETASQL_VERSION}-{key}.cwasm"
        if compiled.exists():
            with contextlib.suppress(Exception):
                return wasmtime.Module.deserialize_file(self.engine, str(compiled))
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            lock_file = open(cache_dir / f"zetasql-{key}.lock", "w")
        except OSError:
            return wasmtime.Module.from_file(self.engine, str(wasm_path))
        with lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be compiling the same module
            if compiled.exists():
                with contextlib.suppress(Exception):
                    return wasmtime.Module.deserialize_file(self.engine, str(compiled))
            module = wasmtime.Module.from_file(self.engine, str(wasm_path))
            tmp = compiled.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.suppress(OSError):
                tmp.write_bytes(module.serialize())
                os.replace(tmp, compiled)
            return module

    def close(self) -> None:
        """Free the wasmtime objects now, in dependency order."""
        for name in ("memory", "store", "engine"):
            resource = getattr(self, name, None)
            close = getattr(resource, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self.exports = self._malloc = self._free = None

    def _base(self) -> int:
        # Shared memory may grow between calls, so the base address is read each time.
        return ctypes.addressof(self.memory.data_ptr().contents)

    def _write(self, ptr: int, data: bytes) -> None:
        ctypes.memmove(self._base() + ptr, data, len(data))

    def _read(self, ptr: int, size: int) -> bytes:
        return ctypes.string_at(self._base() + ptr, size)

    def call(self, method: str, request, response_type):
        """Call one local-service method with a protobuf request; raise ZetaError on a ZetaSQL error."""
        data = request.SerializeToString()
        with self.lock:
            store = self.store
            request_ptr = self._malloc(store, max(len(data), 1))
            size_ptr = self._malloc(store, 4)
            try:
                self._write(request_ptr, data)
                try:
                    response_ptr = self.exports[f"ZetaSqlLocalService_{method}"](store, request_ptr, len(data), size_ptr)
                except self._wasmtime.Trap as trap:
                    # A failed internal check aborts the module; the instance cannot be used again.
                    _discard_runtime(self)
                    raise ZetaError(f"ZetaSQL aborted while running {method}: {str(trap).splitlines()[0]}") from None
                if response_ptr == 0:
                    error_size = self.exports["wasm_get_last_error_size"](store)
                    error_ptr = self.exports["wasm_get_last_error"](store)
                    raw = self._read(error_ptr, error_size).decode("utf-8", "replace")
                    raise ZetaError.from_service(raw)
                size = int.from_bytes(self._read(size_ptr, 4), "little")
                payload = self._read(response_ptr, size)
                self._free(store, response_ptr)
            finally:
                if _RUNTIME is self:
                    self._free(store, request_ptr)
                    self._free(store, size_ptr)
        return response_type.FromString(payload)


def _tzinfo_dir() -> str | None:
    try:
        import tzdata
    except ImportError:
        return None
    path = Path(tzdata.__file__).parent / "zoneinfo"
    return str(path) if path.exists() else None


_RUNTIME: _Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def _discard_runtime(broken: _Runtime) -> None:
    global _RUNTIME
    if _RUNTIME is broken:
        _RUNTIME = None


@atexit.register
def _close_runtime() -> None:
    # Release the instance before interpreter teardown, so wasmtime's finalisers still find their bindings.
    global _RUNTIME
    runtime_, _RUNTIME = _RUNTIME, None
    if runtime_ is not None:
        runtime_.close()
    gc.collect()


def runtime() -> _Runtime:
    """The process-wide ZetaSQL runtime (first call loads or compiles the WebAssembly module)."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = _Runtime()
        return _RUNTIME


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

_LOCATION = re.compile(r"\[at (\d+):(\d+)\]")


class ZetaError(Exception):
    """A ZetaSQL analysis or evaluation error, with its 1-based line and column when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.code = code

    @classmethod
    def from_service(cls, raw: str) -> "ZetaError":
        code = None
        match = re.match(r"Code: (\d+), Message: (.*)", raw, re.S)
        message = raw
        if match:
            code = int(match.group(1))
            message = match.group(2)
        line = column = None
        loc = _LOCATION.search(message)
        if loc:
            line, column = int(loc.group(1)), int(loc.group(2))
            message = (message[: loc.start()] + message[loc.end() :]).strip()
        return cls(message.strip(), line, column, code)

    def __str__(self) -> str:
        where = f" [at {self.line}:{self.column}]" if self.line else ""
        return f"{self.message}{where}"


# ---------------------------------------------------------------------------
# Protocol buffers of the local service (imported lazily: they load with the package).
# ---------------------------------------------------------------------------


class _Protos:
    def __init__(self) -> None:
        from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2
        from zetasql.wasi._pb2.zetasql.proto import function_pb2, options_pb2, simple_catalog_pb2
        from zetasql.wasi._pb2.zetasql.public import (
            function_pb2 as public_function_pb2,
            options_pb2 as public_options_pb2,
            parse_resume_location_pb2,
            simple_table_pb2,
            type_pb2,
            value_pb2,
        )

        self.ls = local_service_pb2
        self.fn = function_pb2
        self.opt = options_pb2
        self.cat = simple_catalog_pb2
        self.pfn = public_function_pb2
        self.popt = public_options_pb2
        self.loc = parse_resume_location_pb2
        self.table = simple_table_pb2
        self.type = type_pb2
        self.value = value_pb2


_PROTOS: _Protos | None = None


def protos() -> _Protos:
    global _PROTOS
    if _PROTOS is None:
        _PROTOS = _Protos()
    return _PROTOS


# ---------------------------------------------------------------------------
# Language options: ZetaSQL's maximum features, narrowed to BigQuery's.
# ---------------------------------------------------------------------------

# Features ZetaSQL offers that BigQuery does not have (or that would change
# results away from BigQuery's), removed from maximum_features(). Pipe syntax
# is BigQuery SQL but outside the subset sqlglot can transpile, so it is off too.
_FEATURES_BIGQUERY_LACKS = (
    "FEATURE_TIMESTAMP_NANOS",  # BigQuery timestamps have microsecond precision
    "FEATURE_TIMESTAMP_PICOS",
    "FEATURE_TIMESTAMP_PRECISION",
    "FEATURE_TIMESTAMP_PRECISION_ANNOTATION",
    "FEATURE_PARSE_TIMESTAMP_WITH_PRECISION_AND_TIMEZONE",
    "FEATURE_CONCAT_MIXED_TYPES",  # BigQuery: CONCAT(STRING, INT64) has no matching signature
    "FEATURE_LITERAL_CONCATENATION",
    "FEATURE_IMPLICIT_COERCION_STRING_LITERAL_TO_BYTES",
    "FEATURE_ALIASES_FOR_STRING_AND_DATE_FUNCTIONS",
    "FEATURE_ADDITIONAL_DATE_TIME_FUNCTIONS",
    "FEATURE_NULLIFZERO_ZEROIFNULL",
    "FEATURE_PI_FUNCTIONS",
    "FEATURE_FIRST_AND_LAST_N",
    "FEATURE_DOT_PRODUCT",
    "FEATURE_MANHATTAN_DISTANCE",
    "FEATURE_L1_NORM",
    "FEATURE_L2_NORM",
    "FEATURE_ARRAY_AGGREGATION_FUNCTIONS",
    "FEATURE_ARRAY_FIND_FUNCTIONS",
    "FEATURE_ARRAY_ZIP",
    "FEATURE_ARRAY_GREATEST_LEAST",
    "FEATURE_INLINE_LAMBDA_ARGUMENT",
    "FEATURE_SAFE_FUNCTION_CALL_WITH_LAMBDA_ARGS",
    "FEATURE_UNNEST_AND_FLATTEN_ARRAYS",
    "FEATURE_MULTIWAY_UNNEST",
    "FEATURE_BARE_ARRAY_ACCESS",
    "FEATURE_STRUCT_POSITIONAL_ACCESSOR",
    "FEATURE_STRUCT_BRACED_CONSTRUCTORS",
    "FEATURE_BRACED_PROTO_CONSTRUCTORS",
    "FEATURE_WITH_EXPRESSION",
    "FEATURE_CHAINED_FUNCTION_CALLS",
    "FEATURE_LATERAL_JOIN",
    "FEATURE_LATERAL_COLUMN_REFERENCES",
    "FEATURE_MULTILEVEL_AGGREGATION",
    "FEATURE_MULTILEVEL_AGGREGATION_ON_UDAS",
    "FEATURE_AGGREGATE_FILTERING",
    "FEATURE_LIMIT_OFFSET_EXPRESSIONS",
    "FEATURE_LIMIT_ALL",
    "FEATURE_WITH_RECURSIVE_DEPTH_MODIFIER",
    "FEATURE_DML_RETURNING",
    "FEATURE_INSERT_ON_CONFLICT_CLAUSE",
    "FEATURE_FOR_UPDATE",
    "FEATURE_UPDATE_CONSTRUCTOR",
    "FEATURE_MATCH_RECOGNIZE",
    "FEATURE_MAP_TYPE",
    "FEATURE_UUID_TYPE",
    "FEATURE_ROW_TYPE",
    "FEATURE_EXTENDED_TYPES",
    "FEATURE_ENABLE_MEASURES",
    "FEATURE_MEASURES_TVF",
    "FEATURE_TOP_LEVEL_TABLE_STATEMENTS",
    "FEATURE_RUN_STATEMENT",
    "FEATURE_EXPERIMENTAL_MODULES",
    "FEATURE_ALLOW_SLASH_PATHS",
    "FEATURE_PROTO_BASE",
    "FEATURE_PIPES",
)
# Behaviour BigQuery has that maximum_features() leaves off. (BigQuery groups and
# de-duplicates FLOAT64, so FEATURE_DISALLOW_GROUP_BY_FLOAT stays off.)
_FEATURES_BIGQUERY_ADDS: tuple[str, ...] = ()


def _feature_values(names: Iterable[str]) -> set[int]:
    enum = protos().popt.LanguageFeature
    values = set()
    for name in names:
        for candidate in (name, name.replace("FEATURE_", "FEATURE_V_1_4_"), name.replace("FEATURE_", "FEATURE_V_1_3_")):
            with contextlib.suppress(ValueError):
                values.add(enum.Value(candidate))
    return values


_LANGUAGE_OPTIONS = None


def language_options():
    """BigQuery's language: ZetaSQL maximum features minus what BigQuery lacks, external product mode."""
    global _LANGUAGE_OPTIONS
    if _LANGUAGE_OPTIONS is None:
        p = protos()
        maximum = runtime().call(
            "GetLanguageOptions", p.ls.LanguageOptionsRequest(maximum_features=True), p.opt.LanguageOptionsProto
        )
        lacking = _feature_values(_FEATURES_BIGQUERY_LACKS)
        enabled = [f for f in maximum.enabled_language_features if f not in lacking]
        enabled += sorted(_feature_values(_FEATURES_BIGQUERY_ADDS) - set(enabled))
        options = p.opt.LanguageOptionsProto(
            name_resolution_mode=p.popt.NAME_RESOLUTION_DEFAULT,
            product_mode=p.popt.PRODUCT_EXTERNAL,
        )
        options.enabled_language_features.extend(enabled)
        # No supported_statement_kinds: every statement kind (DDL, DML, scripting statements) is analysed.
        _LANGUAGE_OPTIONS = options
    return _LANGUAGE_OPTIONS


# ---------------------------------------------------------------------------
# Types and values
# ---------------------------------------------------------------------------

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
        return V(json_value=value if isinstance(value, str) else __import__("json").dumps(value))
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


# ---------------------------------------------------------------------------
# Persistent SQL functions (sql/functions/*.sql)
# ---------------------------------------------------------------------------


def _matching_paren(text: str, open_index: int) -> int:
    """Index of the parenthesis closing the one at open_index, skipping strings and comments."""
    depth = 0
    for token in tokenize(text, open_index):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
            if depth == 0:
                return token.start
    raise ValueError("unbalanced parentheses")


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for token in tokenize(text):
        if token.text in ("(", "<", "["):
            depth += 1
        elif token.text in (")", ">", "]"):
            depth -= 1
        elif token.text == separator and depth == 0:
            parts.append(text[start : token.start])
            start = token.end
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def load_functions() -> tuple[SqlFunction, ...]:
    """Every persistent function of sql/functions/*.sql, as customer360.sqlgen reads and deploys them."""
    return sqlgen.functions()


# ---------------------------------------------------------------------------
# Catalog built from the contract
# ---------------------------------------------------------------------------

# BigQuery's ingestion-time partitioning pseudo-columns of the raw tables.
RAW_PSEUDO_COLUMNS = (("_PARTITIONDATE", "DATE"), ("_PARTITIONTIME", "TIMESTAMP"))

# System variables BigQuery scripts may read or set.
SYSTEM_VARIABLES = {
    ("query_label",): "STRING",
    ("time_zone",): "STRING",
    ("dataset_id",): "STRING",
    ("project_id",): "STRING",
    ("location",): "STRING",
    ("current_job_id",): "STRING",
    ("last_job_id",): "STRING",
    ("row_count",): "INT64",
    ("script", "job_id"): "STRING",
    ("script", "num_child_jobs"): "INT64",
    ("script", "creation_time"): "TIMESTAMP",
    ("script", "bytes_processed"): "INT64",
    ("error", "message"): "STRING",
    ("error", "statement_text"): "STRING",
    ("error", "formatted_stack_trace"): "STRING",
}


@dataclass
class Procedure:
    """A stored procedure CALL statements may name: dataset.name(arguments)."""

    dataset: str
    name: str
    arguments: tuple[tuple[str, str], ...]


@dataclass
class Catalog:
    """Tables (dataset.table -> [(column, type, is_pseudo)]), functions, procedures and script variables."""

    tables: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    functions: tuple[SqlFunction, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    project: str | None = None

    @classmethod
    def from_contract(cls, functions: Sequence[SqlFunction] | None = None, procedures: Sequence[Procedure] = ()):
        tables: dict[str, list[tuple[str, str, bool]]] = {}
        for table in contract.ALL_TABLES:
            columns = [(c.name, c.type, False) for c in table.columns]
            if table.dataset == "raw":
                columns += [(name, type_, True) for name, type_ in RAW_PSEUDO_COLUMNS]
            tables[table.ref] = columns
        return cls(tables, tuple(load_functions() if functions is None else functions), tuple(procedures))

    def copy(self) -> "Catalog":
        return Catalog(dict(self.tables), self.functions, self.procedures, dict(self.variables), self.project)

    def add_table(self, ref: str, columns: Sequence[tuple[str, str]]) -> None:
        self.tables[ref] = [(name, type_, False) for name, type_ in columns]

    def table_columns(self, ref: str) -> list[tuple[str, str, bool]]:
        return self.tables[ref]

    def proto(self):
        p = protos()
        root = p.cat.SimpleCatalogProto(
            name="bigquery",
            builtin_function_options=p.opt.ZetaSQLBuiltinFunctionOptionsProto(language_options=language_options()),
        )
        datasets: dict[str, Any] = {}

        def dataset_catalog(name: str):
            if name not in datasets:
                datasets[name] = p.cat.SimpleCatalogProto(name=name)
            return datasets[name]

        for serial, (ref, columns) in enumerate(sorted(self.tables.items()), start=1):
            column_protos = [
                p.table.SimpleColumnProto(name=n, type=type_proto(t), is_pseudo_column=pseudo, is_writable_column=not pseudo)
                for n, t, pseudo in columns
            ]
            if "." in ref:
                dataset, name = ref.rsplit(".", 1)
                dataset_catalog(dataset).table.append(
                    p.table.SimpleTableProto(name=name, full_name=ref, serialization_id=serial, column=column_protos)
                )
            # Also at the root under its dotted name: `raw.customers` in backticks is the
            # same table in BigQuery, and only root tables can hold evaluator content.
            root.table.append(
                p.table.SimpleTableProto(name=ref, full_name=ref, serialization_id=10_000 + serial, column=column_protos)
            )
        for function in self.functions:
            dataset_catalog(function.dataset).custom_function.append(_function_proto(function))
        for procedure in self.procedures:
            dataset_catalog(procedure.dataset).procedure.append(_procedure_proto(procedure))
        for name, type_ in sorted(self.variables.items(), key=lambda item: item[0]):
            root.constant.append(_constant_proto(name, type_))
        root.catalog.extend(datasets[name] for name in sorted(datasets))
        if self.project:
            project = p.cat.SimpleCatalogProto(name=self.project)
            project.catalog.extend(datasets[name] for name in sorted(datasets))
            root.catalog.append(project)
        return root


def _constant_proto(name: str, type_: str):
    from zetasql.wasi._pb2.zetasql.public import simple_constant_pb2

    return simple_constant_pb2.SimpleConstantProto(
        name_path=[name], type=type_proto(type_) if isinstance(type_, str) else type_
    )


def _argument(type_: str, name: str | None = None, mode=None):
    p = protos()
    options = p.fn.FunctionArgumentTypeOptionsProto(cardinality=p.pfn.FunctionEnums.REQUIRED)
    if name:
        options.argument_name = name
    if mode is not None:
        options.procedure_argument_mode = mode
    return p.fn.FunctionArgumentTypeProto(
        kind=p.pfn.ARG_TYPE_FIXED, type=type_proto(type_), num_occurrences=1, options=options
    )


def _function_proto(function: SqlFunction):
    """A templated SQL function: ZetaSQL resolves (and the evaluator runs) its body at each call."""
    p = protos()
    signature = p.fn.FunctionSignatureProto(
        argument=[_argument(t, n) for n, t in function.arguments],
        return_type=_argument(function.return_type),
        context_id=0,
    )
    return p.fn.FunctionProto(
        name_path=[function.name],
        group="Templated_SQL_Function",
        mode=p.pfn.FunctionEnums.SCALAR,
        signature=[signature],
        templated_sql_function_argument_name=[n for n, _ in function.arguments],
        parse_resume_location=p.loc.ParseResumeLocationProto(input=function.body, byte_position=0),
    )


def _procedure_proto(procedure: Procedure):
    p = protos()
    return p.fn.ProcedureProto(
        name_path=[procedure.name],
        signature=p.fn.FunctionSignatureProto(
            argument=[_argument(t, n) for n, t in procedure.arguments],
            # ZetaSQL's procedure signatures carry a fixed (unused) return type.
            return_type=_argument("BOOL"),
            context_id=0,
        ),
    )


def analyzer_options(parameters: Mapping[str, str] | None = None, *, system_variables: bool = True):
    p = protos()
    options = p.opt.AnalyzerOptionsProto(
        language_options=language_options(),
        error_message_mode=p.popt.ERROR_MESSAGE_ONE_LINE,
        default_timezone="UTC",
        parse_location_record_type=p.popt.PARSE_LOCATION_RECORD_NONE,
    )
    for name, type_ in (contract.QUERY_PARAMETERS if parameters is None else parameters).items():
        options.query_parameters.append(p.opt.AnalyzerOptionsProto.QueryParameterProto(name=name, type=type_proto(type_)))
    for path, type_ in SYSTEM_VARIABLES.items() if system_variables else ():
        options.system_variables.append(
            p.opt.AnalyzerOptionsProto.SystemVariableProto(name_path=list(path), type=type_proto(type_))
        )
    return options


# ---------------------------------------------------------------------------
# Lexing and scripts: BigQuery scripting statements are walked here, and every
# SQL statement inside them is analysed by ZetaSQL at its place in the file.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    kind: str  # word | quoted | string | number | symbol

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)
  | (?P<string>[rRbB]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
  | (?P<quoted>`(?:\\.|[^`\\])*`)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>@{0,2}[A-Za-z_][A-Za-z_0-9]*)
  | (?P<symbol>.)
    """,
    re.S | re.X,
)


def tokenize(text: str, start: int = 0) -> Iterable[Token]:
    """BigQuery tokens of text from start, without whitespace and comments."""
    for match in _TOKEN.finditer(text, start):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        yield Token(match.group(), match.start(), match.end(), kind)


@dataclass(frozen=True)
class Statement:
    text: str
    start: int  # offset in the file
    end: int


def split_statements(text: str) -> list[Statement]:
    """Top-level statements of a file separated by `;` (scripting blocks kept whole)."""
    return [Statement(text[n.start : n.end], n.start, n.end) for n in parse_script(text)]


# Script tree ---------------------------------------------------------------


@dataclass
class Node:
    kind: str  # sql | declare | set | if | while | loop | repeat | for | block | raise | control | procedure
    start: int
    end: int
    tokens: list[Token] = field(default_factory=list)
    children: list["Node"] = field(default_factory=list)
    branches: list[tuple[tuple[int, int] | None, list["Node"]]] = field(default_factory=list)  # IF: (condition, body)
    handler: list["Node"] | None = None


class ScriptSyntaxError(ValueError):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


class _ScriptParser:
    def __init__(self, text: str, start: int = 0, end: int | None = None):
        self.text = text
        self.tokens = [t for t in tokenize(text[: end if end is not None else len(text)], start)]
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def word(self, offset: int = 0) -> str:
        token = self.peek(offset)
        return token.upper if token else ""

    def expect(self, *words: str) -> Token:
        token = self.peek()
        if token is None or (token.upper not in words and token.text not in words):
            where = token.start if token else len(self.text)
            raise ScriptSyntaxError(f"expected {' or '.join(words)}", where)
        self.i += 1
        return token

    def parse(self) -> list[Node]:
        nodes = self.block(())
        if self.peek() is not None:
            raise ScriptSyntaxError(f"unexpected {self.peek().text}", self.peek().start)
        return nodes

    def block(self, terminators: tuple[str, ...]) -> list[Node]:
        nodes = []
        while self.peek() is not None and self.word() not in terminators:
            if self.peek().text == ";":
                self.i += 1
                continue
            nodes.append(self.statement())
        return nodes

    def skip_to(self, stop: Callable[[Token], bool]) -> None:
        """Advances to the first token outside parentheses and CASE ... END for which `stop` holds."""
        depth = 0
        while self.peek() is not None:
            token = self.peek()
            if token.text in ("(", "[") or token.upper == "CASE":
                depth += 1
            elif token.text in (")", "]") or (token.upper == "END" and depth > 0):
                depth -= 1
            elif depth == 0 and stop(token):
                break
            self.i += 1

    def until_semicolon(self) -> tuple[int, int, list[Token]]:
        """Tokens up to the next `;` outside parentheses and CASE ... END."""
        first = self.i
        self.skip_to(lambda token: token.text == ";")
        tokens = self.tokens[first : self.i]
        if self.peek() is not None:
            self.i += 1  # the ;
        if not tokens:
            return (self.tokens[first].start, self.tokens[first].start, tokens)
        return tokens[0].start, tokens[-1].end, tokens

    def expression_until(self, *words: str) -> tuple[int, int]:
        first = self.i
        self.skip_to(lambda token: token.upper in words)
        if self.i == first or self.peek() is None:
            where = self.peek().start if self.peek() else len(self.text)
            raise ScriptSyntaxError(f"expected an expression followed by {' or '.join(words)}", where)
        return self.tokens[first].start, self.tokens[self.i - 1].end

    def statement(self) -> Node:
        token = self.peek()
        word = token.upper
        nxt = self.word(1)
        # Labels: `label: BEGIN ... END`
        if token.kind == "word" and self.peek(1) is not None and self.peek(1).text == ":" and self.word(2) in (
            "BEGIN", "LOOP", "WHILE", "REPEAT", "FOR"
        ):
            self.i += 2
            return self.statement()
        if word == "BEGIN" and nxt not in ("TRANSACTION",) and (self.peek(1) is None or self.peek(1).text != ";"):
            self.i += 1
            body = self.block(("EXCEPTION", "END"))
            handler = None
            if self.word() == "EXCEPTION":
                self.i += 1
                self.expect("WHEN")
                self.expect("ERROR")
                self.expect("THEN")
                handler = self.block(("END",))
            end = self.expect("END")
            self._optional_semicolon()
            return Node("block", token.start, end.end, children=body, handler=handler)
        if word == "IF":
            self.i += 1
            branches = []
            condition = self.expression_until("THEN")
            self.expect("THEN")
            branches.append((condition, self.block(("ELSEIF", "ELSE", "END"))))
            while self.word() == "ELSEIF":
                self.i += 1
                condition = self.expression_until("THEN")
                self.expect("THEN")
                branches.append((condition, self.block(("ELSEIF", "ELSE", "END"))))
            if self.word() == "ELSE":
                self.i += 1
                branches.append((None, self.block(("END",))))
            self.expect("END")
            end = self.expect("IF")
            self._optional_semicolon()
            return Node("if", token.start, end.end, branches=branches)
        if word == "WHILE":
            self.i += 1
            condition = self.expression_until("DO")
            self.expect("DO")
            body = self.block(("END",))
            self.expect("END")
            end = self.expect("WHILE")
            self._optional_semicolon()
            return Node("while", token.start, end.end, branches=[(condition, body)])
        if word == "LOOP":
            self.i += 1
            body = self.block(("END",))
            self.expect("END")
            end = self.expect("LOOP")
            self._optional_semicolon()
            return Node("loop", token.start, end.end, children=body)
        if word == "REPEAT":
            self.i += 1
            body = self.block(("UNTIL",))
            self.expect("UNTIL")
            condition = self.expression_until("END")
            self.expect("END")
            end = self.expect("REPEAT")
            self._optional_semicolon()
            return Node("repeat", token.start, end.end, branches=[(condition, body)])
        if word == "FOR" and self.word(2) == "IN":
            variable = self.peek(1)
            self.i += 3
            query = self.expression_until("DO")
            self.expect("DO")
            body = self.block(("END",))
            self.expect("END")
            end = self.expect("FOR")
            self._optional_semicolon()
            return Node("for", token.start, end.end, tokens=[variable], branches=[(query, body)])
        if word == "CREATE" and self._is_procedure():
            return self.procedure()
        start, end, tokens = self.until_semicolon()
        kind = "sql"
        if word == "DECLARE":
            kind = "declare"
        elif word == "SET":
            kind = "set"
        elif word == "RAISE":
            kind = "raise"
        elif word in ("RETURN", "LEAVE", "BREAK", "CONTINUE", "ITERATE"):
            kind = "control"
        elif word == "EXECUTE":
            kind = "execute"
        return Node(kind, start, end, tokens=tokens)

    def _optional_semicolon(self) -> None:
        if self.peek() is not None and self.peek().text == ";":
            self.i += 1

    def _is_procedure(self) -> bool:
        j = 1
        while self.word(j) in ("OR", "REPLACE", "TEMP", "TEMPORARY"):
            j += 1
        return self.word(j) == "PROCEDURE"

    def procedure(self) -> Node:
        start = self.peek().start
        while self.word() != "PROCEDURE":
            self.i += 1
        self.i += 1
        if self.word() == "IF":
            self.i += 3  # IF NOT EXISTS
        name_tokens = []
        while self.peek() is not None and self.peek().text != "(":
            name_tokens.append(self.peek())
            self.i += 1
        open_index = self.peek().start
        close_index = _matching_paren(self.text, open_index)
        while self.peek() is not None and self.peek().start <= close_index:
            self.i += 1
        while self.word() != "BEGIN" and self.peek() is not None:
            self.i += 1  # OPTIONS(...)
        body = self.statement()
        name = "".join(t.text for t in name_tokens).replace("`", "")
        node = Node("procedure", start, body.end, children=[body])
        node.tokens = name_tokens
        node.branches = [((open_index + 1, close_index), [])]
        node.procedure_name = name  # type: ignore[attr-defined]
        return node


def parse_script(text: str) -> list[Node]:
    """The scripting structure of a BigQuery script or procedure body."""
    return _ScriptParser(text).parse()


# ---------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as `path:line:col: message`."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _byte_offset(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-8"))


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _is_repeated(descriptor) -> bool:
    is_repeated = getattr(descriptor, "is_repeated", None)
    if is_repeated is not None:
        return is_repeated() if callable(is_repeated) else bool(is_repeated)
    return descriptor.label == descriptor.LABEL_REPEATED


def _breadth_first(message, field_name: str):
    """The shallowest set field called field_name in a nested protobuf message."""
    queue = [message]
    while queue:
        current = queue.pop(0)
        for descriptor, value in current.ListFields():
            if descriptor.name == field_name:
                return value
        for descriptor, value in current.ListFields():
            if descriptor.message_type is None:
                continue
            if _is_repeated(descriptor):
                queue.extend(value)
            else:
                queue.append(value)
    return None


def _statement_node(resolved):
    """(kind, message) of the concrete resolved statement inside an AnyResolvedStatementProto."""
    current = resolved
    while True:
        which = current.WhichOneof("node") if current.DESCRIPTOR.oneofs_by_name.get("node") else None
        if which is None:
            return type(current).__name__.removesuffix("Proto"), current
        current = getattr(current, which)


_REGISTERED: dict[bytes, int] = {}
_REGISTERED_OWNER: list[_Runtime | None] = [None]
_REGISTERED_LIMIT = 128


def registered_catalog_id(catalog: Catalog) -> int:
    """Register the catalog with the service once per distinct content (building one per call is slow)."""
    p = protos()
    service = runtime()
    if _REGISTERED_OWNER[0] is not service:
        _REGISTERED.clear()
        _REGISTERED_OWNER[0] = service
    data = catalog.proto().SerializeToString(deterministic=True)
    key = hashlib.sha256(data).digest()
    if key in _REGISTERED:
        _REGISTERED[key] = _REGISTERED.pop(key)  # most recently used last
        return _REGISTERED[key]
    if len(_REGISTERED) >= _REGISTERED_LIMIT:
        oldest = next(iter(_REGISTERED))
        with contextlib.suppress(ZetaError):
            service.call("UnregisterCatalog", p.ls.UnregisterRequest(registered_id=_REGISTERED.pop(oldest)), _Empty())
    request = p.ls.RegisterCatalogRequest(simple_catalog=p.cat.SimpleCatalogProto.FromString(data))
    _REGISTERED[key] = service.call("RegisterCatalog", request, p.ls.RegisterResponse).registered_id
    return _REGISTERED[key]


def _Empty():
    from google.protobuf import empty_pb2

    return empty_pb2.Empty


class Analyzer:
    """Analyses statements, expressions and scripts against a catalog with BigQuery's rules."""

    def __init__(self, catalog: Catalog | None = None, parameters: Mapping[str, str] | None = None):
        self.catalog = catalog if catalog is not None else Catalog.from_contract()
        self.parameters = dict(contract.QUERY_PARAMETERS if parameters is None else parameters)

    # -- single statements and expressions ---------------------------------

    def analyze_statement(self, text: str, start: int = 0, *, catalog: Catalog | None = None, parameters=None):
        """Analyse the statement beginning at `start` of text; errors carry file-relative positions."""
        p = protos()
        request = p.ls.AnalyzeRequest(
            options=analyzer_options(self.parameters if parameters is None else parameters),
            registered_catalog_id=registered_catalog_id(catalog or self.catalog),
            parse_resume_location=p.loc.ParseResumeLocationProto(input=text, byte_position=_byte_offset(text, start)),
        )
        response = runtime().call("Analyze", request, p.ls.AnalyzeResponse)
        return response.resolved_statement

    def expression_type(self, text: str, start: int, end: int, *, catalog: Catalog | None = None, parameters=None):
        """The TypeProto of the expression text[start:end]; errors carry file-relative positions."""
        p = protos()
        request = p.ls.AnalyzeRequest(
            options=analyzer_options(self.parameters if parameters is None else parameters),
            registered_catalog_id=registered_catalog_id(catalog or self.catalog),
            sql_expression=text[start:end],
        )
        try:
            response = runtime().call("Analyze", request, p.ls.AnalyzeResponse)
        except ZetaError as error:
            base_line, base_column = line_col(text, start)
            if error.line:
                line = base_line + error.line - 1
                column = error.column + base_column - 1 if error.line == 1 else error.column
                raise ZetaError(error.message, line, column, error.code) from None
            raise ZetaError(error.message, base_line, base_column, error.code) from None
        return _breadth_first(response.resolved_expression, "type")

    # -- scripts ---------------------------------------------------------------

    def check(self, text: str, path: str, *, variables: Mapping[str, Any] | None = None, parameters=None) -> list[Problem]:
        """Every problem in a file: one query, several statements, or a BigQuery script."""
        try:
            nodes = parse_script(text)
        except ScriptSyntaxError as error:
            return [Problem(path, *line_col(text, error.offset), f"Syntax error: {error}")]
        if not nodes:
            return [Problem(path, 1, 1, "file holds no SQL statement")]
        catalog = self.catalog.copy()
        catalog.variables.update(variables or {})
        problems: list[Problem] = []
        _ScriptChecker(self, text, path, problems, self.parameters if parameters is None else parameters).walk(
            nodes, catalog
        )
        return problems


class _ScriptChecker:
    def __init__(self, analyzer: Analyzer, text: str, path: str, problems: list[Problem], parameters):
        self.analyzer = analyzer
        self.text = text
        self.path = path
        self.problems = problems
        self.parameters = parameters

    def report(self, offset_or_error, message: str | None = None) -> None:
        if isinstance(offset_or_error, ZetaError):
            error = offset_or_error
            line, column = (error.line, error.column) if error.line else (1, 1)
            self.problems.append(Problem(self.path, line, column, _one_line(error.message)))
        else:
            self.problems.append(Problem(self.path, *line_col(self.text, offset_or_error), message or ""))

    def expression(self, span, catalog, expect_bool: bool = False):
        start, end = span
        try:
            result = self.analyzer.expression_type(self.text, start, end, catalog=catalog, parameters=self.parameters)
        except ZetaError as error:
            self.report(error)
            return None
        if expect_bool and result is not None and type_name(result) != "BOOL":
            self.report(start, f"condition must be BOOL, got {type_name(result)}")
        return result

    def walk(self, nodes: list[Node], catalog: Catalog) -> None:
        for node in nodes:
            getattr(self, f"visit_{node.kind}")(node, catalog)

    def visit_sql(self, node: Node, catalog: Catalog) -> None:
        try:
            resolved = self.analyzer.analyze_statement(self.text, node.start, catalog=catalog, parameters=self.parameters)
        except ZetaError as error:
            self.report(error)
            return
        self._remember_created_table(resolved, catalog)

    def _remember_created_table(self, resolved, catalog: Catalog) -> None:
        kind, message = _statement_node(resolved)
        if "CreateTable" not in kind:
            return
        name_path = _breadth_first(message, "name_path")
        definitions = _breadth_first(message, "column_definition_list")
        if not name_path or definitions is None:
            return
        catalog.add_table(".".join(name_path), [(d.name, type_name(d.type)) for d in definitions])

    def visit_declare(self, node: Node, catalog: Catalog) -> None:
        tokens = node.tokens[1:]
        names = []
        i = 0
        while i < len(tokens):
            names.append(tokens[i].text.strip("`"))
            if i + 1 < len(tokens) and tokens[i + 1].text == ",":
                i += 2
                continue
            i += 1
            break
        rest = tokens[i:]
        default_at = next((j for j, t in enumerate(rest) if t.upper == "DEFAULT"), None)
        type_tokens = rest if default_at is None else rest[:default_at]
        declared = None
        if type_tokens:
            type_text = self.text[type_tokens[0].start : type_tokens[-1].end]
            try:
                declared = type_proto(type_text)
            except ValueError:
                declared = None  # STRUCT and other composite types: the name is known, its type is not checked
                self.report(type_tokens[0].start, f"unsupported variable type {type_text}") if not type_text.upper().startswith(("STRUCT", "ARRAY")) else None
        inferred = None
        if default_at is not None:
            expr = rest[default_at + 1 :]
            if not expr:
                self.report(rest[default_at].start, "DEFAULT needs an expression")
            else:
                inferred = self.expression((expr[0].start, expr[-1].end), catalog)
        if declared is None and inferred is None and not type_tokens:
            self.report(node.start, "DECLARE needs a type or a DEFAULT value")
        for name in names:
            known = declared if declared is not None else inferred
            catalog.variables[name] = known if known is not None else "STRING"

    def visit_set(self, node: Node, catalog: Catalog) -> None:
        tokens = node.tokens
        equals = next((j for j, t in enumerate(tokens) if t.text == "="), None)
        if equals is None or equals + 1 >= len(tokens):
            self.report(node.start, "SET needs `name = expression`")
            return
        target = tokens[1]
        if target.text.startswith("@@"):
            name = self.text[target.start : tokens[equals - 1].end].lstrip("@").lower()
            if tuple(name.split(".")) not in SYSTEM_VARIABLES:
                self.report(target.start, f"unknown system variable @@{name}")
        elif target.text != "(":
            name = target.text.strip("`")
            if name not in catalog.variables:
                self.report(target.start, f"variable {name} is not declared")
        self.expression((tokens[equals + 1].start, tokens[-1].end), catalog)

    def visit_raise(self, node: Node, catalog: Catalog) -> None:
        equals = next((j for j, t in enumerate(node.tokens) if t.text == "="), None)
        if equals is not None and equals + 1 < len(node.tokens):
            self.expression((node.tokens[equals + 1].start, node.tokens[-1].end), catalog)

    def visit_control(self, node: Node, catalog: Catalog) -> None:
        pass

    def visit_execute(self, node: Node, catalog: Catalog) -> None:
        self.report(node.start, "EXECUTE IMMEDIATE is outside the supported subset: dynamic SQL cannot be validated")

    def visit_block(self, node: Node, catalog: Catalog) -> None:
        self.walk(node.children, catalog)
        if node.handler is not None:
            self.walk(node.handler, catalog)

    def visit_if(self, node: Node, catalog: Catalog) -> None:
        for condition, body in node.branches:
            if condition is not None:
                self.expression(condition, catalog, expect_bool=True)
            self.walk(body, catalog)

    visit_while = visit_if
    visit_repeat = visit_if

    def visit_loop(self, node: Node, catalog: Catalog) -> None:
        self.walk(node.children, catalog)

    def visit_for(self, node: Node, catalog: Catalog) -> None:
        (query, body), = node.branches
        try:
            resolved = self.analyzer.analyze_statement(self.text, query[0], catalog=catalog, parameters=self.parameters)
        except ZetaError as error:
            self.report(error)
            return
        columns = _breadth_first(resolved, "output_column_list")
        variable = node.tokens[0].text.strip("`")
        if columns:
            p = protos()
            struct = p.type.TypeProto(type_kind=p.type.TYPE_STRUCT)
            for column in columns:
                struct.struct_type.field.add(field_name=column.name, field_type=column.column.type)
            catalog.variables[variable] = struct
        self.walk(body, catalog)

    def visit_procedure(self, node: Node, catalog: Catalog) -> None:
        (args_span, _), = node.branches
        body_catalog = catalog.copy()
        arguments = []
        for argument in _split_top_level(self.text[args_span[0] : args_span[1]]):
            parts = argument.split()
            if parts and parts[0].upper() in ("IN", "OUT", "INOUT"):
                parts = parts[1:]
            if len(parts) >= 2:
                body_catalog.variables[parts[0].strip("`")] = " ".join(parts[1:])
                arguments.append((parts[0].strip("`"), " ".join(parts[1:])))
        # Query parameters are not available inside a stored procedure body.
        checker = _ScriptChecker(self.analyzer, self.text, self.path, self.problems, {})
        checker.walk(node.children, body_catalog)
        name = getattr(node, "procedure_name", "")
        if "." in name:
            dataset, proc = name.split(".")[-2:]
            catalog.procedures = catalog.procedures + (Procedure(dataset, proc, tuple(arguments)),)


# ---------------------------------------------------------------------------
# Reference evaluation
# ---------------------------------------------------------------------------


@dataclass
class Result:
    """Rows a query returned on the reference evaluator, with BigQuery column types."""

    columns: list[tuple[str, str]]
    rows: list[tuple]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


_CLAUSE_WORDS = {
    "WHERE", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "ON", "USING", "GROUP", "ORDER", "HAVING", "QUALIFY",
    "WINDOW", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "FOR", "TABLESAMPLE", "WITH", "SET", "WHEN", "VALUES", "SELECT",
    "OUTER", "LATERAL", "PIVOT", "UNPIVOT", "NATURAL",
}


def _reference_tables(sql: str, catalog: Catalog) -> str:
    """Quote dataset.table references as one identifier: only root tables can hold content."""
    tokens = list(tokenize(sql))
    edits = []
    for i in range(len(tokens) - 2):
        first, dot, second = tokens[i], tokens[i + 1], tokens[i + 2]
        if first.kind != "word" or dot.text != "." or second.kind != "word":
            continue
        if i and tokens[i - 1].text == ".":
            continue
        if i + 3 < len(tokens) and tokens[i + 3].text in (".", "("):
            continue  # a column path or a function call, not a table
        ref = f"{first.text}.{second.text}"
        if ref in catalog.tables:
            following = tokens[i + 3] if i + 3 < len(tokens) else None
            has_alias = following is not None and (
                following.upper == "AS" or (following.kind in ("word", "quoted") and following.upper not in _CLAUSE_WORDS)
            )
            # `raw.customers` is implicitly aliased `customers`; a quoted `raw.customers` would not be.
            alias = "" if has_alias else f" AS {second.text}"
            edits.append((first.start, second.end, f"`{ref}`{alias}"))
    for start, end, replacement in reversed(edits):
        sql = sql[:start] + replacement + sql[end:]
    return sql


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
    parameter_types = dict(contract.QUERY_PARAMETERS)
    request = p.ls.PrepareQueryRequest(
        sql=_reference_tables(sql, catalog),
        options=analyzer_options(parameter_types, system_variables=False),
        simple_catalog=catalog.proto(),
    )
    for ref, columns in catalog.tables.items():
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
                "UnprepareQuery", p.ls.UnprepareQueryRequest(prepared_query_id=prepared.prepared_query_id), _Empty()
            )
    column_types = [c.type for c in prepared.columns]
    rows = [
        tuple(from_value_proto(cell, type_) for cell, type_ in zip(row.cell, column_types))
        for row in response.content.table_data.row
    ]
    return Result([(c.name, type_name(c.type)) for c in prepared.columns], rows)

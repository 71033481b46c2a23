"""The catalog ZetaSQL analyses against: the contract's tables, the SQL functions, procedures and BigQuery's language."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping, Sequence

from customer360 import contract, sqlgen
from customer360.sqlgen import SqlFunction
from customer360.zeta.runtime import Runtime, ZetaError, empty_response, protos, runtime
from customer360.zeta.types import type_proto

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


def load_functions() -> tuple[SqlFunction, ...]:
    """Every persistent function of sql/functions/*.sql, as customer360.sqlgen reads and deploys them."""
    return sqlgen.functions()


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


# The dataset-level INFORMATION_SCHEMA views the daily script reads, with their documented columns
# (https://cloud.google.com/bigquery/docs/information-schema-partitions,
#  https://cloud.google.com/bigquery/docs/information-schema-routines).
INFORMATION_SCHEMA_VIEWS = {
    "PARTITIONS": (
        ("table_catalog", "STRING"), ("table_schema", "STRING"), ("table_name", "STRING"), ("partition_id", "STRING"),
        ("total_rows", "INT64"), ("total_logical_bytes", "INT64"), ("total_billable_bytes", "INT64"),
        ("last_modified_time", "TIMESTAMP"), ("storage_tier", "STRING"),
    ),
    "ROUTINES": (
        ("specific_catalog", "STRING"), ("specific_schema", "STRING"), ("specific_name", "STRING"),
        ("routine_catalog", "STRING"), ("routine_schema", "STRING"), ("routine_name", "STRING"),
        ("routine_type", "STRING"), ("data_type", "STRING"), ("routine_body", "STRING"),
        ("routine_definition", "STRING"), ("external_language", "STRING"), ("is_deterministic", "STRING"),
        ("security_type", "STRING"), ("created", "TIMESTAMP"), ("last_altered", "TIMESTAMP"), ("ddl", "STRING"),
    ),
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
        for dataset in contract.DATASETS:
            for view, view_columns in INFORMATION_SCHEMA_VIEWS.items():
                tables[f"{dataset}.INFORMATION_SCHEMA.{view}"] = [(n, t, False) for n, t in view_columns]
        return cls(tables, tuple(load_functions() if functions is None else functions), tuple(procedures))

    def copy(self) -> "Catalog":
        return Catalog(dict(self.tables), self.functions, self.procedures, dict(self.variables), self.project)

    def add_table(self, ref: str, columns: Sequence[tuple[str, str]]) -> None:
        self.tables[ref] = [(name, type_, False) for name, type_ in columns]

    def table_columns(self, ref: str) -> list[tuple[str, str, bool]]:
        return self.tables[ref]

    def proto(self, root_tables: Collection[str] | None = None):
        """The catalog as ZetaSQL's proto; ROOT_TABLES limits the tables also held at the root under their
        dotted names (the evaluator's, which can hold content) to those: each one adds to building it."""
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
            if ref.count(".") == 2:
                # dataset.INFORMATION_SCHEMA.VIEW: a catalog inside the dataset's.
                dataset, schema, name = ref.split(".")
                parent = dataset_catalog(dataset)
                inner = next((c for c in parent.catalog if c.name == schema), None)
                if inner is None:
                    inner = parent.catalog.add(name=schema)
                inner.table.append(
                    p.table.SimpleTableProto(name=name, full_name=ref, serialization_id=serial, column=column_protos)
                )
                continue
            if "." in ref:
                dataset, name = ref.rsplit(".", 1)
                dataset_catalog(dataset).table.append(
                    p.table.SimpleTableProto(name=name, full_name=ref, serialization_id=serial, column=column_protos)
                )
            # Also at the root under its dotted name: `raw.customers` in backticks is the
            # same table in BigQuery, and only root tables can hold evaluator content.
            if root_tables is None or ref in root_tables:
                root.table.append(
                    p.table.SimpleTableProto(name=ref, full_name=ref, serialization_id=10_000 + serial,
                                             column=column_protos)
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
    """BigQuery's language, UTC, one-line errors, the query parameters and (for scripts) the system variables."""
    p = protos()
    options = p.opt.AnalyzerOptionsProto(
        language_options=language_options(),
        error_message_mode=p.popt.ERROR_MESSAGE_ONE_LINE,
        default_timezone="UTC",
        parse_location_record_type=p.popt.PARSE_LOCATION_RECORD_NONE,
    )
    for name, type_ in ({**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS} if parameters is None else parameters).items():
        options.query_parameters.append(p.opt.AnalyzerOptionsProto.QueryParameterProto(name=name, type=type_proto(type_)))
    for path, type_ in SYSTEM_VARIABLES.items() if system_variables else ():
        options.system_variables.append(
            p.opt.AnalyzerOptionsProto.SystemVariableProto(name_path=list(path), type=type_proto(type_))
        )
    return options


_REGISTERED: dict[bytes, int] = {}
_REGISTERED_OWNER: list[Runtime | None] = [None]
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
            service.call("UnregisterCatalog", p.ls.UnregisterRequest(registered_id=_REGISTERED.pop(oldest)), empty_response())
    request = p.ls.RegisterCatalogRequest(simple_catalog=p.cat.SimpleCatalogProto.FromString(data))
    _REGISTERED[key] = service.call("RegisterCatalog", request, p.ls.RegisterResponse).registered_id
    return _REGISTERED[key]


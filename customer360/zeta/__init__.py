"""The one wrapper around Google's ZetaSQL (the BigQuery SQL front end): catalog, parsing, analysis and evaluation."""

# runtime.py   the WebAssembly module, compiled once and cached, and its local-service protocol
# types.py     BigQuery types and values as ZetaSQL protocol buffers
# catalog.py   the catalog built from the contract, the SQL functions and BigQuery's language options
# syntax.py    ZetaSQL's parser: parse trees of scripts and queries with byte ranges
# analysis.py  the script checker behind `c360 validate`
# evaluation.py  the reference evaluator the differential tests compare DuckDB with
# script.py    a step's statements or procedure body run on the evaluator over tables held in Python

from customer360.zeta.analysis import Analyzer, Problem
from customer360.zeta.catalog import (
    RAW_PSEUDO_COLUMNS, SYSTEM_VARIABLES, Catalog, Procedure, analyzer_options, language_options, load_functions,
    registered_catalog_id,
)
from customer360.zeta.evaluation import Result, evaluate
from customer360.zeta.runtime import (
    ZETASQL_VERSION, Runtime, ZetaError, ZetaSQLUnavailable, cache_dir, protos, runtime,
)
from customer360.zeta.syntax import parse_script, parse_statement
from customer360.zeta.types import from_value_proto, to_value_proto, type_name, type_proto

__all__ = [
    "RAW_PSEUDO_COLUMNS", "SYSTEM_VARIABLES", "ZETASQL_VERSION", "Analyzer", "Catalog", "Problem", "Procedure",
    "Result", "Runtime", "ZetaError", "ZetaSQLUnavailable", "analyzer_options", "cache_dir", "evaluate",
    "from_value_proto", "language_options", "load_functions", "parse_script", "parse_statement", "protos",
    "registered_catalog_id", "runtime", "to_value_proto", "type_name", "type_proto",
]

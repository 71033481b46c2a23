"""Runs a step's BigQuery statements, or its stored-procedure body, on ZetaSQL's reference evaluator over tables held in Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from customer360 import contract
from customer360.sqlgen.text import Statement
from customer360.zeta.catalog import Catalog
from customer360.zeta.evaluation import Result, evaluate
from customer360.zeta.runtime import ZetaError
from customer360.zeta.syntax import (
    Source, concrete, descendants, identifier, kind, parse_script, parse_statement, path_names, span, statements,
)
from customer360.zeta.types import to_value_proto, type_proto

# Implicit coercions BigQuery applies to an INSERT's query columns (a supertype of the query's column type),
# https://cloud.google.com/bigquery/docs/reference/standard-sql/conversion_rules#coercion
_COERCIBLE = {("INT64", "NUMERIC"), ("INT64", "BIGNUMERIC"), ("INT64", "FLOAT64"), ("NUMERIC", "BIGNUMERIC"),
              ("NUMERIC", "FLOAT64"), ("BIGNUMERIC", "FLOAT64")}


class ScriptError(Exception):
    """A statement the runner cannot run, or one the evaluator refused; str() names the statement."""


class AssertionFailed(ScriptError):
    """An ASSERT (a blocking check) was not TRUE; `message` is its description."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: assertion failed: {message}")
        self.message = message


@dataclass
class _ValuedCatalog(Catalog):
    """A catalog whose script variables are named constants holding their current values."""

    values: dict[str, Any] = field(default_factory=dict)

    def proto(self, root_tables=None):
        root = super().proto(root_tables)
        for constant in root.constant:
            name = constant.name_path[0]
            constant.value.CopyFrom(to_value_proto(self.values.get(name), self.variables[name]))
        return root


@dataclass
class _Variable:
    type: str
    value: Any = None


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= 80 else line[:77] + "..."


def _column_type(name: str) -> str:
    """A declared type as the catalog spells it (`array<date>` is ARRAY<DATE>)."""
    type_proto(name)  # raises ValueError for a type the runner cannot hold
    return " ".join(name.upper().split())


class ReferenceWarehouse:
    """Every table of the contract (and the temp tables a script creates) as rows in Python.

    `tables` maps `dataset.table` (or a temp table's name) to a list of dicts keyed by column name; the
    evaluator reads them for each statement, and statements that write replace or extend them.
    """

    def __init__(self, tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
        self.catalog = Catalog.from_contract()
        self.tables: dict[str, list[dict[str, Any]]] = {ref: [] for ref in self.catalog.tables}
        self.temporary: set[str] = set()
        for ref, rows in (tables or {}).items():
            self.replace(ref, rows)
        self.evaluations = 0

    # ------------------------------------------------------------------ tables

    def columns(self, ref: str) -> list[tuple[str, str]]:
        """(name, type) of every column, the raw tables' partition pseudo-column included."""
        return [(name, type_) for name, type_, _ in self.catalog.tables[ref]]

    def replace(self, ref: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if ref not in self.catalog.tables:
            raise ScriptError(f"no table {ref} in the catalog")
        names = {name for name, _ in self.columns(ref)}
        for row in rows:
            unknown = set(row) - names
            if unknown:
                raise ScriptError(f"{ref} has no column {sorted(unknown)}")
        self.tables[ref] = [dict(row) for row in rows]

    def rows(self, ref: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.tables[ref]]

    # ------------------------------------------------------------------ running

    def run_statements(self, step_statements: Sequence[Statement], parameters: Mapping[str, Any], label: str) -> dict:
        """Runs a step's statements (customer360.sqlgen.step_statements) with query parameters, as the local
        engine runs them; returns the parameters as the statements left them (a setting statement's value)."""
        values = dict(parameters)
        for number, statement in enumerate(step_statements, start=1):
            where = f"{label} statement {number} ({_first_line(statement.sql)})"
            if statement.sets or statement.is_assertion:
                result = self._evaluate(statement.sql, where, values, {})
                value = result.rows[0][0] if result.rows else None
                if statement.sets:
                    values[statement.sets] = value or []
                elif value is not True:
                    raise AssertionFailed(where, statement.message)
                continue
            try:
                node = concrete(parse_statement(statement.sql))
            except ZetaError as error:
                raise ScriptError(f"{where}: {error}") from None
            self._execute(node, Source.of(statement.sql), where, values, {})
        return values

    def run_procedure(self, body: str, arguments: Mapping[str, Any], label: str) -> dict[str, Any]:
        """Runs a stored procedure's body (a BEGIN ... END script) with its arguments (name -> value, typed by
        contract.QUERY_PARAMETERS under their procedure names); returns every variable's final value."""
        types = {contract.procedure_argument(name): type_ for name, type_ in contract.QUERY_PARAMETERS.items()}
        unknown = set(arguments) - set(types)
        if unknown:
            raise ScriptError(f"{label}: no procedure argument {sorted(unknown)}")
        return self.run_script(body, label, variables={name: (types[name], value) for name, value in arguments.items()})

    def run_script(self, text: str, label: str, *, parameters: Mapping[str, Any] | None = None,
                   variables: Mapping[str, tuple[str, Any]] | None = None) -> dict[str, Any]:
        """Runs a BigQuery script (statements, BEGIN ... END blocks, DECLARE, SET, ASSERT) with query parameters
        and script variables (name -> (type, value)) already set; returns every variable's final value."""
        held = {name: _Variable(_column_type(type_), value) for name, (type_, value) in (variables or {}).items()}
        source = Source.of(text)
        try:
            script = parse_script(text)
        except ZetaError as error:
            raise ScriptError(f"{label}: {error}") from None
        self._walk(statements(script.statement_list_node), source, label, held, dict(parameters or {}))
        return {name: variable.value for name, variable in held.items()}

    def _walk(self, nodes: list, source: Source, label: str, variables: dict[str, _Variable],
              parameters: dict[str, Any]) -> None:
        for node in nodes:
            line, _ = source.line_col(span(node)[0])
            where = f"{label} line {line} ({_first_line(source.slice(*span(node)))})"
            statement_kind = kind(node)
            if statement_kind == "BeginEndBlock":
                if node.handler_list.exception_handler_list:
                    raise ScriptError(f"{where}: exception handlers are outside what the runner executes")
                self._walk(statements(node.statement_list_node), source, label, variables, parameters)
            elif statement_kind == "VariableDeclaration":
                if not node.HasField("type"):
                    raise ScriptError(f"{where}: a declaration without a type is outside what the runner executes")
                try:
                    type_ = _column_type(source.slice(*span(node.type)))
                except ValueError as error:
                    raise ScriptError(f"{where}: {error}") from None
                value = None
                if node.HasField("default_value"):
                    value = self._expression(node.default_value, source, where, parameters, variables)
                for name in node.variable_list.identifier_list:
                    variables[identifier(name)] = _Variable(type_, value)
            elif statement_kind == "SingleAssignment":
                name = identifier(node.variable)
                if name not in variables:
                    raise ScriptError(f"{where}: variable {name} is not declared")
                variables[name].value = self._expression(node.expression, source, where, parameters, variables)
            elif statement_kind == "AssertStatement":
                passed = self._expression(node.expr, source, where, parameters, variables)
                if passed is not True:
                    message = node.description.string_value if node.HasField("description") else "assertion"
                    raise AssertionFailed(where, message)
            else:
                self._execute(node, source, where, parameters, variables)

    def _expression(self, node, source: Source, where: str, parameters: Mapping[str, Any],
                    variables: dict[str, _Variable]) -> Any:
        result = self._evaluate(f"select {source.slice(*span(node))}", where, parameters, variables)
        return result.rows[0][0]

    def _execute(self, node, source: Source, where: str, parameters: Mapping[str, Any],
                 variables: dict[str, _Variable]) -> None:
        """One SQL statement: CREATE TEMP TABLE ... AS SELECT, INSERT ... SELECT, DELETE, DROP TABLE."""
        statement_kind = kind(node)
        if statement_kind == "CreateTableStatement":
            self._create(node, source, where, parameters, variables)
        elif statement_kind == "InsertStatement":
            self._insert(node, source, where, parameters, variables)
        elif statement_kind == "DeleteStatement":
            self._delete(node, source, where, parameters, variables)
        elif statement_kind == "DropStatement":
            names = path_names(node.name)
            ref = ".".join(names)
            if ref not in self.temporary:
                if node.is_if_exists:
                    return
                raise ScriptError(f"{where}: no temp table {ref} to drop")
            self.temporary.discard(ref)
            del self.tables[ref]
            del self.catalog.tables[ref]
        else:
            raise ScriptError(f"{where}: {statement_kind} statements are outside what the runner executes")

    def _create(self, node, source, where, parameters, variables) -> None:
        base, options = node.parent, node.parent.parent
        ref = ".".join(path_names(base.name))
        if not node.HasField("query"):
            raise ScriptError(f"{where}: only CREATE TEMP TABLE ... AS SELECT is executed")
        if "." in ref:
            raise ScriptError(f"{where}: only temp tables (unqualified names) are created by a step")
        if ref in self.tables and not options.is_or_replace:
            raise ScriptError(f"{where}: table {ref} already exists")
        result = self._evaluate(source.slice(*span(node.query)), where, parameters, variables)
        try:
            columns = [(name, _column_type(type_)) for name, type_ in result.columns]
        except ValueError as error:
            raise ScriptError(f"{where}: {error}") from None
        if len({name.lower() for name, _ in columns}) != len(columns):
            raise ScriptError(f"{where}: the query returns duplicate column names {result.column_names}")
        self.catalog.add_table(ref, columns)
        self.temporary.add(ref)
        self.tables[ref] = [dict(zip(result.column_names, row)) for row in result.rows]

    def _target(self, node, where: str) -> str:
        ref = ".".join(path_names(concrete(node.target_path)))
        if ref not in self.tables:
            raise ScriptError(f"{where}: no table {ref}")
        return ref

    def _insert(self, node, source, where, parameters, variables) -> None:
        ref = self._target(node, where)
        if not node.HasField("query") or not node.HasField("column_list"):
            raise ScriptError(f"{where}: only INSERT INTO table (columns) SELECT ... is executed")
        targets = [identifier(name) for name in node.column_list.identifiers]
        declared = dict(self.columns(ref))
        unknown = [name for name in targets if name not in declared]
        if unknown:
            raise ScriptError(f"{where}: {ref} has no column {unknown}")
        result = self._evaluate(source.slice(*span(node.query)), where, parameters, variables)
        if len(result.columns) != len(targets):
            raise ScriptError(f"{where}: the query returns {len(result.columns)} columns for {len(targets)}")
        for target, (_, found) in zip(targets, result.columns):
            wanted = declared[target]
            if found != wanted and (found, wanted) not in _COERCIBLE:
                raise ScriptError(f"{where}: {ref}.{target} is {wanted}; the query gives {found}")
        self.tables[ref] += [dict(zip(targets, row)) for row in result.rows]

    def _delete(self, node, source, where, parameters, variables) -> None:
        """DELETE FROM t [AS a] WHERE c keeps the rows for which c is not TRUE."""
        ref = self._target(node, where)
        if not node.HasField("where"):
            raise ScriptError(f"{where}: a DELETE without WHERE is not BigQuery SQL")
        alias = identifier(node.alias.identifier) if node.HasField("alias") else ref.split(".")[-1]
        names = [name for name, _ in self.columns(ref)]
        kept_sql = (
            f"select {', '.join(f'`{alias}`.`{name}`' for name in names)}\n"
            f"from {source.slice(*span(node.target_path))} as `{alias}`\n"
            f"where ({source.slice(*span(node.where))}) is not true"
        )
        result = self._evaluate(kept_sql, where, parameters, variables)
        self.tables[ref] = [dict(zip(names, row)) for row in result.rows]

    def _evaluate(self, sql: str, where: str, parameters: Mapping[str, Any],
                  variables: dict[str, _Variable]) -> Result:
        """One query on the evaluator, over a catalog of just the tables it names (a smaller catalog is faster)."""
        try:
            tree = parse_statement(sql)
        except ZetaError as error:
            raise ScriptError(f"{where}: {error}") from None
        named = {".".join(path_names(table.path_expr)) for table in descendants(tree, "TablePathExpression")
                 if table.HasField("path_expr")}
        read = {ref: self.catalog.tables[ref] for ref in named if ref in self.catalog.tables}
        catalog = _ValuedCatalog(read, self.catalog.functions, (), {n: v.type for n, v in variables.items()},
                                 values={n: v.value for n, v in variables.items()})
        self.evaluations += 1
        try:
            return evaluate(sql, {ref: self.tables[ref] for ref in read}, parameters, catalog=catalog)
        except ZetaError as error:
            raise ScriptError(f"{where}: {error}") from None
        except ValueError as error:
            raise ScriptError(f"{where}: {error}") from None

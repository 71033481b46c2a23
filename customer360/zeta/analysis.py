"""Checks a SQL file with BigQuery's rules: ZetaSQL parses the script, and every statement is analysed in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from customer360 import contract
from customer360.zeta.catalog import SYSTEM_VARIABLES, Catalog, Procedure, analyzer_options, registered_catalog_id
from customer360.zeta.runtime import ZetaError, protos, runtime
from customer360.zeta.syntax import (
    Source, identifier, is_repeated, kind, parse_script, path_names, span, statements,
)
from customer360.zeta.types import type_name, type_proto


@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as `path:line:col: message`."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _shifted(error: ZetaError, base: tuple[int, int]) -> ZetaError:
    """An error in a fragment of a file, moved to the fragment's place (base line and column) in the file."""
    base_line, base_column = base
    if not error.line:
        return ZetaError(error.message, base_line, base_column, error.code)
    line = base_line + error.line - 1
    column = error.column + base_column - 1 if error.line == 1 else error.column
    return ZetaError(error.message, line, column, error.code)


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
            if is_repeated(descriptor):
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


class Analyzer:
    """Analyses statements, expressions and scripts against a catalog with BigQuery's rules."""

    def __init__(self, catalog: Catalog | None = None, parameters: Mapping[str, str] | None = None):
        self.catalog = catalog if catalog is not None else Catalog.from_contract()
        self.parameters = dict({**contract.QUERY_PARAMETERS, **contract.STEP_PARAMETERS} if parameters is None else parameters)

    def _request(self, catalog: Catalog | None, parameters, **what):
        p = protos()
        return p.ls.AnalyzeRequest(
            options=analyzer_options(self.parameters if parameters is None else parameters),
            registered_catalog_id=registered_catalog_id(catalog or self.catalog),
            **what,
        )

    def analyze_statement(self, text: str, start: int = 0, *, catalog: Catalog | None = None, parameters=None):
        """Analyse the statement beginning at byte offset `start` of text; errors carry file positions."""
        p = protos()
        location = p.loc.ParseResumeLocationProto(input=text, byte_position=start)
        request = self._request(catalog, parameters, parse_resume_location=location)
        return runtime().call("Analyze", request, p.ls.AnalyzeResponse).resolved_statement

    def analyze_fragment(self, source: Source, start: int, end: int, *, catalog: Catalog | None = None,
                         parameters=None):
        """Analyse the bytes [start, end) of a file as one statement (a FOR loop's query)."""
        p = protos()
        request = self._request(catalog, parameters, sql_statement=source.slice(start, end))
        try:
            return runtime().call("Analyze", request, p.ls.AnalyzeResponse).resolved_statement
        except ZetaError as error:
            raise _shifted(error, source.line_col(start)) from None

    def expression_type(self, source: Source, start: int, end: int, *, catalog: Catalog | None = None,
                        parameters=None):
        """The TypeProto of the expression in bytes [start, end) of a file; errors carry file positions."""
        p = protos()
        request = self._request(catalog, parameters, sql_expression=source.slice(start, end))
        try:
            response = runtime().call("Analyze", request, p.ls.AnalyzeResponse)
        except ZetaError as error:
            raise _shifted(error, source.line_col(start)) from None
        return _breadth_first(response.resolved_expression, "type")

    def check(self, text: str, path: str, *, variables: Mapping[str, Any] | None = None, parameters=None) -> list[Problem]:
        """Every problem in a file: one query, several statements, or a BigQuery script."""
        try:
            script = parse_script(text)
        except ZetaError as error:
            line, column = (error.line, error.column) if error.line else (1, 1)
            return [Problem(path, line, column, _one_line(error.message))]
        body = statements(script.statement_list_node)
        if not body:
            return [Problem(path, 1, 1, "file holds no SQL statement")]
        catalog = self.catalog.copy()
        catalog.variables.update(variables or {})
        problems: list[Problem] = []
        checker = _ScriptChecker(self, Source.of(text), path, problems, self.parameters if parameters is None else parameters)
        checker.walk(body, catalog)
        return problems


# Scripting statements the checker walks itself; every other statement is analysed whole by ZetaSQL.
_SCRIPT_KINDS = {
    "VariableDeclaration": "declare",
    "SingleAssignment": "assignment",
    "AssignmentFromStruct": "struct_assignment",
    "SystemVariableAssignment": "system_variable_assignment",
    "BeginEndBlock": "block",
    "IfStatement": "if",
    "WhileStatement": "while",
    "RepeatStatement": "repeat",
    "ForInStatement": "for",
    "RaiseStatement": "raise",
    "ReturnStatement": "control",
    "BreakStatement": "control",
    "ContinueStatement": "control",
    "BreakContinueStatement": "control",
    "ExecuteImmediateStatement": "execute",
    "CreateProcedureStatement": "procedure",
}


class _ScriptChecker:
    """Walks ZetaSQL's parse tree of a script, tracking declared variables, and reports every problem."""

    def __init__(self, analyzer: Analyzer, source: Source, path: str, problems: list[Problem], parameters):
        self.analyzer = analyzer
        self.source = source
        self.path = path
        self.problems = problems
        self.parameters = parameters

    def report_error(self, error: ZetaError) -> None:
        line, column = (error.line, error.column) if error.line else (1, 1)
        self.problems.append(Problem(self.path, line, column, _one_line(error.message)))

    def report(self, node, message: str) -> None:
        self.problems.append(Problem(self.path, *self.source.line_col(span(node)[0]), message))

    def expression(self, node, catalog: Catalog, expect_bool: bool = False):
        start, end = span(node)
        try:
            result = self.analyzer.expression_type(self.source, start, end, catalog=catalog, parameters=self.parameters)
        except ZetaError as error:
            self.report_error(error)
            return None
        if expect_bool and result is not None and type_name(result) != "BOOL":
            self.report(node, f"condition must be BOOL, got {type_name(result)}")
        return result

    def walk(self, nodes: list, catalog: Catalog) -> None:
        for node in nodes:
            getattr(self, f"visit_{_SCRIPT_KINDS.get(kind(node), 'sql')}")(node, catalog)

    def walk_list(self, statement_list, catalog: Catalog) -> None:
        self.walk(statements(statement_list), catalog)

    def visit_sql(self, node, catalog: Catalog) -> None:
        try:
            resolved = self.analyzer.analyze_statement(
                self.source.text, span(node)[0], catalog=catalog, parameters=self.parameters
            )
        except ZetaError as error:
            self.report_error(error)
            return
        self._remember_created_table(resolved, catalog)

    def _remember_created_table(self, resolved, catalog: Catalog) -> None:
        statement_kind, message = _statement_node(resolved)
        if "CreateTable" not in statement_kind:
            return
        name_path = _breadth_first(message, "name_path")
        definitions = _breadth_first(message, "column_definition_list")
        if not name_path or definitions is None:
            return
        catalog.add_table(".".join(name_path), [(d.name, type_name(d.type)) for d in definitions])

    def visit_declare(self, node, catalog: Catalog) -> None:
        declared = None
        if node.HasField("type"):
            type_text = self.source.slice(*span(node.type))
            try:
                declared = type_proto(type_text)
            except ValueError:
                # STRUCT and other composite types: the name is known, its type is not checked.
                if not type_text.strip().upper().startswith(("STRUCT", "ARRAY")):
                    self.report(node.type, f"unsupported variable type {type_text}")
        inferred = self.expression(node.default_value, catalog) if node.HasField("default_value") else None
        known = declared if declared is not None else inferred
        for name in node.variable_list.identifier_list:
            catalog.variables[identifier(name)] = known if known is not None else "STRING"

    def _check_declared(self, name_node, catalog: Catalog) -> None:
        name = identifier(name_node)
        if name not in catalog.variables:
            self.report(name_node, f"variable {name} is not declared")

    def visit_assignment(self, node, catalog: Catalog) -> None:
        self._check_declared(node.variable, catalog)
        self.expression(node.expression, catalog)

    def visit_struct_assignment(self, node, catalog: Catalog) -> None:
        for name in node.variables.identifier_list:
            self._check_declared(name, catalog)
        self.expression(node.struct_expression, catalog)

    def visit_system_variable_assignment(self, node, catalog: Catalog) -> None:
        path = tuple(name.lower() for name in path_names(node.system_variable.path))
        if path not in SYSTEM_VARIABLES:
            self.report(node.system_variable, f"unknown system variable @@{'.'.join(path)}")
        self.expression(node.expression, catalog)

    def visit_raise(self, node, catalog: Catalog) -> None:
        if node.HasField("message"):
            self.expression(node.message, catalog)

    def visit_control(self, node, catalog: Catalog) -> None:
        pass

    def visit_execute(self, node, catalog: Catalog) -> None:
        self.report(node, "EXECUTE IMMEDIATE is outside the supported subset: dynamic SQL cannot be validated")

    def visit_block(self, node, catalog: Catalog) -> None:
        self.walk_list(node.statement_list_node, catalog)
        for handler in node.handler_list.exception_handler_list:
            self.walk_list(handler.statement_list, catalog)

    def visit_if(self, node, catalog: Catalog) -> None:
        self.expression(node.condition, catalog, expect_bool=True)
        self.walk_list(node.then_list, catalog)
        for clause in node.elseif_clauses.elseif_clauses:
            self.expression(clause.condition, catalog, expect_bool=True)
            self.walk_list(clause.body, catalog)
        self.walk_list(node.else_list, catalog)

    def visit_while(self, node, catalog: Catalog) -> None:
        if node.HasField("condition"):  # LOOP ... END LOOP is a WHILE without one
            self.expression(node.condition, catalog, expect_bool=True)
        self.walk_list(node.parent.body, catalog)

    def visit_repeat(self, node, catalog: Catalog) -> None:
        self.walk_list(node.parent.body, catalog)
        self.expression(node.until_clause.condition, catalog, expect_bool=True)

    def visit_for(self, node, catalog: Catalog) -> None:
        try:
            resolved = self.analyzer.analyze_fragment(self.source, *span(node.query), catalog=catalog,
                                                      parameters=self.parameters)
        except ZetaError as error:
            self.report_error(error)
            return
        columns = _breadth_first(resolved, "output_column_list")
        if columns:
            p = protos()
            row = p.type.TypeProto(type_kind=p.type.TYPE_STRUCT)
            for column in columns:
                row.struct_type.field.add(field_name=column.name, field_type=column.column.type)
            catalog.variables[identifier(node.variable)] = row
        self.walk_list(node.parent.body, catalog)

    def visit_procedure(self, node, catalog: Catalog) -> None:
        body_catalog = catalog.copy()
        arguments = []
        for parameter in node.parameters.parameter_entries:
            name, type_text = identifier(parameter.name), self.source.slice(*span(parameter.type))
            body_catalog.variables[name] = type_text
            arguments.append((name, type_text))
        # Query parameters are not available inside a stored procedure body.
        _ScriptChecker(self.analyzer, self.source, self.path, self.problems, {}).walk_list(
            node.body.statement_list_node, body_catalog
        )
        name = path_names(node.name)
        if len(name) >= 2:
            catalog.procedures = catalog.procedures + (Procedure(name[-2], name[-1], tuple(arguments)),)

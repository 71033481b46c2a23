"""What each statement of a BigQuery script reads, from ZetaSQL's resolved AST: tables, columns, filters, row shape."""

# The analyzer runs with prune_unused_columns, so a table scan of the resolved AST lists exactly the
# columns the statement reads. Besides the scans this module keeps what a cost estimate needs and SQL
# text cannot say reliably:
# - conditions: the conjuncts of a WHERE (or a DELETE/UPDATE's WHERE) comparing one column of a scan
#   with values no row decides (literals, query parameters, script variables), which is what lets
#   BigQuery prune a partitioned table;
# - the statement's relation: the tree of scans, filters, joins, unions and aggregates its rows come
#   from, for estimating how many rows a CREATE TEMP TABLE ... AS SELECT holds;
# - the lineage of a created table's columns: which table columns each is copied or computed from.

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping

from customer360.zeta.catalog import Catalog, analyzer_options, registered_catalog_id
from customer360.zeta.runtime import ZetaError, protos, runtime
from customer360.zeta.syntax import Source, identifier, is_repeated, kind, parse_script, span, statements
from customer360.zeta.types import type_name, type_proto


@dataclass(frozen=True)
class Condition:
    """A conjunct comparing one column of a scan with values that no row decides.

    operator is `=`, `in` (a list of `count` values), `in unnest` (an array) or `range` (<, <=, >, >=,
    BETWEEN); value names what the column is compared with: `@name` for a query parameter, the name
    of a script variable, or `literal`.
    """

    column: str
    operator: str
    value: str
    count: int | None = None
    literal: str | None = None  # for `=` with a STRING literal: the literal


@dataclass(frozen=True)
class Read:
    """One table scan: the table (dataset.table, or a temporary table's name), the columns it reads."""

    table: str
    columns: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    is_target: bool = False  # the table a DELETE, UPDATE or MERGE modifies


@dataclass(frozen=True)
class Relation:
    """A node of the tree a statement's rows come from, as much of it as a row count needs.

    kind: read (a table scan: `read`), filter (`conditions` on its input's columns; `restricted_by`, the
    subqueries of its EXISTS and IN conjuncts), join (detail inner, left, right, full or cross), set
    (detail union_all, union_distinct, intersect_..., except_...), aggregate (detail grouped or whole),
    unnest (an array: `value` names it as a Condition does), single_row, limit, or pass (projections,
    ordering, window functions: as many rows as the input).
    """

    kind: str
    inputs: tuple["Relation", ...] = ()
    read: Read | None = None
    conditions: tuple[Condition, ...] = ()
    restricted_by: tuple["Relation", ...] = ()
    detail: str = ""
    value: str = ""


@dataclass(frozen=True)
class OutputColumn:
    """A column of a table a statement creates: its type and the columns its values come from.

    copied_from is set when the column is a table column passed through unchanged; otherwise sources
    lists every table column its expression reads (empty for constants).
    """

    name: str
    type: str
    copied_from: tuple[str, str] | None = None
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StatementReads:
    """One statement of a script and what it reads.

    kind: select, create_table (`temporary` when CREATE TEMP TABLE), insert, delete, update, merge,
    assert, declare, set, drop, other (nothing read), or unanalysed (`error` says why).
    """

    kind: str
    line: int
    text: str
    reads: tuple[Read, ...] = ()
    target: str | None = None
    temporary: bool = False
    relation: Relation | None = None
    columns: tuple[OutputColumn, ...] = ()
    error: str = ""

    @property
    def summary(self) -> str:
        """The statement's first line, for reports."""
        return " ".join(self.text.split())[:100]


# ---------------------------------------------------------------------------
# Resolved-AST helpers
# ---------------------------------------------------------------------------


def _node(message):
    """The concrete resolved node inside AnyResolved… wrappers (each holds one node in its `node` oneof)."""
    while message.DESCRIPTOR.oneofs_by_name.get("node") is not None:
        which = message.WhichOneof("node")
        if which is None:
            return message
        message = getattr(message, which)
    return message


def _kind(message) -> str:
    return type(message).__name__.removeprefix("Resolved").removesuffix("Proto")


def _level(message, name: str):
    """The message or base-class part (held in `parent`) that declares field `name`; None when none does."""
    current = message
    while True:
        if name in current.DESCRIPTOR.fields_by_name:
            return current
        if "parent" not in current.DESCRIPTOR.fields_by_name:
            return None
        current = current.parent


def _get(message, name: str):
    level = _level(message, name)
    if level is None:
        raise AttributeError(f"{type(message).__name__} has no field {name}")
    return getattr(level, name)


def _has(message, name: str) -> bool:
    level = _level(message, name)
    return level is not None and level.HasField(name)


def _enum_name(message, name: str) -> str:
    level = _level(message, name)
    descriptor = level.DESCRIPTOR.fields_by_name[name].enum_type
    return descriptor.values_by_number[getattr(level, name)].name


def _children(message) -> Iterator:
    """Every resolved node directly below a message (through its base-class parts)."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if not descriptor.message_type.name.startswith(("Resolved", "AnyResolved")):
            continue  # types, table and function references: no scans below
        values = value if is_repeated(descriptor) else [value]
        for child in values:
            if descriptor.name == "parent":
                yield from _children(child)
            else:
                yield _node(child)


def _walk(message) -> Iterator:
    stack = [_node(message)]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(_children(current))))


def _function_name(call) -> str:
    return _get(call, "function").name.split(":")[-1]


def _conjuncts(expression) -> list:
    expression = _node(expression)
    if _kind(expression) == "FunctionCall" and _function_name(expression) == "$and":
        return [c for argument in _get(expression, "argument_list") for c in _conjuncts(argument)]
    return [expression]


def _is_constant(expression) -> bool:
    """Whether no row decides the expression's value: literals, parameters, variables and functions of them."""
    expression = _node(expression)
    node_kind = _kind(expression)
    if node_kind in ("Literal", "Parameter", "Constant", "SystemVariable"):
        return True
    if node_kind == "Cast":
        return _is_constant(expression.expr)
    if node_kind == "FunctionCall":
        return all(_is_constant(argument) for argument in _get(expression, "argument_list"))
    return False


def _value_name(expression) -> str:
    expression = _node(expression)
    node_kind = _kind(expression)
    if node_kind == "Parameter":
        return f"@{expression.name}"
    if node_kind == "Constant":
        return expression.constant.name
    if node_kind == "Cast":
        return _value_name(expression.expr)
    return "literal"


def _string_literal(expression) -> str | None:
    expression = _node(expression)
    if _kind(expression) != "Literal":
        return None
    value = expression.value.value
    return value.string_value if value.WhichOneof("value") == "string_value" else None


_COMPARISONS = {"$less": "range", "$less_or_equal": "range", "$greater": "range", "$greater_or_equal": "range",
                "$between": "range"}


def _condition(expression) -> tuple[int, Condition] | None:
    """(column id, Condition) when the conjunct compares one plain column with constant values."""
    if _kind(expression) != "FunctionCall":
        return None
    name = _function_name(expression)
    arguments = [_node(a) for a in _get(expression, "argument_list")]
    columns = [a for a in arguments if _kind(a) == "ColumnRef" and not a.is_correlated]
    others = [a for a in arguments if not (_kind(a) == "ColumnRef" and not a.is_correlated)]
    if len(columns) != 1 or not all(_is_constant(o) for o in others):
        return None
    column = columns[0].column
    if name == "$equal":
        return column.column_id, Condition(column.name, "=", _value_name(others[0]), 1, _string_literal(others[0]))
    if name == "$in" and arguments[0] is columns[0]:
        values = {_value_name(o) for o in others}
        return column.column_id, Condition(column.name, "in", values.pop() if len(values) == 1 else "literal", len(others))
    if name == "$in_array" and arguments[0] is columns[0]:
        return column.column_id, Condition(column.name, "in unnest", _value_name(others[0]))
    if name in _COMPARISONS:
        return column.column_id, Condition(column.name, _COMPARISONS[name], _value_name(others[0]))
    return None


def _restriction(expression):
    """The subquery of an EXISTS or IN conjunct (not negated): it restricts the rows the filter keeps."""
    if _kind(expression) != "SubqueryExpr":
        return None
    if _enum_name(expression, "subquery_type") in ("EXISTS", "IN"):
        return _node(expression.subquery)
    return None


# ---------------------------------------------------------------------------
# One resolved statement
# ---------------------------------------------------------------------------


class _Statement:
    """Collects the scans, conditions, relation and lineage of one resolved statement (or expression)."""

    def __init__(self, root):
        self.scans: list = []  # ResolvedTableScan nodes, in tree order
        self.column_scan: dict[int, int] = {}  # column id -> index of the scan producing it
        self.computed: dict[int, object] = {}  # column id -> the expression computing it
        self.aliases: dict[int, list[int]] = {}  # column id -> the column ids it stands for (sets, WITH refs)
        self.with_queries: dict[str, object] = {}
        self.conditions: dict[int, list[Condition]] = {}
        nodes = list(_walk(root))
        for node in nodes:
            node_kind = _kind(node)
            if node_kind == "TableScan":
                index = len(self.scans)
                self.scans.append(node)
                for column in _get(node, "column_list"):
                    self.column_scan[column.column_id] = index
            elif node_kind == "ComputedColumn":
                self.computed[node.column.column_id] = node.expr
            elif node_kind == "WithEntry":
                self.with_queries[node.with_query_name] = _node(node.with_subquery)
            elif node_kind == "SetOperationScan":
                outputs = _get(node, "column_list")
                for item in node.input_item_list:
                    for output, column in zip(outputs, item.output_column_list):
                        self.aliases.setdefault(output.column_id, []).append(column.column_id)
        for node in nodes:
            node_kind = _kind(node)
            if node_kind == "WithRefScan":
                query = self.with_queries.get(node.with_query_name)
                if query is not None:
                    for output, column in zip(_get(node, "column_list"), _get(query, "column_list")):
                        self.aliases.setdefault(output.column_id, []).append(column.column_id)
            filters = []
            if node_kind == "FilterScan":
                filters.append(node.filter_expr)
            elif node_kind in ("DeleteStmt", "UpdateStmt") and node.HasField("where_expr"):
                filters.append(node.where_expr)
            for expression in filters:
                for conjunct in _conjuncts(expression):
                    found = _condition(conjunct)
                    if found is not None:
                        self.conditions.setdefault(found[0], []).append(found[1])

    def read(self, index: int, is_target: bool = False) -> Read:
        scan = self.scans[index]
        columns = _get(scan, "column_list")
        conditions = tuple(c for column in columns for c in self.conditions.get(column.column_id, ()))
        return Read(scan.table.full_name or scan.table.name, tuple(c.name for c in columns), conditions, is_target)

    def reads(self, target_scan=None) -> tuple[Read, ...]:
        return tuple(self.read(i, is_target=scan is target_scan) for i, scan in enumerate(self.scans))

    def relation(self, scan) -> Relation:
        scan = _node(scan)
        scan_kind = _kind(scan)
        if scan_kind == "TableScan":
            return Relation("read", read=self.read(self.scans.index(scan)))
        if scan_kind == "FilterScan":
            restricted, conditions = [], []
            for conjunct in _conjuncts(scan.filter_expr):
                subquery = _restriction(conjunct)
                if subquery is not None:
                    restricted.append(self.relation(subquery))
                found = _condition(conjunct)
                if found is not None:
                    conditions.append(found[1])
            return Relation("filter", (self.relation(_get(scan, "input_scan")),), conditions=tuple(conditions),
                            restricted_by=tuple(restricted))
        if scan_kind == "JoinScan":
            join = _enum_name(scan, "join_type").lower()
            if join == "inner" and not scan.HasField("join_expr"):
                join = "cross"
            return Relation("join", (self.relation(scan.left_scan), self.relation(scan.right_scan)), detail=join)
        if scan_kind == "SetOperationScan":
            return Relation("set", tuple(self.relation(item.scan) for item in scan.input_item_list),
                            detail=_enum_name(scan, "op_type").lower())
        if scan_kind == "AggregateScan":
            grouped = len(_get(scan, "group_by_list")) > 0
            return Relation("aggregate", (self.relation(_get(scan, "input_scan")),), detail="grouped" if grouped else "whole")
        if scan_kind == "ArrayScan":
            arrays = [_value_name(a) if _is_constant(a) else "" for a in _get(scan, "array_expr_list")]
            unnest = Relation("unnest", value=arrays[0] if arrays else "")
            if _has(scan, "input_scan"):
                return Relation("join", (self.relation(_get(scan, "input_scan")), unnest), detail="cross")
            return unnest
        if scan_kind == "SingleRowScan":
            return Relation("single_row")
        if scan_kind == "WithScan":
            return self.relation(scan.query)
        if scan_kind == "WithRefScan":
            return self.relation(self.with_queries[scan.with_query_name])
        if scan_kind == "LimitOffsetScan":
            return Relation("limit", (self.relation(_get(scan, "input_scan")),))
        inputs = [child for child in _children(scan) if _kind(child).endswith("Scan")]
        return Relation("pass", tuple(self.relation(child) for child in inputs[:1]))

    def lineage(self, column_id: int, seen: frozenset = frozenset()) -> set[tuple[str, str]]:
        """Every table column (table, column) the values of a column come from."""
        if column_id in seen:
            return set()
        seen = seen | {column_id}
        if column_id in self.column_scan:
            scan = self.scans[self.column_scan[column_id]]
            name = next(c.name for c in _get(scan, "column_list") if c.column_id == column_id)
            return {(scan.table.full_name or scan.table.name, name)}
        found: set[tuple[str, str]] = set()
        for alias in self.aliases.get(column_id, ()):
            found |= self.lineage(alias, seen)
        if column_id in self.computed:
            for node in _walk(self.computed[column_id]):
                if _kind(node) == "ColumnRef":
                    found |= self.lineage(node.column.column_id, seen)
        return found

    def copied_from(self, column_id: int, seen: frozenset = frozenset()) -> tuple[str, str] | None:
        """The table column a column passes through unchanged, if it does."""
        if column_id in seen:
            return None
        seen = seen | {column_id}
        if column_id in self.column_scan:
            (source,) = self.lineage(column_id)
            return source
        aliases = self.aliases.get(column_id, [])
        if aliases:
            copies = {self.copied_from(alias, seen) for alias in aliases}
            return copies.pop() if len(copies) == 1 else None
        expression = self.computed.get(column_id)
        if expression is not None and _kind(_node(expression)) == "ColumnRef":
            return self.copied_from(_node(expression).column.column_id, seen)
        return None

    def output_columns(self, outputs) -> tuple[OutputColumn, ...]:
        return tuple(
            OutputColumn(
                output.name,
                type_name(output.column.type),
                self.copied_from(output.column.column_id),
                tuple(sorted(self.lineage(output.column.column_id))),
            )
            for output in outputs
        )


_STATEMENT_KINDS = {
    "QueryStmt": "select",
    "CreateTableAsSelectStmt": "create_table",
    "InsertStmt": "insert",
    "DeleteStmt": "delete",
    "UpdateStmt": "update",
    "MergeStmt": "merge",
    "AssertStmt": "assert",
    "DropStmt": "drop",
}


def statement_reads(resolved, line: int, text: str) -> StatementReads:
    """The reads of one resolved statement (an AnyResolvedStatementProto)."""
    node = _node(resolved)
    node_kind = _kind(node)
    collected = _Statement(node)
    statement_kind = _STATEMENT_KINDS.get(node_kind, "other")
    target_scan = node.table_scan if node_kind in ("DeleteStmt", "UpdateStmt", "MergeStmt", "InsertStmt") else None
    reads = collected.reads(target_scan)
    if node_kind == "InsertStmt":
        reads = tuple(r for r in reads if not r.is_target)  # an INSERT's target is written, not scanned
    target = None
    if target_scan is not None:
        target = target_scan.table.full_name or target_scan.table.name
    relation = None
    columns: tuple[OutputColumn, ...] = ()
    temporary = False
    if node_kind in ("QueryStmt", "CreateTableAsSelectStmt", "InsertStmt") and node.HasField("query"):
        relation = collected.relation(node.query)
    if node_kind == "CreateTableAsSelectStmt":
        target = ".".join(_get(node, "name_path"))
        temporary = _enum_name(node, "create_scope") == "CREATE_TEMP"
        columns = collected.output_columns(node.output_column_list)
    if node_kind == "DropStmt":
        target = ".".join(node.name_path)
    return StatementReads(statement_kind, line, text, reads, target, temporary, relation, columns)


def expression_reads(resolved_expression, statement_kind: str, line: int, text: str) -> StatementReads:
    """The reads of an expression a script evaluates as a query (a DECLARE default, a SET value)."""
    collected = _Statement(resolved_expression)
    return StatementReads(statement_kind, line, text, collected.reads())


# ---------------------------------------------------------------------------
# A script, statement by statement
# ---------------------------------------------------------------------------


def _options(parameters: Mapping[str, str]):
    options = analyzer_options(parameters)
    options.prune_unused_columns = True
    return options


@dataclass
class _ScriptState:
    catalog: Catalog
    parameters: dict[str, str]
    keep_going: bool = False
    found: list[StatementReads] = field(default_factory=list)


def script_reads(text: str, catalog: Catalog, *, variables: Mapping[str, str] | None = None,
                 parameters: Mapping[str, str] | None = None, keep_going: bool = False) -> list[StatementReads]:
    """What every statement of a BigQuery script (or one statement) reads, in order.

    Temporary tables a statement creates join the catalog for the statements after it; DECLARE and SET
    statements that evaluate a query are reported as declare and set. Raises ZetaError (with the file
    position) when a statement does not analyse; with keep_going, reports it as unanalysed and goes on.
    """
    source = Source.of(text)
    state = _ScriptState(catalog.copy(), dict(parameters or {}), keep_going=keep_going)
    state.catalog.variables.update(variables or {})
    script = parse_script(text)
    _walk_statements(statements(script.statement_list_node), source, state)
    return state.found


def _walk_statements(nodes, source: Source, state: _ScriptState) -> None:
    p = protos()
    for node in nodes:
        node_kind = kind(node)
        start, end = span(node)
        line = source.line_col(start)[0]
        statement_text = source.slice(start, end)
        if node_kind == "BeginEndBlock":
            _walk_statements(statements(node.statement_list_node), source, state)
        elif node_kind == "VariableDeclaration":
            declared = type_proto(source.slice(*span(node.type))) if node.HasField("type") else None
            if node.HasField("default_value"):
                resolved = _analyse_expression(source, node.default_value, state)
                declared = declared or _node(resolved).parent.type
                state.found.append(expression_reads(resolved, "declare", line, statement_text))
            for name in node.variable_list.identifier_list:
                state.catalog.variables[identifier(name)] = declared if declared is not None else "STRING"
        elif node_kind == "SingleAssignment":
            resolved = _analyse_expression(source, node.expression, state)
            state.found.append(expression_reads(resolved, "set", line, statement_text))
        else:
            request = p.ls.AnalyzeRequest(
                options=_options(state.parameters),
                registered_catalog_id=registered_catalog_id(state.catalog),
                parse_resume_location=p.loc.ParseResumeLocationProto(input=source.text, byte_position=start),
            )
            try:
                resolved = runtime().call("Analyze", request, p.ls.AnalyzeResponse).resolved_statement
            except ZetaError as error:
                if not state.keep_going:
                    raise
                state.found.append(StatementReads("unanalysed", line, statement_text, error=error.message))
                continue
            found = statement_reads(resolved, line, statement_text)
            state.found.append(found)
            if found.kind == "create_table" and found.target:
                state.catalog.add_table(found.target, [(c.name, c.type) for c in found.columns])


def _analyse_expression(source: Source, node, state: _ScriptState):
    p = protos()
    start, end = span(node)
    request = p.ls.AnalyzeRequest(
        options=_options(state.parameters),
        registered_catalog_id=registered_catalog_id(state.catalog),
        sql_expression=source.slice(start, end),
    )
    try:
        return runtime().call("Analyze", request, p.ls.AnalyzeResponse).resolved_expression
    except ZetaError as error:
        line, column = source.line_col(start)
        raise ZetaError(error.message, line, column, error.code) from None

"""ZetaSQL's own parser: a BigQuery script or query as its typed parse tree, with byte ranges into the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from customer360.zeta.catalog import language_options
from customer360.zeta.runtime import protos, runtime


@dataclass(frozen=True)
class Source:
    """The text of one file and its UTF-8 bytes: parse-tree ranges are byte offsets."""

    text: str
    data: bytes

    @classmethod
    def of(cls, text: str) -> "Source":
        return cls(text, text.encode("utf-8"))

    def slice(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8")

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a byte offset."""
        line = self.data.count(b"\n", 0, offset) + 1
        line_start = self.data.rfind(b"\n", 0, offset) + 1
        return line, len(self.data[line_start:offset].decode("utf-8", "replace")) + 1


def parse_script(text: str):
    """The ASTScriptProto of a BigQuery script (one statement, several, or scripting blocks).

    Raises ZetaError (with the line and column) on a syntax error.
    """
    p = protos()
    request = p.ls.ParseRequest(sql_statement=text, options=language_options(), allow_script=True)
    return runtime().call("Parse", request, p.ls.ParseResponse).parsed_script


def parse_statement(text: str):
    """The AnyASTStatementProto of one statement."""
    p = protos()
    request = p.ls.ParseRequest(sql_statement=text, options=language_options())
    return runtime().call("Parse", request, p.ls.ParseResponse).parsed_statement


def concrete(node):
    """The concrete node inside an Any…Proto wrapper (the wrappers hold one node in a oneof)."""
    while True:
        oneofs = node.DESCRIPTOR.oneofs
        if not oneofs:
            return node
        which = node.WhichOneof(oneofs[0].name)
        if which is None:
            return node
        node = getattr(node, which)


def kind(node) -> str:
    """The node's kind without the AST prefix and Proto suffix: `VariableDeclaration`, `QueryStatement`."""
    return type(node).__name__.removeprefix("AST").removesuffix("Proto")


def span(node) -> tuple[int, int]:
    """(start, end) byte offsets of a node: its location sits on the innermost `parent` of its chain."""
    current = concrete(node)
    while "parse_location_range" not in current.DESCRIPTOR.fields_by_name:
        current = current.parent
    location = current.parse_location_range
    return location.start, location.end


def statements(statement_list) -> list:
    """The concrete statements of an ASTStatementListProto (empty when the list is absent)."""
    return [concrete(statement) for statement in statement_list.statement_list]


def identifier(node) -> str:
    return node.id_string


def path_names(path_expression) -> list[str]:
    """The identifiers of an ASTPathExpressionProto: `raw.customers` is ["raw", "customers"]."""
    return [name.id_string for name in path_expression.names]


def is_repeated(descriptor) -> bool:
    """Whether a protobuf field is repeated (the attribute moved between protobuf releases)."""
    repeated = getattr(descriptor, "is_repeated", None)
    if repeated is not None:
        return repeated() if callable(repeated) else bool(repeated)
    return descriptor.label == descriptor.LABEL_REPEATED


def descendants(node, node_kind: str) -> Iterator:
    """Every node of the given kind below node (any depth, document order of the tree)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if kind(current) == node_kind:
            yield current
        children = []
        for descriptor, value in current.ListFields():
            if descriptor.message_type is None:
                continue
            if is_repeated(descriptor):
                children.extend(value)
            else:
                children.append(value)
        stack.extend(reversed(children))

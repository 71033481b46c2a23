"""The persistent SQL functions: the files under sql/functions, and one per enumeration of the contract."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from customer360 import contract
from customer360.sqlgen.text import string_literal


@dataclass(frozen=True)
class SqlFunction:
    dataset: str
    name: str
    arguments: tuple[tuple[str, str], ...]
    return_type: str
    body: str
    file: str  # the file it is read from, or "customer360/contract.py" for generated ones

    @property
    def ref(self) -> str:
        return f"{self.dataset}.{self.name}"

    def create_statement(self) -> str:
        args = ", ".join(f"{n} {t}" for n, t in self.arguments)
        return f"create or replace function {self.ref}({args})\nreturns {self.return_type}\nas (\n{self.body}\n)"

    @property
    def calls(self) -> frozenset[str]:
        """The persistent functions (dataset.name) its body calls."""
        return called_functions(self.body)


def called_functions(sql: str) -> frozenset[str]:
    """Every `dataset.function(...)` call in SQL whose dataset is one of the contract's."""
    tree = sqlglot.parse_one(f"select {sql}" if not sql.lstrip().lower().startswith(("select", "with")) else sql,
                             read="bigquery")
    found = set()
    for node in tree.find_all(exp.Dot):
        if (
            isinstance(node.this, exp.Identifier)
            and node.this.name in contract.DATASETS
            and isinstance(node.expression, (exp.Anonymous, exp.Func))
        ):
            name = node.expression.name if isinstance(node.expression, exp.Anonymous) else node.expression.sql_name()
            found.add(f"{node.this.name}.{name.lower()}")
    return frozenset(found)


def parse_function_file(path: Path) -> SqlFunction:
    """A `create or replace function dataset.name(args) returns T as (body)` file, parsed by sqlglot."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = sqlglot.parse_one(text, read="bigquery")
    except sqlglot.errors.ParseError as error:
        raise ValueError(f"{path}: not a SQL function definition ({str(error).splitlines()[0]})") from None
    signature = tree.this if isinstance(tree, exp.Create) else None
    returns = tree.find(exp.ReturnsProperty) if signature is not None else None
    if not isinstance(signature, exp.UserDefinedFunction) or returns is None or tree.expression is None:
        raise ValueError(f"{path}: expected one 'create or replace function dataset.name(args) returns T as (...)'")
    table = signature.this
    body = tree.expression.this if isinstance(tree.expression, exp.Paren) else tree.expression
    return SqlFunction(
        dataset=table.db,
        name=table.name,
        arguments=tuple((a.name, a.kind.sql(dialect="bigquery").upper()) for a in signature.expressions),
        return_type=returns.this.sql(dialect="bigquery").upper(),
        body=body.sql(dialect="bigquery", pretty=True),
        file=str(path.relative_to(contract.REPO_ROOT)),
    )


def enumeration_function(rule: contract.EnumRule) -> SqlFunction:
    """silver.<rule.function>(value): the accepted value VALUE stands for (trimmed, any case), else NULL."""
    whens = "\n".join(f"    when {string_literal(v.lower())} then {string_literal(v)}" for v in rule.values)
    return SqlFunction(
        dataset="silver",
        name=rule.function,
        arguments=(("value", "STRING"),),
        return_type="STRING",
        body=f"case silver.clean_enum(value)\n{whens}\nend",
        file="customer360/contract.py",
    )


def column_name_function() -> SqlFunction:
    """silver.is_column_name(value): whether VALUE is, whatever its case, a column name of any source."""
    names = sorted({n for source in contract.SOURCES for n in source.column_names})
    longest = max(len(n) for n in names)
    listed = ", ".join(string_literal(n) for n in names)
    return SqlFunction(
        dataset="silver",
        name="is_column_name",
        arguments=(("value", "STRING"),),
        return_type="BOOL",
        # The length test first spares lower() on long values: the check runs on every raw row.
        body=f"length(value) <= {longest} and lower(value) in ({listed})",
        file="customer360/contract.py",
    )


@cache
def functions() -> tuple[SqlFunction, ...]:
    """Every SQL function, ordered so that a function comes after those it calls."""
    found = {
        f.ref: f
        for f in [*map(parse_function_file, sorted((contract.SQL_DIR / "functions").glob("*.sql"))),
                  *map(enumeration_function, contract.ACCEPTED_VALUES), column_name_function()]
    }
    ordered: list[SqlFunction] = []

    def visit(ref: str, trail: tuple[str, ...]) -> None:
        if ref in trail:
            raise ValueError(f"SQL functions call each other in a cycle: {' -> '.join(trail + (ref,))}")
        if any(f.ref == ref for f in ordered):
            return
        for other in sorted(found[ref].calls & set(found)):
            if other != ref:
                visit(other, trail + (ref,))
        ordered.append(found[ref])

    for ref in sorted(found):
        visit(ref, ())
    return tuple(ordered)

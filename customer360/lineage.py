"""The step graph, derived from the SQL: which tables each step reads and writes, and which steps it follows.

Every statement of a step (`sqlgen.step_statements`) is parsed with sqlglot. The table a statement
inserts into, merges into, deletes from or truncates is a write; every other table it names is a
read. The step's own temp tables and CTEs are not tables of the warehouse and are left out. A step
depends on the earlier steps that write a table it reads, except through the shared bookkeeping
tables the contract declares (`contract.LINEAGE_EXEMPTIONS`, each with its reason).

`contract.PIPELINE` must be a topological order of the graph: a step that reads a table a later
step writes is refused, naming both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp

from customer360 import contract, sqlgen
from customer360.cache import DiskCache, memoised
from customer360.contract import Step


class LineageError(Exception):
    """The SQL and the contract's step order disagree; str() names the steps and the table."""


class SelectionError(ValueError):
    """A --select expression names no step; str() is the one-line message."""


_TABLES = DiskCache(f"lineage-sqlglot-{sqlglot.__version__}", Path(__file__))


@memoised(_TABLES, lambda sql: (sql,))
def statement_tables(sql: str) -> dict[str, list[str]]:
    """The tables one BigQuery statement reads and writes, the temp tables it creates, and its CTE names."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    written: list[exp.Table] = []
    created: list[str] = []
    if isinstance(tree, exp.Create):
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        created.append(target.name)
        written.append(target)
    elif isinstance(tree, (exp.Insert, exp.Merge, exp.Delete)):
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        written.append(target)
    elif isinstance(tree, exp.TruncateTable):
        written.extend(tree.expressions)
    elif not isinstance(tree, (exp.Select, exp.SetOperation)):
        raise LineageError(f"cannot tell what this statement reads and writes: {sql[:80]!r}")
    ctes = sorted({cte.alias_or_name for cte in tree.find_all(exp.CTE)})
    reads = sorted({_name(t) for t in tree.find_all(exp.Table) if not any(t is w for w in written)})
    return {
        "reads": reads,
        "writes": sorted({_name(t) for t in written if not isinstance(tree, exp.Create)}),
        "creates": created,
        "ctes": ctes,
        "compared": sorted(_comparisons(tree)),
    }


def _comparisons(tree: exp.Expression) -> set[tuple[str, str]]:
    """(column, text) of every `column = 'text'` and `column in ('text', ...)` in the statement."""
    found = set()
    for node in tree.find_all(exp.EQ, exp.In):
        if isinstance(node, exp.EQ):
            pairs = [(node.this, node.expression), (node.expression, node.this)]
        else:
            pairs = [(node.this, value) for value in node.expressions]
        for column, value in pairs:
            if isinstance(column, exp.Column) and isinstance(value, exp.Literal) and value.is_string:
                found.add((column.name, value.this))
    return found


def _name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


@dataclass(frozen=True)
class StepLineage:
    """What one step reads and writes in the warehouse (temp tables and CTEs left out).

    `shared` are the reads of shared bookkeeping tables (contract.LINEAGE_EXEMPTIONS) that are not
    dependencies: the step reads only the rows it names.
    """

    step: Step
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    shared: tuple[str, ...] = ()

    @property
    def dependency_reads(self) -> tuple[str, ...]:
        return tuple(t for t in self.reads if t not in self.shared)


def _exemption(step: Step, table: str) -> contract.SharedBookkeeping | None:
    return next((e for e in contract.LINEAGE_EXEMPTIONS if e.table == table and step.kind in e.readers), None)


def step_lineage(step: Step) -> StepLineage:
    reads: set[str] = set()
    writes: set[str] = set()
    temporary: set[str] = set()
    compared_by_table: dict[str, list[set[str]]] = {}
    for statement in sqlgen.step_statements(step):
        found = statement_tables(statement.sql)
        for name in found["reads"]:
            if "." not in name:
                if name not in temporary and name not in found["ctes"]:
                    raise LineageError(
                        f"step {step.name} reads {name!r}, which is neither a contract table nor a temp table it created"
                    )
                continue
            reads.add(_contract_table(step, name))
            compared_by_table.setdefault(name, []).append({f"{c}\0{v}" for c, v in found["compared"]})
        writes.update(_contract_table(step, name) for name in found["writes"])
        temporary.update(found["creates"])
    shared = []
    for table in sorted(reads):
        exemption = _exemption(step, table)
        if exemption is not None:
            _verify_exemption(step, exemption, compared_by_table[table], reads | writes)
            shared.append(table)
    return StepLineage(step, tuple(sorted(reads)), tuple(sorted(writes)), tuple(shared))


def _verify_exemption(step: Step, exemption: contract.SharedBookkeeping, compared: list[set[str]],
                      tables: set[str]) -> None:
    """Every statement of STEP reading the shared table compares its column only with what the exemption allows."""
    own = step.source if step.kind == "silver" else step.name
    for statement_comparisons in compared:
        values = {pair.split("\0", 1)[1] for pair in statement_comparisons
                  if pair.split("\0", 1)[0] == exemption.column}
        if not values:
            raise LineageError(
                f"step {step.name} reads {exemption.table} without comparing {exemption.column} to what it reads, "
                f"so it depends on every step writing it (see contract.LINEAGE_EXEMPTIONS)"
            )
        if exemption.filters_by == "own":
            allowed, meaning = {own}, "its own"
        elif exemption.filters_by == "sources read":
            allowed, meaning = {s.name for s in contract.SOURCES if s.silver.ref in tables}, "a source whose silver table it reads"
        else:
            allowed, meaning = tables - {exemption.table}, "a table it reads"
        foreign = sorted(values - allowed)
        if foreign:
            raise LineageError(
                f"step {step.name} reads the rows of {exemption.table} whose {exemption.column} is "
                f"{', '.join(foreign)}: not {meaning}, as contract.LINEAGE_EXEMPTIONS says"
            )


def _contract_table(step: Step, ref: str) -> str:
    if ref not in contract.TABLES_BY_REF:
        raise LineageError(f"step {step.name} names {ref}, which is not a table of the contract")
    return ref


@dataclass(frozen=True)
class Dependency:
    """STEP reads TABLE, which the earlier step UPSTREAM writes."""

    step: str
    table: str
    upstream: str


@dataclass(frozen=True)
class Graph:
    steps: tuple[StepLineage, ...]
    dependencies: tuple[Dependency, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.step.name for s in self.steps)

    def lineage(self, name: str) -> StepLineage:
        return next(s for s in self.steps if s.step.name == name)

    def writers(self, table: str) -> tuple[str, ...]:
        return tuple(s.step.name for s in self.steps if table in s.writes)

    def upstream(self, name: str) -> tuple[str, ...]:
        """The steps NAME reads from directly, in pipeline order."""
        found = {d.upstream for d in self.dependencies if d.step == name}
        return tuple(n for n in self.names if n in found)

    def downstream(self, name: str) -> tuple[str, ...]:
        found = {d.step for d in self.dependencies if d.upstream == name}
        return tuple(n for n in self.names if n in found)

    def ancestors(self, name: str) -> tuple[str, ...]:
        return self._closure(name, self.upstream)

    def descendants(self, name: str) -> tuple[str, ...]:
        return self._closure(name, self.downstream)

    def _closure(self, name: str, neighbours) -> tuple[str, ...]:
        seen: set[str] = set()
        pending = [name]
        while pending:
            for other in neighbours(pending.pop()):
                if other not in seen:
                    seen.add(other)
                    pending.append(other)
        return tuple(n for n in self.names if n in seen)

    def reduced_edges(self) -> list[tuple[str, str]]:
        """(upstream, step) edges without the ones another path already implies (for drawing)."""
        edges = []
        for name in self.names:
            direct = self.upstream(name)
            implied = {a for d in direct for a in self.ancestors(d)}
            edges += [(d, name) for d in direct if d not in implied]
        return edges

    def select(self, expression: str) -> tuple[str, ...]:
        """The steps a dbt-style selection names, in pipeline order: `STEP`, `STEP+` (and what depends on it),
        `+STEP` (and what it depends on), `+STEP+`; several separated by commas."""
        chosen: set[str] = set()
        parts = [p.strip() for p in expression.split(",")]
        if not expression.strip() or any(not p for p in parts):
            raise SelectionError(f"--select {expression!r}: expected STEP, STEP+, +STEP or a comma-separated list")
        for part in parts:
            name = part.strip("+")
            if name not in self.names:
                close = difflib.get_close_matches(name, self.names, n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; steps: {', '.join(self.names)}"
                raise SelectionError(f"--select: no step named {name!r}{hint}")
            chosen.add(name)
            if part.startswith("+"):
                chosen.update(self.ancestors(name))
            if part.endswith("+"):
                chosen.update(self.descendants(name))
        return tuple(n for n in self.names if n in chosen)


def build(pipeline: tuple[Step, ...]) -> Graph:
    """The graph of PIPELINE; LineageError when a step reads a table that a later step writes."""
    steps = tuple(step_lineage(step) for step in pipeline)
    dependencies = []
    for position, current in enumerate(steps):
        for table in current.dependency_reads:
            later = [s.step.name for s in steps[position + 1:] if table in s.writes]
            if later:
                raise LineageError(
                    f"step {current.step.name} reads {table}, which the later step {later[0]} writes: "
                    f"{later[0]} must come before {current.step.name} in contract.PIPELINE"
                )
            dependencies += [
                Dependency(current.step.name, table, s.step.name)
                for s in steps[:position]
                if table in s.writes
            ]
    return Graph(steps, tuple(dependencies))


@cache
def graph() -> Graph:
    """The graph of contract.PIPELINE (checked)."""
    built = build(contract.PIPELINE)
    _TABLES.save()
    return built


def mermaid(built: Graph) -> str:
    """The graph as a Mermaid flowchart: raw tables feed the steps; an arrow means 'runs after, reading its output'."""
    kinds = {"silver": "silver", "identity": "identity", "quality": "checks", "intermediate": "intermediates",
             "gold": "gold"}
    lines = ["flowchart LR"]
    raw = sorted({t for s in built.steps for t in s.reads if t.startswith("raw.")})
    lines.append('    subgraph raw["raw"]')
    lines += [f'        {_node(t)}[("{t}")]' for t in raw]
    lines.append("    end")
    for kind, title in kinds.items():
        members = [s for s in built.steps if s.step.kind == kind]
        if not members:
            continue
        lines.append(f'    subgraph {kind}_steps["{title}"]')
        lines += [f'        {_node(s.step.name)}["{s.step.name}"]' for s in members]
        lines.append("    end")
    for step in built.steps:
        lines += [f"    {_node(t)} --> {_node(step.step.name)}" for t in step.reads if t.startswith("raw.")]
    lines += [f"    {_node(a)} --> {_node(b)}" for a, b in built.reduced_edges()]
    return "\n".join(lines)


def _node(name: str) -> str:
    return name.replace(".", "__")

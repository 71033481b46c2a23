"""The identity map and the intermediates: recompute the rows of the entities a run touched, move the totals.

An intermediate (sql/intermediate/<table>.sql, and sql/silver/customer_identity.sql) is a query over
silver whose rows belong to entities: an order, an activity, a ticket, a customer, an identifier. Its
`.touched.sql` names the entities the run's changes (ops.run_changes) can affect. A run then:

1. lists the touched entities;
2. keeps the stored rows of those entities (previous);
3. runs the definition with its scoped tables restricted to those entities (recomputed): every row of
   a touched entity is recomputed, so the rows of the entities it did not touch stay right;
4. moves each totals table by recomputed minus previous: sums by their difference, the count of
   entities in a group by the entities that entered or left it, and the count of distinct members
   (customers in a slot) through a table that counts each (group, member)'s rows;
5. records what later steps need in ops.run_changes;
6. replaces the stored rows of the touched entities.

Applied to an empty store with every entity touched, the same statements build the tables from
scratch: a full refresh is the same code. In the warehouse scope (a step picked by `c360 run --select`)
the touched entities are every entity the definition yields or the table holds, so the same
statements recompute every row and move the totals by whatever differs (nothing, when nothing changed).
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from customer360 import contract
from customer360.cache import memoised
from customer360.contract import Intermediate, Scope, Source, Step, Totals
from customer360.sqlgen.text import Statement, string_literal, strip_comments


def touched_table(step: Step) -> str:
    return f"touched_{step.name}"


def _entity_columns(spec: Intermediate) -> tuple[str | None, str]:
    """(kind column, id column) of the intermediate's rows; the kind column is None for one-kind entities."""
    return (spec.entity[0], spec.entity[1]) if len(spec.entity) == 2 else (None, spec.entity[0])


def _touched_match(step: Step, alias: str) -> str:
    kind, ident = _entity_columns(step.intermediate)
    touched = touched_table(step)
    condition = f"touched.entity_id = {alias}.{ident}"
    if kind:
        condition = f"touched.entity_kind = {alias}.{kind} and " + condition
    return f"exists (select 1 from {touched} as touched where {condition})"


def _generated_cache():
    from customer360.sqlgen.silver import GENERATED

    return GENERATED


def _replace_tables(sql: str, replacement) -> str:
    """SQL (BigQuery) with each table for which replacement(ref) gives a query read through that query instead."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    for table in list(tree.find_all(exp.Table)):
        ref = f"{table.db}.{table.name}" if table.db else table.name
        query = replacement(ref)
        if query is None:
            continue
        restricted = sqlglot.parse_one(query, read="bigquery")
        table.replace(exp.Subquery(this=restricted, alias=exp.TableAlias(this=exp.to_identifier(table.alias_or_name))))
    return tree.sql(dialect="bigquery", pretty=True)


@memoised(_generated_cache(), lambda step, entities=None, source_rows=None:
          (step.name, step.path.read_text(encoding="utf-8"), entities or "", source_rows or ""))
def scoped_definition(step: Step, entities: str | None = None, source_rows: str | None = None) -> str:
    """The step's definition with each scoped table restricted to the entities of its kind listed in the
    table ENTITIES (default: the touched entities); with SOURCE_ROWS, its additive source reads those rows."""
    scopes = {scope.table: scope for scope in step.intermediate.scopes}
    source = step.intermediate.additive.source if source_rows else None

    def restricted(ref: str) -> str | None:
        if ref == source:
            return source_rows
        scope = scopes.get(ref)
        if scope is None:
            return None
        days = _held_days_source(scope)
        day_filter = f" and {contract.DELIVERY_DATE_COLUMN} in unnest(@{contract.held_days_parameter(days)})" if days else ""
        return f"select * from {ref} where {scope.column} in ({_touched_ids(step, scope, entities)}){day_filter}"

    return _replace_tables(strip_comments(step.path.read_text(encoding="utf-8")), restricted)


def _touched_ids(step: Step, scope: Scope, entities: str | None = None) -> str:
    kind_filter = f"entity_kind = {string_literal(scope.kind)} and " if scope.kind else ""
    return f"select entity_id from {entities or touched_table(step)} where {kind_filter}entity_id is not null"


def _held_days_source(scope: Scope) -> Source | None:
    """The source whose silver table the scope reads by its first key, when that table is partitioned by
    delivery day: its rows of the touched entities then lie in the delivery days the ledger's key ranges
    name, and the read is pruned to those days."""
    for source in contract.SOURCES:
        table = source.silver
        if (table.ref == scope.table and table.partition_by == contract.DELIVERY_DATE_COLUMN
                and scope.column == source.primary_key[0]):
            return source
    return None


def _held_days_statements(step: Step) -> list[Statement]:
    from customer360.sqlgen.silver import overlapping_days

    statements = []
    for scope in step.intermediate.scopes:
        source = _held_days_source(scope)
        if source is not None:
            statements.append(Statement(overlapping_days(source, _touched_ids(step, scope), "entity_id"),
                                        sets=contract.held_days_parameter(source)))
    return statements


def _totals_name(step: Step, totals: Totals, what: str) -> str:
    """The name of one of a totals' work tables (several totals may share a table: each has its own)."""
    index = step.intermediate.totals.index(totals)
    return f"{totals.table.split('.')[1]}_{what}_{step.name}{f'_{index}' if len(step.intermediate.totals) > 1 else ''}"


def _totals_statements(step: Step, totals: Totals, previous: str, recomputed: str) -> list[Statement]:
    spec = step.intermediate
    group = list(totals.group_by)
    group_list = ", ".join(group)
    grouped = ", ".join(f"{totals.group_value(i)} as {g}" for i, g in enumerate(group))
    entity = ", ".join(spec.entity)
    sum_columns = [source for _, source in totals.sums]
    signed = ", ".join(["1 as sign"] + sum_columns + ([totals.member_count[1]] if totals.member_count else []))
    minus = ", ".join(["-1 as sign"] + sum_columns + ([totals.member_count[1]] if totals.member_count else []))
    changes = _totals_name(step, totals, "changes")
    delta = _totals_name(step, totals, "delta")
    statements = [
        Statement(
            f"create or replace temp table {changes} as\n"
            f"select {grouped}, {entity}, {signed},\nfrom {recomputed}\n"
            f"union all\n"
            f"select {grouped}, {entity}, {minus},\nfrom {previous}"
        )
    ]
    per_entity = ",\n        ".join(
        ["max(if(sign > 0, 1, 0)) as entity_after", "max(if(sign < 0, 1, 0)) as entity_before"]
        + [f"sum(sign * {source}) as delta_{target}" for target, source in totals.sums]
    )
    per_group = ",\n    ".join(
        ["sum(entity_after) - sum(entity_before) as delta_entities"]
        + [f"sum(delta_{target}) as delta_{target}" for target, _ in totals.sums]
    )
    group_match = " and ".join(f"totals.{g} = delta.{g}" for g in group)
    member_sql = ""
    if totals.member_count:
        target, member, multiplicity, count = totals.member_count
        member_delta = _totals_name(step, totals, "member_delta")
        member_match = " and ".join(f"counts.{g} = moved.{g}" for g in group + [member])
        next_counts = _totals_name(step, totals, "member_next")
        statements += [
            Statement(
                f"create or replace temp table {member_delta} as\n"
                f"select {group_list}, {member}, sum(sign) as delta_rows,\n"
                f"from {changes}\nwhere {member} is not null\n"
                f"group by {group_list}, {member}\nhaving sum(sign) != 0"
            ),
            # Each moved (group, member)'s count before and after: one read of the multiplicity table.
            Statement(
                f"create or replace temp table {next_counts} as\n"
                f"select {', '.join(f'moved.{c}' for c in group + [member])},\n"
                f"    coalesce(counts.{count}, 0) as previous_{count},\n"
                f"    coalesce(counts.{count}, 0) + moved.delta_rows as {count},\n"
                f"from {member_delta} as moved\nleft join {multiplicity} as counts on {member_match}"
            ),
        ]
        # A member enters a group when its rows there go from none to some, and leaves on the way back.
        member_sql = (
            f"\nfull outer join (\n"
            f"    select {group_list},\n"
            f"        sum(case when previous_{count} = 0 then 1 when {count} = 0 then -1 else 0 end) as delta_members,\n"
            f"    from {next_counts}\n"
            f"    group by {group_list}\n"
            f") as members using ({group_list})"
        )
        multiplicity_statements = [
            Statement(
                f"delete from {multiplicity} as counts\n"
                f"where exists (select 1 from {member_delta} as moved where {member_match})"
            ),
            Statement(
                f"insert into {multiplicity} ({group_list}, {member}, {count})\n"
                f"select {group_list}, {member}, {count},\nfrom {next_counts}\nwhere {count} != 0"
            ),
        ]
    else:
        multiplicity_statements = []
    member_column = ", coalesce(members.delta_members, 0) as delta_members" if totals.member_count else ""
    statements.append(
        Statement(
            f"create or replace temp table {delta} as\n"
            f"select {group_list}, coalesce(entities.delta_entities, 0) as delta_entities"
            + "".join(f", coalesce(entities.delta_{t}, 0) as delta_{t}" for t, _ in totals.sums)
            + f"{member_column},\nfrom (\n"
            f"    select {group_list},\n    {per_group},\n"
            f"    from (\n"
            f"        select {group_list}, {entity},\n        {per_entity},\n"
            f"        from {changes}\n        group by {group_list}, {entity}\n"
            f"    )\n    group by {group_list}\n"
            f") as entities{member_sql}"
        )
    )
    # The counts are replaced once the crossings are counted against them as they were.
    statements += multiplicity_statements
    # The touched groups' next totals replace them; a group left with no entity is gone.
    next_totals = _totals_name(step, totals, "next")
    columns = group + [totals.entity_count] + [t for t, _ in totals.sums]
    moved = [f"coalesce(totals.{totals.entity_count}, 0) + delta.delta_entities as {totals.entity_count}"]
    moved += [f"coalesce(totals.{t}, 0) + delta.delta_{t} as {t}" for t, _ in totals.sums]
    if totals.member_count:
        columns.append(totals.member_count[0])
        moved.append(f"coalesce(totals.{totals.member_count[0]}, 0) + delta.delta_members as {totals.member_count[0]}")
    statements += [
        Statement(
            f"create or replace temp table {next_totals} as\n"
            f"select {', '.join(f'delta.{g}' for g in group)},\n    " + ",\n    ".join(moved) + ",\n"
            f"from {delta} as delta\nleft join {totals.table} as totals on {group_match}"
        ),
        Statement(
            f"delete from {totals.table} as totals\nwhere exists (select 1 from {delta} as delta where {group_match})"
        ),
        Statement(
            f"insert into {totals.table} ({', '.join(columns)})\n"
            f"select {', '.join(columns)},\nfrom {next_totals}\nwhere {totals.entity_count} != 0"
        ),
    ]
    return statements


# ---------------------------------------------------------------------------
# Additive intermediates (contract.Additive): the rows a source adds, published and merged
# ---------------------------------------------------------------------------

ADDED_ROW = "added_row"  # ops.run_changes.key_detail of a row a source published for its additive consumer


def _encoded(column: contract.Column, alias: str) -> str:
    """COLUMN of ALIAS as a value TO_JSON_STRING keeps exactly and _decoded reads back: a NUMERIC as its
    text, a TIMESTAMP as its microseconds since the epoch, a DATE as its ISO text."""
    value = f"{alias}.{column.name}"
    encodings = {"STRING": value, "INT64": value, "BOOL": value, "NUMERIC": f"cast({value} as string)",
                 "DATE": f"cast({value} as string)", "TIMESTAMP": f"unix_micros({value})"}
    if column.type not in encodings:
        raise ValueError(f"{column.name}: a {column.type} column cannot be published exactly")
    return encodings[column.type]


def _decoded(column: contract.Column, document: str) -> str:
    text = f"json_value({document}, '$.{column.name}')"
    decodings = {"STRING": text, "INT64": f"cast({text} as int64)", "BOOL": f"cast({text} as bool)",
                 "NUMERIC": f"cast({text} as numeric)", "DATE": f"cast({text} as date)",
                 "TIMESTAMP": f"timestamp_micros(cast({text} as int64))"}
    return decodings[column.type]


@functools.cache
def published_columns(consumer_name: str) -> tuple[str, ...]:
    """The columns of the additive source that the consumer's definition reads (resolved by sqlglot
    against the contract's schema): the only ones published."""
    from sqlglot.optimizer.qualify import qualify

    from customer360.dialect import contract_schema

    step = contract.STEPS_BY_NAME[consumer_name]
    source = step.intermediate.additive.source
    tree = qualify(sqlglot.parse_one(strip_comments(step.path.read_text(encoding="utf-8")), read="bigquery"),
                   schema=contract_schema(), dialect="bigquery")
    aliases = {t.alias_or_name for t in tree.find_all(exp.Table) if f"{t.db}.{t.name}" == source}
    read = {c.name for c in tree.find_all(exp.Column) if c.table in aliases}
    return tuple(c for c in contract.table(source).column_names if c in read)


def _published_table(step: Step) -> str:
    return f"published_{step.name}"


def _additive_table(step: Step) -> str:
    return f"additive_{step.name}"


def _recompute_table(step: Step) -> str:
    return f"recompute_{step.name}"


def _publishing_statements(step: Step, previous: str, recomputed: str) -> list[Statement]:
    """The source side: the entities of its additive consumer (by the records column) that gained rows and had none among
    the touched entities; their added rows, as JSON, in ops.run_changes. (Whether the consumer holds them
    already is its own step's question: this step may not read a table a later step writes.)"""
    key = step.intermediate.records
    target = contract.table(step.target)
    read = published_columns(contract.additive_consumer(target.ref).name)
    document = ("to_json_string(struct(" + ", ".join(f"{_encoded(c, 'now')} as {c.name}" for c in target.columns
                                                       if c.name in read) + "))")
    return [
        Statement(
            f"create or replace temp table {_published_table(step)} as\n"
            f"select distinct now.{key} as entity_id,\nfrom {recomputed} as now\n"
            f"where now.{key} is not null\n"
            f"    and not exists (select 1 from {previous} as before where before.{key} = now.{key})"
        ),
        Statement(
            f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
            f"select @run_id, {string_literal(target.ref)}, now.{key}, {string_literal(ADDED_ROW)}, 'added',\n"
            f"    {document},\n"
            f"from {recomputed} as now\nwhere now.{key} in (select entity_id from {_published_table(step)})"
        ),
    ]


def _delta_table(step: Step) -> str:
    return f"delta_{step.name}"


def _additive_statements(step: Step, previous: str) -> list[Statement]:
    """The consumer side. Candidates to merge: touched entities it holds that the source changed only by
    published rows. Their definition over those rows alone (the other scoped tables restricted to them)
    gives the delta: the merged columns, which read only the source, as the published rows make them, and
    every other column, which reads no source row, as it is now. A candidate with no delta row (it has
    neither published rows nor other rows now) is recomputed with the rest."""
    additive = step.intermediate.additive
    (ident,) = step.intermediate.entity
    source = contract.table(additive.source)
    read = published_columns(step.name)
    published = (
        "select " + ", ".join(f"{_decoded(c, 'changes.previous')} as {c.name}" for c in source.columns if c.name in read)
        + f" from ops.run_changes as changes where changes.table_name = {string_literal(additive.source)}"
        f" and changes.key_detail = {string_literal(ADDED_ROW)}"
        f" and changes.key_value in (select entity_id from {_additive_table(step)})"
    )
    columns = ", ".join(contract.table(step.target).column_names)
    return [
        Statement(
            f"create or replace temp table {_additive_table(step)} as\n"
            f"select touched.entity_id,\nfrom {touched_table(step)} as touched\n"
            f"where touched.entity_id is not null\n"
            f"    and exists (select 1 from {previous} as stored where stored.{ident} = touched.entity_id)\n"
            # The source's other records: entities that lost or changed rows there, or gained their first.
            f"    and touched.entity_id not in (\n"
            f"        select changes.key_value from ops.run_changes as changes\n"
            f"        where changes.table_name = {string_literal(additive.source)} and changes.key_detail is null\n"
            f"            and changes.key_value is not null\n    )"
        ),
        Statement(
            f"create or replace temp table {_delta_table(step)} as\n"
            f"select {columns},\nfrom (\n{scoped_definition(step, _additive_table(step), published)}\n) as definition\n"
            f"where definition.{ident} in (select entity_id from {_additive_table(step)})"
        ),
        Statement(
            f"create or replace temp table {_recompute_table(step)} as\n"
            f"select entity_id,\nfrom {touched_table(step)}\n"
            f"where entity_id not in (select delta.{ident} from {_delta_table(step)} as delta)"
        ),
    ]


def _merged_rows(step: Step, previous: str) -> str:
    """The merged entities' next rows: the delta's merged columns added to the stored ones (sum, min or
    max), its other columns as they are."""
    (ident,) = step.intermediate.entity
    merges = dict(step.intermediate.additive.merges)

    def merged(column: str) -> str:
        before, added = f"stored.{column}", f"delta.{column}"
        if merges.get(column) == "sum":
            return f"coalesce({before}, 0) + coalesce({added}, 0)"
        if merges.get(column) in ("min", "max"):
            better = "<" if merges[column] == "min" else ">"
            return (f"case when {added} is null then {before} when {before} is null then {added} "
                    f"when {added} {better} {before} then {added} else {before} end")
        return added

    columns = contract.table(step.target).column_names
    return (
        "select " + ", ".join(f"{merged(c)} as {c}" for c in columns) + ",\n"
        f"from {previous} as stored\ninner join {_delta_table(step)} as delta on delta.{ident} = stored.{ident}"
    )


def every_entity(step: Step) -> str:
    """The warehouse scope's touched entities: every entity the definition yields or the table holds."""
    kind, ident = _entity_columns(step.intermediate)
    columns = (f"{kind} as entity_kind, " if kind else "") + f"{ident} as entity_id"
    definition = strip_comments(step.path.read_text(encoding="utf-8"))
    return (
        f"select distinct {columns},\nfrom (\n{definition}\n)\n"
        f"union distinct\n"
        f"select distinct {columns},\nfrom {step.target}"
    )


def intermediate_statements(step: Step, scope: str = "run") -> list[Statement]:
    spec = step.intermediate
    target = contract.table(step.target)
    columns = ", ".join(target.column_names)
    touched = touched_table(step)
    previous = f"previous_{step.name}"
    recomputed = f"recomputed_{step.name}"
    kind, ident = _entity_columns(spec)
    if scope == "warehouse":
        touched_sql = every_entity(step)
    else:
        touched_sql = strip_comments(step.touched_path.read_text(encoding="utf-8"))
    # Additive merging works from what this run's source step published; over the whole warehouse
    # (`c360 run --select`, a repair) every entity is recomputed.
    additive = spec.additive is not None and scope == "run"
    statements = [
        Statement(f"create or replace temp table {touched} as\n{touched_sql}"),
        Statement(
            f"create or replace temp table {previous} as\n"
            f"select {columns},\nfrom {target.ref} as stored\nwhere {_touched_match(step, 'stored')}"
        ),
        *_held_days_statements(step),
        # The candidates to merge are found among the stored rows just read: one read of the table.
        *(_additive_statements(step, previous) if additive else []),
    ]
    if additive:
        recompute = _recompute_table(step)
        statements.append(Statement(
            f"create or replace temp table {recomputed} as\n"
            f"select {columns},\nfrom (\n{scoped_definition(step, recompute)}\n) as definition\n"
            f"where definition.{ident} in (select entity_id from {recompute})\n"
            f"union all\n{_merged_rows(step, previous)}"
        ))
    else:
        statements.append(Statement(
            f"create or replace temp table {recomputed} as\n"
            f"select {columns},\nfrom (\n{scoped_definition(step)}\n) as definition\n"
            f"where {_touched_match(step, 'definition')}"
        ))
    for totals in spec.totals:
        statements += _totals_statements(step, totals, previous, recomputed)
    consumer = contract.additive_consumer(target.ref) if scope == "run" else None
    if spec.records and consumer is not None:
        statements += _publishing_statements(step, previous, recomputed)
    if spec.records:
        published = f" and {spec.records} not in (select entity_id from {_published_table(step)})" if consumer else ""
        statements.append(
            Statement(
                f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
                f"select distinct @run_id, {string_literal(target.ref)}, {spec.records}, cast(null as string), 'updated',\n"
                f"    cast(null as string),\n"
                f"from (\n    select {spec.records} from {previous}\n    union all\n"
                f"    select {spec.records} from {recomputed}\n)\nwhere {spec.records} is not null{published}"
            )
        )
    if spec.records_entity_changes:
        same_row = " and ".join(f"now.{c} is not distinct from before.{c}" for c in target.column_names)
        key = f"now.{ident} = before.{ident}" + (f" and now.{kind} = before.{kind}" if kind else "")
        previous_json = "to_json_string(struct(" + ", ".join(f"before.{c} as {c}" for c in target.column_names) + "))"
        statements.append(
            Statement(
                f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
                f"select\n    @run_id,\n    {string_literal(target.ref)},\n"
                f"    coalesce(now.{ident}, before.{ident}),\n"
                f"    {f'coalesce(now.{kind}, before.{kind})' if kind else 'cast(null as string)'},\n"
                f"    case when before.{ident} is null then 'added' when now.{ident} is null then 'removed' "
                f"else 'updated' end,\n"
                f"    if(before.{ident} is null, null, {previous_json}),\n"
                f"from {recomputed} as now\nfull outer join {previous} as before on {key}\n"
                f"where before.{ident} is null or now.{ident} is null or not ({same_row})"
            )
        )
    statements += [
        Statement(f"delete from {target.ref} as stored\nwhere {_touched_match(step, 'stored')}"),
        Statement(f"insert into {target.ref} ({columns})\nselect {columns},\nfrom {recomputed}"),
    ]
    return statements


def work_tables(step: Step) -> list[str]:
    """The temp tables the step creates, to drop at its end."""
    names = [touched_table(step), f"previous_{step.name}", f"recomputed_{step.name}"]
    if step.intermediate.additive:
        names += [_additive_table(step), _delta_table(step), _recompute_table(step)]
    if step.intermediate.records and contract.additive_consumer(step.target):
        names.append(_published_table(step))
    for totals in step.intermediate.totals:
        names += [_totals_name(step, totals, what) for what in ("changes", "delta", "next")]
        if totals.member_count:
            names += [_totals_name(step, totals, what) for what in ("member_delta", "member_next")]
    return names


def totals_definition(step: Step, totals: Totals) -> str:
    """The totals table computed from the whole intermediate at once: what the run-by-run differences must add up to."""
    spec = step.intermediate
    group_list = ", ".join(totals.group_by)
    grouped = ", ".join(f"{totals.group_value(i)} as {g}" for i, g in enumerate(totals.group_by))
    entity = "to_json_string(struct(" + ", ".join(f"{c} as {c}" for c in spec.entity) + "))"
    measures = [f"count(distinct {entity}) as {totals.entity_count}"]
    measures += [f"coalesce(sum({source}), 0) as {target}" for target, source in totals.sums]
    if totals.member_count:
        measures.append(f"count(distinct {totals.member_count[1]}) as {totals.member_count[0]}")
    return f"select {grouped}, {', '.join(measures)},\nfrom {step.target}\ngroup by {group_list}"


def multiplicity_definition(step: Step, totals: Totals) -> str:
    """The (group, member) counts of a totals table's distinct members, from the whole intermediate."""
    _, member, _, count = totals.member_count
    group_list = ", ".join(totals.group_by)
    return (
        f"select {group_list}, {member}, count(*) as {count},\nfrom {step.target}\n"
        f"where {member} is not null\ngroup by {group_list}, {member}"
    )

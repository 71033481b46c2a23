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


@memoised(_generated_cache(), lambda step: (step.name, step.path.read_text(encoding="utf-8")))
def scoped_definition(step: Step) -> str:
    """The step's definition with each scoped table restricted to the touched entities of its kind."""
    spec = step.intermediate
    tree = sqlglot.parse_one(strip_comments(step.path.read_text(encoding="utf-8")), read="bigquery")
    scopes = {scope.table: scope for scope in spec.scopes}
    for table in list(tree.find_all(exp.Table)):
        ref = f"{table.db}.{table.name}" if table.db else table.name
        scope = scopes.get(ref)
        if scope is None:
            continue
        days = _held_days_source(scope)
        day_filter = f" and {contract.DELIVERY_DATE_COLUMN} in unnest(@{contract.held_days_parameter(days)})" if days else ""
        restricted = sqlglot.parse_one(
            f"select * from {ref} where {scope.column} in ({_touched_ids(step, scope)}){day_filter}",
            read="bigquery",
        )
        table.replace(exp.Subquery(this=restricted, alias=exp.TableAlias(this=exp.to_identifier(table.alias_or_name))))
    return tree.sql(dialect="bigquery", pretty=True)


def _touched_ids(step: Step, scope: Scope) -> str:
    kind_filter = f"entity_kind = {string_literal(scope.kind)} and " if scope.kind else ""
    return f"select entity_id from {touched_table(step)} where {kind_filter}entity_id is not null"


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
        statements.append(
            Statement(
                f"create or replace temp table {member_delta} as\n"
                f"select {group_list}, {member}, sum(sign) as delta_rows,\n"
                f"from {changes}\nwhere {member} is not null\n"
                f"group by {group_list}, {member}\nhaving sum(sign) != 0"
            )
        )
        # A member enters a group when its rows there go from none to some, and leaves on the way back.
        member_sql = (
            f"\nfull outer join (\n"
            f"    select {', '.join(f'moved.{g}' for g in group)},\n"
            f"        sum(case when coalesce(counts.{count}, 0) = 0 then 1\n"
            f"                 when counts.{count} + moved.delta_rows = 0 then -1 else 0 end) as delta_members,\n"
            f"    from {member_delta} as moved\n"
            f"    left join {multiplicity} as counts on {member_match}\n"
            f"    group by {', '.join(f'moved.{g}' for g in group)}\n"
            f") as members using ({group_list})"
        )
        next_counts = _totals_name(step, totals, "member_next")
        multiplicity_statements = [
            Statement(
                f"create or replace temp table {next_counts} as\n"
                f"select {', '.join(f'moved.{c}' for c in group + [member])},\n"
                f"    coalesce(counts.{count}, 0) + moved.delta_rows as {count},\n"
                f"from {member_delta} as moved\nleft join {multiplicity} as counts on {member_match}"
            ),
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
    # After the crossings are counted against the counts as they were.
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
    statements = [
        Statement(f"create or replace temp table {touched} as\n{touched_sql}"),
        Statement(
            f"create or replace temp table {previous} as\n"
            f"select {columns},\nfrom {target.ref} as stored\nwhere {_touched_match(step, 'stored')}"
        ),
        *_held_days_statements(step),
        Statement(
            f"create or replace temp table {recomputed} as\n"
            f"select {columns},\nfrom (\n{scoped_definition(step)}\n) as definition\n"
            f"where {_touched_match(step, 'definition')}"
        ),
    ]
    for totals in spec.totals:
        statements += _totals_statements(step, totals, previous, recomputed)
    if spec.records:
        statements.append(
            Statement(
                f"insert into ops.run_changes (run_id, table_name, key_value, key_detail, change, previous)\n"
                f"select distinct @run_id, {string_literal(target.ref)}, {spec.records}, cast(null as string), 'updated',\n"
                f"    cast(null as string),\n"
                f"from (\n    select {spec.records} from {previous}\n    union all\n"
                f"    select {spec.records} from {recomputed}\n)\nwhere {spec.records} is not null"
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

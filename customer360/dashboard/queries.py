"""The one set of dashboard queries: BigQuery SQL over the logical datasets, rendered for either engine.

Queries name tables as the contract does (`gold.customer_360`). For the local
warehouse they go through the project's BigQuery-to-DuckDB translation; for
BigQuery the logical datasets become `project.prefix_<dataset>`. Nothing else
differs between the two sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from customer360 import contract, dialect

DATASET_ROLES = ("gold", "ops", "silver")


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    sql: str  # BigQuery SQL naming tables by logical dataset

    @property
    def tables(self) -> tuple[str, ...]:
        """Contract refs of the tables the query reads."""
        return _tables(self.sql)

    def for_duckdb(self) -> str:
        return _for_duckdb(self.sql)

    def for_bigquery(self, project: str, prefix: str) -> str:
        return _for_bigquery(self.sql, project, prefix)


@lru_cache(maxsize=None)
def _tree(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="bigquery")


def _logical_tables(tree: exp.Expression) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if t.db in DATASET_ROLES and not t.catalog]


@lru_cache(maxsize=None)
def _tables(sql: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{t.db}.{t.name}" for t in _logical_tables(_tree(sql))))


@lru_cache(maxsize=None)
def _for_duckdb(sql: str) -> str:
    return dialect.transpile_one(sql)


@lru_cache(maxsize=None)
def _for_bigquery(sql: str, project: str, prefix: str) -> str:
    """The one place logical datasets become a deployment's: `gold` -> `project`.prefix_gold."""
    tree = _tree(sql).copy()
    for t in _logical_tables(tree):
        t.set("catalog", exp.to_identifier(project))
        t.set("db", exp.to_identifier(f"{prefix}_{t.db}"))
    return tree.sql(dialect="bigquery", pretty=True)


def _select_all(ref: str, order_by: str) -> str:
    columns = ",\n    ".join(contract.table(ref).column_names)
    return f"select\n    {columns}\nfrom {ref}\norder by {order_by}"


def _freshness_sql() -> str:
    """Per source: how often it is expected, its latest delivery in silver, and the latest deliveries_arrived result."""
    held = "\n    union all\n".join(
        f"    select '{s.name}' as source, '{s.expected}' as expected, count(*) as silver_rows,\n"
        f"        max({contract.DELIVERY_DATE_COLUMN}) as latest_delivery,\n    from {s.silver.ref}"
        for s in contract.SOURCES
    )
    return f"""with
held as (
{held}
),
latest_check as (
    select run_id,
    from ops.data_quality_results
    where check_name = 'deliveries_arrived'
    order by checked_at desc, run_id desc
    limit 1
),
arrivals as (
    select subject as source, status as delivery_status, detail as delivery_detail,
    from ops.data_quality_results
    where check_name = 'deliveries_arrived' and run_id in (select run_id from latest_check)
)
select held.source, held.expected, held.silver_rows, held.latest_delivery, arrivals.delivery_status,
    arrivals.delivery_detail,
from held
left join arrivals on held.source = arrivals.source"""


QUERIES: dict[str, Query] = {
    q.name: q
    for q in (
        Query(
            "customers",
            "Every Customer 360 profile, for the headline count and the lookup.",
            _select_all("gold.customer_360", "customer_key"),
        ),
        Query(
            "average_order_value",
            "Average order value by store, category and product.",
            _select_all("gold.average_order_value", "dimension, revenue desc, dimension_id"),
        ),
        Query(
            "segments",
            "Size and revenue of each segment.",
            """select
    segment,
    count(*) as customers,
    sum(lifetime_revenue) as revenue,
    sum(order_count) as orders,
    min(if(is_high_value, lifetime_revenue, null)) as lowest_high_value_revenue
from gold.customer_segments
group by segment
order by segment""",
        ),
        Query(
            "channel_activity",
            "Activity per channel, day of week and hour.",
            _select_all("gold.channel_activity_trends", "channel, day_of_week_number, hour_of_day"),
        ),
        Query(
            "activity_days",
            "The days of activity the channel heatmap adds up (the same events, in UTC).",
            """select
    count(distinct activity_date) as days,
    min(activity_date) as first_day,
    max(activity_date) as last_day,
    count(distinct extract(dayofweek from activity_date)) as weekdays,
from (
    select date(order_ts) as activity_date from silver.online_order_lines
    union all
    select date(transaction_ts) as activity_date from silver.store_sale_lines
    union all
    select date(created_at) as activity_date from silver.support_tickets
) as activity""",
        ),
        Query(
            "agents",
            "Support agent performance.",
            _select_all("gold.agent_performance_summary", "agent_id"),
        ),
        Query(
            "identity_match",
            "Identity match rate per source, as the run summary reports it.",
            (contract.SQL_DIR / contract.REPORTS["identity_match_rate"]).read_text(encoding="utf-8"),
        ),
        Query(
            "latest_step_runs",
            "The latest execution of every pipeline step (not the whole-run rows).",
            """select
    step,
    step_kind,
    target_table,
    run_id,
    run_date,
    started_at,
    finished_at,
    duration_seconds,
    rows_in,
    rows_out,
    rows_rejected,
    status,
    message,
from (
    select
        *,
        row_number() over (partition by step order by started_at desc, run_id desc) as recency,
    from ops.pipeline_runs
    where step_kind != 'run'
) as ranked_runs
where recency = 1""",
        ),
        Query(
            "recent_runs",
            "The last ten pipeline runs, one row per run.",
            """select
    run_id,
    run_date,
    engine,
    min(started_at) as run_started_at,
    max(finished_at) as run_finished_at,
    sum(if(step_kind = 'run', null, duration_seconds)) as step_seconds,
    countif(step_kind != 'run') as steps,
    countif(status not in ('succeeded', 'skipped')) as unsuccessful_steps,
    countif(status = 'skipped') as skipped_steps,
from ops.pipeline_runs
group by run_id, run_date, engine
order by run_started_at desc, run_id desc
limit 10""",
        ),
        Query(
            "freshness",
            "Per source: expected frequency, latest delivery day kept in silver, and whether the expected deliveries arrived.",
            _freshness_sql(),
        ),
        Query(
            "rejects",
            "Rejected raw rows by source and reason.",
            """select
    source,
    reason,
    count(*) as rejected_rows,
    max(delivery_date) as latest_delivery,
from ops.rejected_rows
group by source, reason
order by source, reason""",
        ),
        Query(
            "quality_checks",
            "The latest result of every data-quality check.",
            """select
    check_name,
    target_table,
    severity,
    violating_rows,
    status,
    run_id,
    run_date,
    checked_at,
from (
    select
        *,
        row_number() over (partition by check_name order by checked_at desc, run_id desc) as recency,
    from ops.data_quality_results
) as ranked_checks
where recency = 1
order by check_name""",
        ),
    )
}


def tables_read() -> tuple[str, ...]:
    """Every table the dashboard reads, as contract refs."""
    return tuple(dict.fromkeys(ref for q in QUERIES.values() for ref in q.tables))

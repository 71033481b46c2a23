"""Alerting on failed runs, an ops dashboard, and ops views for run history, freshness and cost."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from customer360 import bigquery_script, contract
from infra.settings import Settings
from infra.stage import Stage

# Load transfers and scheduled queries both report this metric on this resource type; a failed
# run carries completion_state = "FAILED"
# (https://cloud.google.com/monitoring/api/metrics_gcp#gcp-bigquerydatatransfer).
COMPLETED_RUNS_METRIC = "bigquerydatatransfer.googleapis.com/transfer_config/completed_runs"
TRANSFER_RESOURCE_TYPE = "bigquery_dts_config"
FAILED_RUNS_FILTER = (
    f'resource.type = "{TRANSFER_RESOURCE_TYPE}" AND metric.type = "{COMPLETED_RUNS_METRIC}" '
    'AND metric.label.completion_state = "FAILED"'
)
# INFORMATION_SCHEMA.JOBS keeps 180 days of jobs.
JOBS_RETENTION_DAYS = 180


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def run_history_sql(settings: Settings) -> str:
    runs = f"`{settings.project}.{settings.dataset_names['ops']}.pipeline_runs`"
    return f"""-- One row per pipeline run (either engine): its steps and whether it succeeded.
select
  run_id,
  run_date,
  engine,
  min(started_at) as started_at,
  max(finished_at) as finished_at,
  count(*) as steps_recorded,
  countif(status = 'succeeded') as steps_succeeded,
  if(logical_and(status = 'succeeded'), 'succeeded', 'failed') as status,
  string_agg(if(status != 'succeeded', concat(step, ': ', coalesce(message, status)), null), '; ') as failures,
from {runs}
group by run_id, run_date, engine
"""


def freshness_sql(settings: Settings) -> str:
    raw = f"`{settings.project}.{settings.dataset_names['raw']}`"
    runs = f"`{settings.project}.{settings.dataset_names['ops']}.pipeline_runs`"
    sources = ", ".join(f"'{s.name}'" for s in contract.SOURCES)
    return f"""-- One row per source: the latest delivery day loaded into raw and the latest day the pipeline completed.
with
sources as (
  select source from unnest([{sources}]) as source
),
loaded_partitions as (
  select
    table_name as source,
    max(parse_date('%Y%m%d', partition_id)) as last_delivery_date,
    max(last_modified_time) as last_loaded_at,
  from {raw}.INFORMATION_SCHEMA.PARTITIONS
  where partition_id not in ('__NULL__', '__UNPARTITIONED__') and total_rows > 0
  group by table_name
),
completed_runs as (
  select max(run_date) as last_completed_run_date,
  from {runs}
  where status = 'succeeded'
)
select
  sources.source,
  loaded_partitions.last_delivery_date,
  loaded_partitions.last_loaded_at,
  date_diff(current_date(), loaded_partitions.last_delivery_date, day) as days_since_last_delivery,
  completed_runs.last_completed_run_date,
from sources
left join loaded_partitions using (source)
cross join completed_runs
"""


def cost_by_query_label_sql(settings: Settings) -> str:
    jobs = f"`{settings.project}`.`{settings.information_schema_region}`.INFORMATION_SCHEMA.JOBS"
    return f"""-- One row per day, label set, principal and statement type of the jobs labelled app:customer360.
-- The daily script labels its jobs with @@query_label "{bigquery_script.query_label(settings.environment)}".
select
  date(creation_time) as job_date,
  (select value from unnest(labels) where key = 'env') as env,
  (select value from unnest(labels) where key = 'pipeline') as pipeline,
  user_email as principal,
  statement_type,
  count(*) as jobs,
  sum(total_bytes_processed) as bytes_processed,
  sum(total_bytes_billed) as bytes_billed,
  sum(total_bytes_billed) / pow(1024, 4) as tebibytes_billed,
  sum(total_slot_ms) / 1000 / 3600 as slot_hours,
from {jobs}
where creation_time >= timestamp_sub(current_timestamp(), interval {JOBS_RETENTION_DAYS} day)
  and job_type = 'QUERY'
  -- The parent job of a script repeats its children's totals.
  and coalesce(statement_type, '') != 'SCRIPT'
  and exists (select 1 from unnest(labels) where key = 'app' and value = 'customer360')
group by job_date, env, pipeline, principal, statement_type
"""


OPS_VIEWS = {
    "run_history": ("One row per pipeline run: steps recorded, status and failures.", run_history_sql),
    "freshness": ("One row per source: latest delivery loaded into raw and latest completed run.", freshness_sql),
    "cost_by_query_label": (
        "Daily job count, bytes billed and slot hours of the pipeline's labelled jobs (INFORMATION_SCHEMA.JOBS).",
        cost_by_query_label_sql,
    ),
}


def dashboard_json(settings: Settings) -> str:
    def runs_chart(title: str, extra_filter: str, group_by: list[str]) -> dict:
        return {
            "title": title,
            "xyChart": {
                "chartOptions": {"mode": "COLOR"},
                "dataSets": [
                    {
                        "plotType": "STACKED_BAR",
                        "targetAxis": "Y1",
                        "timeSeriesQuery": {
                            "timeSeriesFilter": {
                                "filter": (
                                    f'resource.type="{TRANSFER_RESOURCE_TYPE}" '
                                    f'metric.type="{COMPLETED_RUNS_METRIC}"{extra_filter}'
                                ),
                                "aggregation": {
                                    "alignmentPeriod": "3600s",
                                    "perSeriesAligner": "ALIGN_SUM",
                                    "crossSeriesReducer": "REDUCE_SUM",
                                    "groupByFields": group_by,
                                },
                            }
                        },
                    }
                ],
            },
        }

    ops = settings.dataset_names["ops"]
    views = ", ".join(f"`{ops}.{view}`" for view in OPS_VIEWS)
    tiles = [
        runs_chart("Transfer and scheduled-query runs by outcome", "", ["metric.label.completion_state"]),
        runs_chart(
            "Failed runs by transfer config",
            ' metric.label.completion_state="FAILED"',
            ["resource.label.config_id"],
        ),
        {
            "title": "Where to look next",
            "text": {
                "format": "MARKDOWN",
                "content": (
                    f"Run history, freshness and cost: the BigQuery views {views} in project "
                    f"`{settings.project}`. Step results: `{ops}.pipeline_runs`, "
                    f"`{ops}.data_quality_results`, rejected rows: `{ops}.rejected_rows`."
                ),
            },
        },
    ]
    return json.dumps(
        {
            "displayName": f"Customer 360 pipeline ({settings.environment})",
            "labels": {"app": "customer360", "env": settings.environment, "managed-by": "pulumi"},
            "mosaicLayout": {
                "columns": 12,
                "tiles": [
                    {"xPos": 6 * (i % 2), "yPos": 4 * (i // 2), "width": 6, "height": 4, "widget": tile}
                    for i, tile in enumerate(tiles)
                ],
            },
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class MonitoringArgs:
    settings: Settings
    ops_dataset: gcp.bigquery.Dataset


class Monitoring(Stage):
    """E-mail channels, an alert on any failed transfer or scheduled-query run, a dashboard and ops views."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("monitoring", name, opts)
        settings = args.settings
        user_labels = settings.labels("monitoring")

        # Keyed by address, not position, so reordering the config list changes nothing.
        self.channels = {
            email: gcp.monitoring.NotificationChannel(
                f"{name}-email-{_slug(email)}",
                project=settings.project,
                type="email",
                display_name=f"Customer 360 {settings.environment} alerts: {email}",
                description=f"Receives the failed-run alerts of the Customer 360 {settings.environment} pipeline.",
                labels={"email_address": email},
                user_labels=user_labels,
                opts=self.child(),
            )
            for email in settings.alert_emails
        }

        transfers_page = f"https://console.cloud.google.com/bigquery/transfers?project={settings.project}"
        self.alert_policy = gcp.monitoring.AlertPolicy(
            f"{name}-failed-runs",
            project=settings.project,
            display_name=(
                f"Customer 360 {settings.environment}: a load transfer, the daily pipeline "
                "or the missing-deliveries check failed"
            ),
            combiner="OR",
            severity="ERROR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="A BigQuery Data Transfer run finished FAILED",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=FAILED_RUNS_FILTER,
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period="600s",
                                per_series_aligner="ALIGN_SUM",
                            )
                        ],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                    ),
                )
            ],
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                subject=f"Customer 360 {settings.environment}: a pipeline run failed",
                content=(
                    "A Cloud Storage load transfer, the daily scheduled query or the missing-deliveries "
                    f"check of Customer 360 ({settings.environment}) failed; the incident names the "
                    "transfer config.\n\n"
                    f"Open the run's log in [Data transfers]({transfers_page}); for the daily pipeline, "
                    f"the failed step and its error are in `{settings.dataset_names['ops']}.run_history`. "
                    f"For `{settings.prefix} missing deliveries`, the run's error names the day and the "
                    "sources expected daily that have no delivery for it: the pipeline still ran for the "
                    "others; once the files are in their day folder, the late-delivery transfer or "
                    "`c360 backfill --stack` loads them."
                ),
            ),
            notification_channels=[channel.name for channel in self.channels.values()],
            user_labels=user_labels,
            opts=self.child(),
        )

        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=settings.project,
            dashboard_json=dashboard_json(settings),
            opts=self.child(),
        )

        self.views = {
            view: gcp.bigquery.Table(
                f"{name}-view-{view}",
                project=settings.project,
                dataset_id=args.ops_dataset.dataset_id,
                table_id=view,
                description=description,
                labels=settings.labels("ops"),
                view=gcp.bigquery.TableViewArgs(query=sql(settings), use_legacy_sql=False),
                # A view holds no data: it can always be replaced.
                deletion_protection=False,
                opts=self.child(),
            )
            for view, (description, sql) in OPS_VIEWS.items()
        }
        self.register_outputs(
            {
                "alert_policy": self.alert_policy.name,
                "dashboard": self.dashboard.id,
                "views": sorted(self.views),
            }
        )

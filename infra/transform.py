"""The SQL steps as BigQuery routines, the daily scheduled query that runs them in order, and the missing-deliveries check."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from customer360 import bigquery_script, contract, sqlgen
from infra.settings import Settings
from infra.stage import Stage

SCHEDULED_QUERY_DATA_SOURCE = "scheduled_query"


def type_json(bigquery_type: str) -> str:
    """Routine argument and return types are JSON StandardSqlDataType strings (pulumi-gcp bigquery/routine.py, `data_type`).

    Written compactly, as the API returns them: pulumi-gcp (bigquery/routine.py) diffs the string.
    """
    if not re.fullmatch(r"[A-Z][A-Z0-9]*", bigquery_type):
        raise ValueError(f"only scalar BigQuery types are supported for routines, got {bigquery_type!r}")
    return json.dumps({"typeKind": bigquery_type}, separators=(",", ":"))


def procedure_arguments() -> list[gcp.bigquery.RoutineArgumentArgs]:
    return [
        gcp.bigquery.RoutineArgumentArgs(name=contract.procedure_argument(name), data_type=type_json(kind))
        for name, kind in contract.QUERY_PARAMETERS.items()
    ]


def scheduled_query_params(script: str) -> dict[str, str]:
    # A script (DML, CALL) must not set destination_table_name_template, write_disposition or
    # partitioning_field: those are for a single SELECT
    # (https://cloud.google.com/bigquery/docs/scheduling-queries, "Set up scheduled queries").
    return {"query": script}


def pipeline_display_name(prefix: str) -> str:
    """What the console lists for the daily scheduled query; `c360 backfill --stack` finds it by it."""
    return f"{prefix} daily pipeline"


def missing_deliveries_display_name(prefix: str) -> str:
    """What the console lists for the scheduled check that fails when an expected delivery is missing."""
    return f"{prefix} missing deliveries"


def calls(body: str, function: sqlgen.SqlFunction) -> bool:
    return re.search(rf"\b{re.escape(function.dataset)}\.{re.escape(function.name)}\s*\(", body) is not None


@dataclass(frozen=True)
class TransformArgs:
    settings: Settings
    datasets: dict[str, gcp.bigquery.Dataset]
    transformer_email: pulumi.Input[str]


class Transform(Stage):
    """SQL functions, one stored procedure per pipeline step, the daily scheduled query and the missing-deliveries check."""

    def __init__(self, name: str, args: TransformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("transform", name, opts)
        settings = args.settings
        names = settings.dataset_names

        def qualify(sql: str) -> str:
            return sqlgen.qualify(sql, names, settings.project)

        self.functions: dict[str, gcp.bigquery.Routine] = {}
        # sqlgen lists a function after the functions it calls, so those already exist here.
        for function in sqlgen.functions():
            called = [self.functions[f.ref] for f in sqlgen.functions() if f.ref in self.functions and calls(function.body, f)]
            self.functions[function.ref] = gcp.bigquery.Routine(
                f"{name}-function-{function.name}",
                project=settings.project,
                dataset_id=args.datasets[function.dataset].dataset_id,
                routine_id=function.name,
                routine_type="SCALAR_FUNCTION",
                language="SQL",
                description=(
                    f"{function.ref}({', '.join(a for a, _ in function.arguments)}) from {function.file}, "
                    "used by the pipeline's SQL."
                ),
                arguments=[
                    gcp.bigquery.RoutineArgumentArgs(name=argument, data_type=type_json(kind))
                    for argument, kind in function.arguments
                ],
                return_type=type_json(function.return_type),
                definition_body=qualify(function.body),
                opts=self.child(depends_on=called),
            )

        self.procedures: dict[str, gcp.bigquery.Routine] = {}
        for step in contract.PIPELINE:
            body = sqlgen.procedure_body(step, names, settings.project)
            self.procedures[step.name] = gcp.bigquery.Routine(
                f"{name}-procedure-{step.procedure_name}",
                project=settings.project,
                dataset_id=args.datasets[step.procedure_dataset].dataset_id,
                routine_id=step.procedure_name,
                routine_type="PROCEDURE",
                language="SQL",
                description=step.description,
                arguments=procedure_arguments(),
                definition_body=body,
                opts=self.child(depends_on=list(self.functions.values())),
            )

        self.script = bigquery_script.daily_script(names, settings.project, environment=settings.environment)
        self.scheduled_query = gcp.bigquery.DataTransferConfig(
            f"{name}-daily-pipeline",
            project=settings.project,
            display_name=pipeline_display_name(settings.prefix),
            data_source_id=SCHEDULED_QUERY_DATA_SOURCE,
            location=settings.location,
            schedule=str(settings.pipeline_schedule),
            service_account_name=args.transformer_email,
            params=scheduled_query_params(self.script),
            opts=self.child(depends_on=list(self.procedures.values())),
        )
        # A failed run of this check trips the failed-run alert (infra/monitoring.py) like any other
        # transfer run, and being its own scheduled query it never rolls back the day's pipeline run.
        # It reads only raw's INFORMATION_SCHEMA.PARTITIONS, which the transformer's dataViewer on raw
        # allows (docs/bigquery-behaviour.md#partitions-view).
        self.missing_deliveries_script = bigquery_script.missing_deliveries_script(names, settings.project)
        self.missing_deliveries_check = gcp.bigquery.DataTransferConfig(
            f"{name}-missing-deliveries",
            project=settings.project,
            display_name=missing_deliveries_display_name(settings.prefix),
            data_source_id=SCHEDULED_QUERY_DATA_SOURCE,
            location=settings.location,
            schedule=str(settings.missing_deliveries_schedule),
            service_account_name=args.transformer_email,
            params=scheduled_query_params(self.missing_deliveries_script),
            opts=self.child(),
        )
        self.register_outputs(
            {
                "procedures": sorted(step.procedure_name for step in contract.PIPELINE),
                "scheduled_query": self.scheduled_query.name,
                "missing_deliveries_check": self.missing_deliveries_check.name,
            }
        )

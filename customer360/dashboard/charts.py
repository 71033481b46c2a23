"""Vega-Lite charts of the dashboard, built with altair from the fetched rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt

from customer360.dashboard.data import DashboardData

CHANNELS = ("web", "mobile_app", "in_store", "support_phone", "support_email", "support_chat")
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
SEGMENTS = ("High-Value", "Loyalty Champions", "One-Time Buyers", "Repeat Buyers", "Prospects")
SEGMENT_COLORS = ("#1b6ca8", "#c2831c", "#7c8b99", "#3f9b6b", "#b9c3cc")
STATUS_COLORS = {"succeeded": "#3f9b6b", "failed": "#c0392b", "rolled_back": "#e08e2b"}
TOP_PRODUCTS = 15
MONEY = "$,.2f"

_CONFIG = {
    "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 220, "grid": False},
    "legend": {"labelFontSize": 12, "titleFontSize": 12},
    "title": {"fontSize": 14, "anchor": "start"},
    "bar": {"color": "#1b6ca8"},
}


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=rows)


def _finish(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict()
    spec["config"] = {**_CONFIG, **spec.get("config", {})}
    return spec


def _labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with a `label`: the name, plus the id where names repeat (several Unknown stores, say)."""
    names = [r["dimension_name"] for r in rows]
    return [
        {**r, "label": r["dimension_name"] if names.count(r["dimension_name"]) == 1 or r["dimension_id"] == r["dimension_name"]
         else f"{r['dimension_name']} ({r['dimension_id']})"}
        for r in rows
    ]


_AOV_TOOLTIP = [
    alt.Tooltip("dimension_name:N", title="Name"),
    alt.Tooltip("dimension_id:N", title="Id"),
    alt.Tooltip("average_order_value:Q", title="Average order value", format=MONEY),
    alt.Tooltip("order_count:Q", title="Orders", format=","),
    alt.Tooltip("units:Q", title="Units", format=","),
    alt.Tooltip("revenue:Q", title="Revenue", format=MONEY),
]


def _aov_bars(sort_field: str = "average_order_value", width: int = 420) -> alt.Chart:
    return (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("average_order_value:Q", title="Average order value", axis=alt.Axis(format="$,.0f", grid=True)),
            y=alt.Y("label:N", title=None, sort=alt.EncodingSortField(sort_field, order="descending")),
            tooltip=_AOV_TOOLTIP,
        )
        .properties(width=width, height=alt.Step(22))
    )


def aov_by_store(data: DashboardData) -> dict[str, Any] | None:
    rows = [r for r in data["average_order_value"] if r["dimension"] == "store"]
    if not rows:
        return None
    title = "Average order value by store (online orders as Online)"
    return _finish(_aov_bars().properties(data=_data(_labelled(rows)), title=title))


def aov_by_category(data: DashboardData) -> dict[str, Any] | None:
    rows = [r for r in data["average_order_value"] if r["dimension"] == "category"]
    if not rows:
        return None
    return _finish(_aov_bars().properties(data=_data(_labelled(rows)), title="Average order value by category"))


def aov_top_products(data: DashboardData) -> dict[str, Any] | None:
    products = [r for r in data["average_order_value"] if r["dimension"] == "product"]
    top = sorted(products, key=lambda r: (-(r["revenue"] or 0), r["dimension_id"]))[:TOP_PRODUCTS]
    if not top:
        return None
    revenue = (
        alt.Chart()
        .mark_bar(color="#7c8b99")
        .encode(
            x=alt.X("revenue:Q", title="Revenue", axis=alt.Axis(format="$,.0f", grid=True)),
            y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("revenue", order="descending")),
            tooltip=_AOV_TOOLTIP,
        )
        .properties(width=300, height=alt.Step(22))
    )
    value = _aov_bars(sort_field="revenue", width=300).encode(
        y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("revenue", order="descending"), axis=None)
    )
    chart = alt.hconcat(revenue, value, data=_data(_labelled(top)), spacing=16).properties(
        title=f"Top {len(top)} products by revenue, with their average order value"
    )
    return _finish(chart)


def segment_mix(data: DashboardData) -> dict[str, Any] | None:
    rows = data["segments"]
    if not rows:
        return None
    total_revenue = sum(r["revenue"] or 0 for r in rows)
    total_customers = sum(r["customers"] for r in rows)
    values = [
        {
            **r,
            "customer_share": r["customers"] / total_customers if total_customers else 0,
            "revenue_share": (r["revenue"] or 0) / total_revenue if total_revenue else 0,
        }
        for r in rows
    ]
    base = alt.Chart(_data(values)).encode(
        y=alt.Y("segment:N", title=None, sort=list(SEGMENTS)),
        color=alt.Color("segment:N", scale=alt.Scale(domain=list(SEGMENTS), range=list(SEGMENT_COLORS)), legend=None),
        tooltip=[
            alt.Tooltip("segment:N", title="Segment"),
            alt.Tooltip("customers:Q", title="Customers", format=","),
            alt.Tooltip("customer_share:Q", title="Share of customers", format=".1%"),
            alt.Tooltip("revenue:Q", title="Lifetime revenue", format=MONEY),
            alt.Tooltip("revenue_share:Q", title="Share of revenue", format=".1%"),
            alt.Tooltip("orders:Q", title="Orders", format=","),
        ],
    )
    sizes = base.mark_bar().encode(
        x=alt.X("customers:Q", title="Customers", axis=alt.Axis(format=",d", grid=True))
    ).properties(title="Customers per segment", width=200, height=alt.Step(26))
    shares = base.mark_bar().encode(
        x=alt.X("revenue_share:Q", title="Share", axis=alt.Axis(format=".0%", grid=True),
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("segment:N", title=None, sort=list(SEGMENTS), axis=None),
    ).properties(title="Share of lifetime revenue", width=200, height=alt.Step(26))
    return _finish(alt.hconcat(sizes, shares, spacing=24))


def channel_heatmap(data: DashboardData) -> dict[str, Any] | None:
    rows = data["channel_activity"]
    if not rows:
        return None
    channels = [c for c in CHANNELS if any(r["channel"] == c for r in rows)]
    channels += sorted({r["channel"] for r in rows} - set(channels))
    hour = alt.X("hour_of_day:O", title="Hour of day (UTC)", scale=alt.Scale(domain=list(range(24))),
                 axis=alt.Axis(labelAngle=0, values=list(range(0, 24, 3))))
    day = alt.Y("day_of_week:N", title=None, sort=list(DAYS), scale=alt.Scale(domain=list(DAYS)))
    tooltip = [
        alt.Tooltip("channel:N", title="Channel"),
        alt.Tooltip("day_of_week:N", title="Day"),
        alt.Tooltip("hour_of_day:O", title="Hour (UTC)"),
        alt.Tooltip("activity_count:Q", title="Activity", format=","),
        alt.Tooltip("distinct_customers:Q", title="Customers", format=","),
        alt.Tooltip("revenue:Q", title="Revenue", format=MONEY),
        alt.Tooltip("activity_rank:Q", title="Rank in channel"),
    ]
    cells = (
        alt.Chart()
        .transform_joinaggregate(busiest="max(activity_count)", groupby=["channel"])
        .transform_calculate(relative_activity="datum.activity_count / datum.busiest")
        .mark_rect()
        .encode(
            x=hour,
            y=day,
            color=alt.Color("relative_activity:Q", title="Activity relative to the channel's busiest hour",
                            scale=alt.Scale(scheme="blues", domain=[0, 1]),
                            legend=alt.Legend(format=".0%", orient="top", titleLimit=400, gradientLength=240,
                                              values=[0, 0.25, 0.5, 0.75, 1])),
            tooltip=tooltip,
        )
    )
    peaks = (
        alt.Chart()
        .transform_filter("datum.is_peak")
        .mark_rect(fill=None, stroke="#c0392b", strokeWidth=2.5)
        .encode(x=hour, y=day, tooltip=tooltip)
    )
    chart = (
        alt.layer(cells, peaks, data=_data(rows))
        .properties(width=330, height=120)
        .facet(facet=alt.Facet("channel:N", title=None, sort=channels,
                               header=alt.Header(labelFontSize=13, labelFontWeight="bold")), columns=3)
        .properties(title="Activity by day and hour; red outline = the channel's peak hour")
    )
    return _finish(chart)


def agent_scatter(data: DashboardData) -> dict[str, Any] | None:
    rows = [r for r in data["agents"] if r["avg_resolution_hours"] is not None and r["avg_csat"] is not None]
    if not rows:
        return None
    chart = (
        alt.Chart(_data(rows), title="Resolution time against CSAT (size = tickets assigned)")
        .mark_circle(opacity=0.8, stroke="#333", strokeWidth=0.5)
        .encode(
            x=alt.X("avg_resolution_hours:Q", title="Average resolution hours", axis=alt.Axis(grid=True)),
            y=alt.Y("avg_csat:Q", title="Average CSAT (1-5)", scale=alt.Scale(domain=[1, 5]), axis=alt.Axis(grid=True)),
            size=alt.Size("tickets_assigned:Q", title="Tickets", scale=alt.Scale(range=[60, 900])),
            color=alt.Color("resolution_rate:Q", title="Resolution rate",
                            scale=alt.Scale(scheme="redyellowgreen", domain=[0, 1]), legend=alt.Legend(format=".0%")),
            tooltip=[
                alt.Tooltip("agent_name:N", title="Agent"),
                alt.Tooltip("team:N", title="Team"),
                alt.Tooltip("tickets_assigned:Q", title="Tickets", format=","),
                alt.Tooltip("resolution_rate:Q", title="Resolution rate", format=".0%"),
                alt.Tooltip("avg_resolution_hours:Q", title="Resolution hours", format=".1f"),
                alt.Tooltip("avg_csat:Q", title="CSAT", format=".2f"),
            ],
        )
        .properties(width=520, height=260)
    )
    return _finish(chart)


def identity_match_rates(data: DashboardData) -> dict[str, Any] | None:
    rows = [r for r in data["identity_match"] if r["match_rate"] is not None]
    if not rows:
        return None
    chart = (
        alt.Chart(_data(rows), title="Records linked to a customer, by source")
        .mark_bar()
        .encode(
            x=alt.X("match_rate:Q", title="Match rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%", grid=True)),
            y=alt.Y("source:N", title=None, sort=alt.EncodingSortField("match_rate", order="descending")),
            tooltip=[
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("match_rate:Q", title="Match rate", format=".1%"),
                alt.Tooltip("matched:Q", title="Matched", format=","),
                alt.Tooltip("records:Q", title="Records", format=","),
            ],
        )
        .properties(width=360, height=alt.Step(24))
    )
    return _finish(chart)


def step_durations(data: DashboardData) -> dict[str, Any] | None:
    rows = [r for r in data["latest_step_runs"] if r["duration_seconds"] is not None]
    if not rows:
        return None
    order = [r["step"] for r in rows]  # already in pipeline order
    statuses = sorted({r["status"] for r in rows} | set(STATUS_COLORS))
    chart = (
        alt.Chart(_data(rows), title="Duration of each step's latest run")
        .mark_bar()
        .encode(
            x=alt.X("duration_seconds:Q", title="Seconds", axis=alt.Axis(grid=True)),
            y=alt.Y("step:N", title=None, sort=order),
            color=alt.Color("status:N", title="Status", scale=alt.Scale(
                domain=statuses, range=[STATUS_COLORS.get(s, "#7c8b99") for s in statuses])),
            tooltip=[
                alt.Tooltip("step:N", title="Step"),
                alt.Tooltip("step_kind:N", title="Kind"),
                alt.Tooltip("run_date:N", title="Run date"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("duration_seconds:Q", title="Seconds", format=".2f"),
                alt.Tooltip("rows_in:Q", title="Rows in", format=","),
                alt.Tooltip("rows_out:Q", title="Rows out", format=","),
                alt.Tooltip("rows_rejected:Q", title="Rows rejected", format=","),
            ],
        )
        .properties(width=330, height=alt.Step(14))
    )
    return _finish(chart)


def rejects_by_reason(data: DashboardData) -> dict[str, Any] | None:
    rows = data["rejects"]
    if not rows:
        return None
    chart = (
        alt.Chart(_data(rows), title="Rejected rows by source and reason")
        .mark_bar()
        .encode(
            x=alt.X("sum(rejected_rows):Q", title="Rejected rows", axis=alt.Axis(format=",d", tickMinStep=1, grid=True)),
            y=alt.Y("source:N", title=None, sort="-x"),
            color=alt.Color("reason:N", title="Reason", scale=alt.Scale(scheme="tableau10"),
                            legend=alt.Legend(orient="bottom", columns=3, labelLimit=200)),
            tooltip=[
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("rejected_rows:Q", title="Rows", format=","),
                alt.Tooltip("latest_delivery:N", title="Latest delivery"),
            ],
        )
        .properties(width=440, height=alt.Step(26))
    )
    return _finish(chart)


# Chart id -> (builder, what to say when there is nothing to draw).
CHARTS: dict[str, tuple[Callable[[DashboardData], dict[str, Any] | None], str]] = {
    "aov-by-store": (aov_by_store, "No store or online orders yet."),
    "aov-by-category": (aov_by_category, "No categorised order lines yet."),
    "aov-top-products": (aov_top_products, "No product sales yet."),
    "segment-mix": (segment_mix, "No customers in gold.customer_segments yet."),
    "channel-heatmap": (channel_heatmap, "No channel activity yet."),
    "agent-scatter": (agent_scatter, "No agent has both resolved tickets and CSAT scores yet."),
    "identity-match": (identity_match_rates, "No loyalty cards, orders, sales or tickets in silver yet."),
    "step-durations": (step_durations, "No pipeline runs recorded yet."),
    "rejects-by-reason": (rejects_by_reason, "No rejected rows: every delivered row was accepted."),
}


def build_charts(data: DashboardData) -> dict[str, dict[str, Any] | None]:
    """Every chart's Vega-Lite spec, or None where its data is empty."""
    return {chart_id: builder(data) for chart_id, (builder, _) in CHARTS.items()}

"""Vega-Lite charts of the dashboard, built with altair from the fetched rows.

Every chart fits the width of its panel. Single views take the panel's width (`"container"`);
the three compound ones (side-by-side views, a faceted heatmap) also come in a narrow layout,
which the page uses where the wide one would not fit (a phone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import altair as alt

from customer360.dashboard.data import DashboardData

CHANNELS = ("web", "mobile_app", "in_store", "support_phone", "support_email", "support_chat")
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
SEGMENTS = ("High-Value", "Loyalty Champions", "One-Time Buyers", "Repeat Buyers", "Prospects")
SEGMENT_COLORS = ("#1b6ca8", "#c2831c", "#7c8b99", "#3f9b6b", "#b9c3cc")
STATUS_COLORS = {"succeeded": "#3f9b6b", "failed": "#c0392b", "rolled_back": "#e08e2b"}
BAR_COLOR = "#1b6ca8"
UNKNOWN_COLOR = "#b9c3cc"
TOP_PRODUCTS = 15
MONEY = "$,.2f"

# A store's average order value over a handful of orders says little: stores below this are left
# out of the chart (and named under it). Gold reports a store_id missing from silver.stores under
# the name Unknown, one row per id; the chart sums them into one bar.
MIN_STORE_ORDERS = 10
UNKNOWN_NAME = "Unknown"
UNKNOWN_STORES = "Unknown stores"

# The narrow layouts are drawn for panels at least this wide (a 390 px phone gives about 340).
NARROW_WIDTH = 300

_CONFIG = {
    "font": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 220, "grid": False},
    "legend": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 200},
    "title": {"fontSize": 14, "anchor": "start"},
    "bar": {"color": BAR_COLOR},
}


@dataclass(frozen=True)
class Chart:
    """One chart: its heading and note (HTML text on the page) and its Vega-Lite specs."""

    title: str
    spec: dict[str, Any]
    note: str = ""
    narrow_spec: dict[str, Any] | None = None


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=rows)


def _finish(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict()
    spec["config"] = {**_CONFIG, **spec.get("config", {})}
    if spec.get("width") == "container":
        # Axis labels and legends count towards the panel's width, not beyond it.
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    return spec


def _labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with a `label`: the name, plus the id where names repeat (several Unknown products, say)."""
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


def _aov_bars(order: list[str] | None = None, sort_field: str = "average_order_value",
              width: int | str = "container") -> alt.Chart:
    sort = order if order is not None else alt.EncodingSortField(sort_field, order="descending")
    return (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("average_order_value:Q", title="Average order value", axis=alt.Axis(format="$,.0f", grid=True)),
            y=alt.Y("label:N", title=None, sort=sort),
            tooltip=_AOV_TOOLTIP,
        )
        .properties(width=width, height=alt.Step(22))
    )


def store_bars(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(bars, left out): stores with at least MIN_STORE_ORDERS orders by average order value, then one
    bar summing every unknown store; and the known stores with fewer orders."""
    known = [r for r in rows if r["dimension_name"] != UNKNOWN_NAME]
    unknown = [r for r in rows if r["dimension_name"] == UNKNOWN_NAME]
    enough = [r for r in known if (r["order_count"] or 0) >= MIN_STORE_ORDERS]
    shown = sorted(enough or known, key=lambda r: (-(r["average_order_value"] or 0), r["dimension_id"]))
    left_out = sorted((r for r in known if r not in shown), key=lambda r: (-(r["order_count"] or 0), r["dimension_id"]))
    bars = [{**r, "label": r["dimension_name"], "unknown": False} for r in _labelled(shown)]
    if unknown:
        # Each order has one store, so the unknown stores' orders add up without double counting.
        orders = sum(r["order_count"] or 0 for r in unknown)
        revenue = sum(r["revenue"] or 0 for r in unknown)
        bars.append({
            "dimension": "store", "dimension_id": f"{len(unknown)} store ids not in silver.stores",
            "dimension_name": UNKNOWN_STORES, "label": UNKNOWN_STORES, "unknown": True,
            "order_count": orders, "units": sum(r["units"] or 0 for r in unknown), "revenue": revenue,
            "average_order_value": revenue / orders if orders else None,
        })
    return bars, left_out


def _store_note(bars: list[dict[str, Any]], left_out: list[dict[str, Any]]) -> str:
    if any((b["order_count"] or 0) < MIN_STORE_ORDERS for b in bars if not b["unknown"]):
        note = [f"No store has {MIN_STORE_ORDERS} orders yet, so every store is shown, highest average first: "
                "an average over a few orders varies widely. Online orders as Online."]
    else:
        note = [f"Stores with at least {MIN_STORE_ORDERS} orders, highest average first; online orders as Online."]
    unknown = next((b for b in bars if b["unknown"]), None)
    if unknown:
        note.append(f"{UNKNOWN_STORES}: {unknown['dimension_id']}, {unknown['order_count']:,} orders, as one grey bar.")
    if left_out:
        named = ", ".join(f"{r['dimension_name']} ({r['order_count']:,})" for r in left_out[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        plural = "s" if len(left_out) > 1 else ""
        note.append(f"Not shown, {len(left_out)} store{plural} with fewer orders: {named}{more}.")
    return " ".join(note)


def aov_by_store(data: DashboardData) -> Chart | None:
    rows = [r for r in data["average_order_value"] if r["dimension"] == "store"]
    if not rows:
        return None
    bars, left_out = store_bars(rows)
    if not bars:
        return None
    chart = _aov_bars(order=[b["label"] for b in bars]).encode(
        color=alt.condition("datum.unknown", alt.value(UNKNOWN_COLOR), alt.value(BAR_COLOR))
    ).properties(data=_data(bars))
    return Chart("Average order value by store", _finish(chart), _store_note(bars, left_out))


def aov_by_category(data: DashboardData) -> Chart | None:
    rows = [r for r in data["average_order_value"] if r["dimension"] == "category"]
    if not rows:
        return None
    return Chart("Average order value by category", _finish(_aov_bars().properties(data=_data(_labelled(rows)))))


def aov_top_products(data: DashboardData) -> Chart | None:
    products = [r for r in data["average_order_value"] if r["dimension"] == "product"]
    top = sorted(products, key=lambda r: (-(r["revenue"] or 0), r["dimension_id"]))[:TOP_PRODUCTS]
    if not top:
        return None
    by_revenue = alt.EncodingSortField("revenue", order="descending")

    def views(width: int, label_limit: int, value_labels: bool) -> tuple[alt.Chart, alt.Chart]:
        revenue = (
            alt.Chart()
            .mark_bar(color="#7c8b99")
            .encode(
                x=alt.X("revenue:Q", title="Revenue", axis=alt.Axis(format="$,.0f", grid=True)),
                y=alt.Y("label:N", title=None, sort=by_revenue, axis=alt.Axis(labelLimit=label_limit)),
                tooltip=_AOV_TOOLTIP,
            )
            .properties(width=width, height=alt.Step(22))
        )
        value_axis = alt.Axis(labelLimit=label_limit) if value_labels else None
        value = _aov_bars(sort_field="revenue", width=width).encode(
            y=alt.Y("label:N", title=None, sort=by_revenue, axis=value_axis)
        )
        return revenue, value

    wide = alt.hconcat(*views(300, 220, value_labels=False), data=_data(_labelled(top)), spacing=16)
    narrow = alt.vconcat(*views(NARROW_WIDTH - 150, 130, value_labels=True), data=_data(_labelled(top)), spacing=16)
    return Chart(
        f"Top {len(top)} products by revenue, with their average order value",
        _finish(wide),
        narrow_spec=_finish(narrow),
    )


def segment_mix(data: DashboardData) -> Chart | None:
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

    def views(width: int, share_labels: bool) -> tuple[alt.Chart, alt.Chart]:
        sizes = base.mark_bar().encode(
            x=alt.X("customers:Q", title="Customers", axis=alt.Axis(format=",d", grid=True))
        ).properties(title="Customers per segment", width=width, height=alt.Step(26))
        shares = base.mark_bar().encode(
            x=alt.X("revenue_share:Q", title="Share", axis=alt.Axis(format=".0%", grid=True),
                    scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("segment:N", title=None, sort=list(SEGMENTS), axis=alt.Axis() if share_labels else None),
        ).properties(title="Share of lifetime revenue", width=width, height=alt.Step(26))
        return sizes, shares

    return Chart(
        "Customers and revenue by segment",
        _finish(alt.hconcat(*views(200, share_labels=False), spacing=24)),
        narrow_spec=_finish(alt.vconcat(*views(NARROW_WIDTH - 130, share_labels=True), spacing=16)),
    )


def _coverage_note(data: DashboardData) -> str:
    """How many days the day-of-week cells add up: with few days, most weekdays have nothing yet."""
    coverage = data["activity_days"][0] if data["activity_days"] else None
    days = coverage["days"] if coverage else 0
    if not days:
        return ""
    span = (f"{coverage['first_day']}" if days == 1 else f"{coverage['first_day']} to {coverage['last_day']}")
    if days < 7:
        plural = "" if days == 1 else "s"
        return (f"Only {days} day{plural} of activity ({span}): {coverage['weekdays']} of the 7 weekdays have "
                "data; the others stay empty until more days arrive.")
    return f"Covers {days:,} days of activity ({span}); each cell adds up its weekday and hour over them."


def channel_heatmap(data: DashboardData) -> Chart | None:
    rows = data["channel_activity"]
    if not rows:
        return None
    channels = [c for c in CHANNELS if any(r["channel"] == c for r in rows)]
    channels += sorted({r["channel"] for r in rows} - set(channels))
    tooltip = [
        alt.Tooltip("channel:N", title="Channel"),
        alt.Tooltip("day_of_week:N", title="Day"),
        alt.Tooltip("hour_of_day:O", title="Hour (UTC)"),
        alt.Tooltip("activity_count:Q", title="Activity", format=","),
        alt.Tooltip("distinct_customers:Q", title="Customers", format=","),
        alt.Tooltip("revenue:Q", title="Revenue", format=MONEY),
        alt.Tooltip("activity_rank:Q", title="Rank in channel"),
    ]

    def layout(width: int, columns: int, legend_length: int, hour_step: int) -> dict[str, Any]:
        hour = alt.X("hour_of_day:O", title="Hour of day (UTC)", scale=alt.Scale(domain=list(range(24))),
                     axis=alt.Axis(labelAngle=0, values=list(range(0, 24, hour_step))))
        day = alt.Y("day_of_week:N", title=None, sort=list(DAYS), scale=alt.Scale(domain=list(DAYS)))
        cells = (
            alt.Chart()
            .transform_joinaggregate(busiest="max(activity_count)", groupby=["channel"])
            .transform_calculate(relative_activity="datum.activity_count / datum.busiest")
            .mark_rect()
            .encode(
                x=hour,
                y=day,
                color=alt.Color("relative_activity:Q", title="Share of the channel's busiest hour",
                                scale=alt.Scale(scheme="blues", domain=[0, 1]),
                                legend=alt.Legend(format=".0%", orient="top", titleLimit=NARROW_WIDTH,
                                                  gradientLength=legend_length, values=[0, 0.25, 0.5, 0.75, 1])),
                tooltip=tooltip,
            )
        )
        peaks = (
            alt.Chart()
            .transform_filter("datum.is_peak")
            .mark_rect(fill=None, stroke="#c0392b", strokeWidth=2.5)
            .encode(x=hour, y=day, tooltip=tooltip)
        )
        return _finish(
            alt.layer(cells, peaks, data=_data(rows))
            .properties(width=width, height=120)
            .facet(facet=alt.Facet("channel:N", title=None, sort=channels,
                                   header=alt.Header(labelFontSize=13, labelFontWeight="bold")), columns=columns)
        )

    return Chart(
        "Activity by day and hour (UTC); red outline = the channel's peak hour",
        layout(width=330, columns=3, legend_length=240, hour_step=3),
        _coverage_note(data),
        narrow_spec=layout(width=NARROW_WIDTH - 85, columns=1, legend_length=150, hour_step=6),
    )


def agent_scatter(data: DashboardData) -> Chart | None:
    rows = [r for r in data["agents"] if r["avg_resolution_hours"] is not None and r["avg_csat"] is not None]
    if not rows:
        return None
    # Both legends stack on the right within the plot's height: a short gradient, three sizes.
    most = max(r["tickets_assigned"] for r in rows)
    sizes = sorted({max(1, round(most / 4)), max(1, round(most / 2)), most})
    chart = (
        alt.Chart(_data(rows))
        .mark_circle(opacity=0.8, stroke="#333", strokeWidth=0.5)
        .encode(
            x=alt.X("avg_resolution_hours:Q", title="Average resolution hours", axis=alt.Axis(grid=True, tickCount=6)),
            y=alt.Y("avg_csat:Q", title="Average CSAT (1-5)", scale=alt.Scale(domain=[1, 5]), axis=alt.Axis(grid=True)),
            size=alt.Size("tickets_assigned:Q", title="Tickets", scale=alt.Scale(range=[60, 900]),
                          legend=alt.Legend(orient="right", values=sizes)),
            color=alt.Color("resolution_rate:Q", title="Resolution rate",
                            scale=alt.Scale(scheme="redyellowgreen", domain=[0, 1]),
                            legend=alt.Legend(format=".0%", orient="right", gradientLength=100,
                                              values=[0, 0.5, 1])),
            tooltip=[
                alt.Tooltip("agent_name:N", title="Agent"),
                alt.Tooltip("team:N", title="Team"),
                alt.Tooltip("tickets_assigned:Q", title="Tickets", format=","),
                alt.Tooltip("resolution_rate:Q", title="Resolution rate", format=".0%"),
                alt.Tooltip("avg_resolution_hours:Q", title="Resolution hours", format=".1f"),
                alt.Tooltip("avg_csat:Q", title="CSAT", format=".2f"),
            ],
        )
        .properties(width="container", height=280)
    )
    return Chart("Resolution time against CSAT (size = tickets assigned)", _finish(chart))


def identity_match_rates(data: DashboardData) -> Chart | None:
    rows = [r for r in data["identity_match"] if r["match_rate"] is not None]
    if not rows:
        return None
    chart = (
        alt.Chart(_data(rows))
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
        .properties(width="container", height=alt.Step(24))
    )
    return Chart("Records linked to a customer, by source", _finish(chart))


def step_durations(data: DashboardData) -> Chart | None:
    rows = [r for r in data["latest_step_runs"] if r["duration_seconds"] is not None]
    if not rows:
        return None
    order = [r["step"] for r in rows]  # already in pipeline order
    # Only the statuses present, each always in its own colour.
    statuses = sorted({r["status"] for r in rows})
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("duration_seconds:Q", title="Seconds", axis=alt.Axis(grid=True)),
            y=alt.Y("step:N", title=None, sort=order),
            color=alt.Color("status:N", title="Status", scale=alt.Scale(
                domain=statuses, range=[STATUS_COLORS.get(s, "#7c8b99") for s in statuses]),
                legend=alt.Legend(orient="top", direction="horizontal")),
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
        .properties(width="container", height=alt.Step(14))
    )
    return Chart("Duration of each step's latest run", _finish(chart))


def rejects_by_reason(data: DashboardData) -> Chart | None:
    rows = data["rejects"]
    if not rows:
        return None
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("sum(rejected_rows):Q", title="Rejected rows", axis=alt.Axis(format=",d", tickMinStep=1, grid=True)),
            y=alt.Y("source:N", title=None, sort="-x"),
            color=alt.Color("reason:N", title="Reason", scale=alt.Scale(scheme="tableau10"),
                            legend=alt.Legend(orient="bottom", columns=3)),
            tooltip=[
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("rejected_rows:Q", title="Rows", format=","),
                alt.Tooltip("latest_delivery:N", title="Latest delivery"),
            ],
        )
        .properties(width="container", height=alt.Step(26))
    )
    return Chart("Rejected rows by source and reason", _finish(chart))


# Chart id -> (builder, what to say when there is nothing to draw).
CHARTS: dict[str, tuple[Callable[[DashboardData], Chart | None], str]] = {
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


def build_charts(data: DashboardData) -> dict[str, Chart | None]:
    """Every chart, or None where its data is empty."""
    return {chart_id: builder(data) for chart_id, (builder, _) in CHARTS.items()}

"""Build the dashboard: one self-contained HTML page with every script, style and row inline."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from customer360.contract import QUALITY_CHECKS, table
from customer360.dashboard import assets
from customer360.dashboard.charts import CHARTS, SEGMENTS, build_charts
from customer360.dashboard.data import DashboardData, load
from customer360.dashboard.sources import Source

SEGMENT_RULES = {
    "High-Value": "Has orders, and lifetime revenue at or above the 90th percentile (linear interpolation) of "
                  "lifetime revenue over customers with orders.",
    "Loyalty Champions": "Gold or Platinum loyalty tier and two or more orders.",
    "One-Time Buyers": "Exactly one order.",
    "Repeat Buyers": "Two or more orders.",
    "Prospects": "No orders yet.",
}

PROFILE_GROUPS = (
    ("Identity", ("customer_key", "crm_customer_id", "loyalty_card_id", "email", "phone", "city", "state", "signup_date")),
    ("Loyalty and segment", ("segment", "loyalty_tier", "points_balance")),
    ("Orders", ("online_order_count", "online_revenue", "store_transaction_count", "store_revenue",
                "lifetime_revenue", "first_order_at", "last_order_at")),
    ("Support", ("support_ticket_count", "open_ticket_count", "avg_csat", "last_interaction_at")),
)

_LABELS = {
    "customer_key": "Customer key", "crm_customer_id": "CRM id", "loyalty_card_id": "Loyalty card",
    "signup_date": "Signed up", "points_balance": "Points", "online_order_count": "Online orders",
    "store_transaction_count": "Store transactions", "first_order_at": "First order (UTC)",
    "last_order_at": "Last order (UTC)", "support_ticket_count": "Support tickets", "open_ticket_count": "Open tickets",
    "avg_csat": "Average CSAT", "last_interaction_at": "Last interaction (UTC)",
}


def _label(column: str) -> str:
    return _LABELS.get(column, column.replace("_", " ").capitalize())


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "customer360"


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from the vl-convert package (no network).

    Bundling takes vl-convert about two seconds, so the script is kept in the user's cache
    folder, named by the vl-convert and Vega-Lite versions that made it.
    """
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    vl_version = vl_version_for_vl_convert()
    cached = _cache_dir() / f"vega-bundle-{vl_convert.__version__}-{vl_version}.js"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle(vl_version=vl_version)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(cached)  # atomic: a concurrent build never reads half a file
    except OSError:
        pass  # an unwritable cache only costs the next build the same two seconds
    return bundle


def _json_for_script(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/").replace("<!--", "<\\!--")


def _money(value: float | None) -> str:
    return "\u2013" if value is None else f"${value:,.2f}"


def _count(value: int | None) -> str:
    return "\u2013" if value is None else f"{value:,}"


_COMPACT_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
# Below these a headline figure is shown in full; from them on, in three significant digits.
COMPACT_MONEY_FROM = 10_000
COMPACT_COUNT_FROM = 100_000


def _compact(value: float) -> str:
    """Three significant digits and a unit: 2_341_234.5 -> 2.34M, 59_612 -> 59.6K, 999_999 -> 1.00M."""
    magnitude = abs(value)
    index = next((i for i, (size, _) in enumerate(_COMPACT_UNITS) if magnitude >= size), len(_COMPACT_UNITS) - 1)
    size, unit = _COMPACT_UNITS[index]
    scaled = magnitude / size
    digits = 2
    while digits > 0 and round(scaled, digits) >= 10 ** (3 - digits):
        digits -= 1
    if round(scaled, digits) >= 1000 and index > 0:  # 999.6K rounds up to the next unit: 1.00M
        size, unit = _COMPACT_UNITS[index - 1]
        scaled, digits = magnitude / size, 2
    return f"{'-' if value < 0 else ''}{scaled:.{digits}f}{unit}"


def _headline_money(value: float | None) -> str:
    if value is None or abs(value) < COMPACT_MONEY_FROM:
        return _money(value)
    return f"{'-' if value < 0 else ''}${_compact(abs(value))}"


def _headline_count(value: int | None) -> str:
    if value is None or abs(value) < COMPACT_COUNT_FROM:
        return _count(value)
    return _compact(value)


def _percent(value: float | None, digits: int = 1) -> str:
    return "\u2013" if value is None else f"{value:.{digits}%}"


def _number(value: float | None, digits: int = 1) -> str:
    return "\u2013" if value is None else f"{value:,.{digits}f}"


def _sort_key(value: Any) -> str:
    return "" if value is None else str(value)


_STATUS_BADGES = {"succeeded": "good", "pass": "good", "warn": "warn", "failed": "bad", "fail": "bad", "rolled_back": "bad"}

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENVIRONMENT.filters.update(
    money=_money, count=_count, percent=_percent, number=_number, sort_key=_sort_key,
    badge=lambda status: _STATUS_BADGES.get(status, "neutral"),
)

TEMPLATE = _ENVIRONMENT.from_string("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<title>Customer 360 dashboard</title>
<style>{{ stylesheet | safe }}</style>
</head>
<body>
<header class="page">
  <h1>Customer 360</h1>
  <p>From {{ source_label }} &middot; built {{ generated_at }} UTC{% if latest_run %} &middot; latest run for delivery day {{ latest_run.run_date }}{% endif %}</p>
</header>
<nav class="sections">
  <a href="#overview">Overview</a><a href="#sales">Order value</a><a href="#segments">Segments</a>
  <a href="#channels">Channels</a><a href="#agents">Agents</a><a href="#lookup">Customer lookup</a><a href="#health">Pipeline health</a>
</nav>
<main>
<section id="overview">
  <h2>Overview</h2>
  <div class="cards">
  {% for card in cards %}
    <div class="card" data-figure="{{ card.id }}"><div class="label">{{ card.label }}</div><div class="value" title="{{ card.exact }}" data-exact="{{ card.exact }}">{{ card.value }}</div><div class="note">{{ card.note }}</div></div>
  {% endfor %}
  </div>
</section>

{% macro chart(id) %}
  <div class="panel" data-panel="{{ id }}">
  {% if charts[id] %}<h3>{{ charts[id].title }}</h3>
  {% if charts[id].note %}<p class="chart-note" data-chart-note="{{ id }}">{{ charts[id].note }}</p>{% endif %}
  <div class="chart" id="chart-{{ id }}" data-chart="{{ id }}"></div>
  {% else %}<p class="empty" data-empty-chart="{{ id }}">{{ empty[id] }}</p>{% endif %}
  </div>
{% endmacro %}

<section id="sales">
  <h2>Average order value</h2>
  <p class="lead">Revenue per order: completed online orders and every store sale; revenue = quantity &times; unit price &minus; discount.</p>
  <div class="grid">{{ chart("aov-by-store") }}{{ chart("aov-by-category") }}</div>
  <div class="stack" style="margin-top:16px">{{ chart("aov-top-products") }}</div>
</section>

<section id="segments">
  <h2>Customer segments</h2>
  <p class="lead">Each customer is in the first segment whose rule holds, in this order.</p>
  <div class="grid">
    {{ chart("segment-mix") }}
    <div class="panel"><h3>Rules</h3>
      <table><thead><tr><th>Segment</th><th>Rule</th><th class="number">Customers</th><th class="number">Revenue share</th></tr></thead><tbody>
      {% for s in segments %}<tr data-segment="{{ s.segment }}"><td><strong>{{ s.segment }}</strong></td><td>{{ s.rule }}</td><td class="number">{{ s.customers | count }}</td><td class="number">{{ s.revenue_share | percent }}</td></tr>
      {% endfor %}</tbody></table>
      {% if high_value_threshold is not none %}<p class="lead" style="margin-top:8px">The lowest lifetime revenue in High-Value today is {{ high_value_threshold | money }}.</p>{% endif %}
    </div>
  </div>
</section>

<section id="channels">
  <h2>Channel activity</h2>
  <p class="lead">Orders, transactions and tickets by day of week and hour (UTC); colour is relative to each channel's busiest hour.</p>
  {{ chart("channel-heatmap") }}
</section>

<section id="agents">
  <h2>Agent performance</h2>
  <p class="lead">Every support agent; click a column header to sort.</p>
  <div class="stack">
    <div class="panel">
      <table class="sortable" id="agent-table"><thead><tr>
        <th>Agent</th><th>Team</th><th class="number">Tickets</th><th class="number">Resolved</th><th class="number">Open</th>
        <th class="number">Resolution rate</th><th class="number">Avg resolution hours</th><th class="number">Avg CSAT</th></tr></thead><tbody>
      {% for a in agents %}<tr data-agent-id="{{ a.agent_id }}"><td>{{ a.agent_name }} <span class="id">{{ a.agent_id }}</span></td><td>{{ a.team or "\u2013" }}</td>
        <td class="number" data-sort="{{ a.tickets_assigned | sort_key }}">{{ a.tickets_assigned | count }}</td>
        <td class="number" data-sort="{{ a.tickets_resolved | sort_key }}">{{ a.tickets_resolved | count }}</td>
        <td class="number" data-sort="{{ a.open_tickets | sort_key }}">{{ a.open_tickets | count }}</td>
        <td class="number" data-sort="{{ a.resolution_rate | sort_key }}">{{ a.resolution_rate | percent }}</td>
        <td class="number" data-sort="{{ a.avg_resolution_hours | sort_key }}">{{ a.avg_resolution_hours | number }}</td>
        <td class="number" data-sort="{{ a.avg_csat | sort_key }}">{{ a.avg_csat | number(2) }}</td></tr>
      {% endfor %}</tbody></table>
      {% if not agents %}<p class="empty">No agents in gold.agent_performance_summary yet.</p>{% endif %}
    </div>
    {{ chart("agent-scatter") }}
  </div>
</section>

<section id="lookup" class="lookup">
  <h2>Customer lookup</h2>
  <div class="panel">
    <label for="lookup-query"><strong>Find a customer</strong> by key, loyalty card, name, e-mail or phone</label><br>
    <input id="lookup-query" type="search" autocomplete="off" placeholder="e.g. C000123, Jane Doe or jane@example.com">
    <div class="hint" id="lookup-status" aria-live="polite"></div>
    <ul id="lookup-results"></ul>
    <div id="customer-profile"></div>
  </div>
</section>

<section id="health">
  <h2>Pipeline health</h2>
  {% if latest_run %}<p class="run-banner">Latest run <code>{{ latest_run.run_id }}</code> ({{ latest_run.engine }}) for delivery day <strong>{{ latest_run.run_date }}</strong>, started {{ latest_run.run_started_at }} UTC:
    {% if latest_run.unsuccessful_steps %}<span class="badge bad">{{ latest_run.unsuccessful_steps }} of {{ latest_run.steps }} steps did not succeed</span>
    {% else %}<span class="badge good">all {{ latest_run.steps }} steps succeeded{% if latest_run.skipped_steps %} ({{ latest_run.skipped_steps }} with nothing pending){% endif %}</span>{% endif %}</p>
  {% else %}<p class="empty">No pipeline runs recorded in ops.pipeline_runs yet.</p>{% endif %}
  <div class="grid">
    <div class="panel"><h3>Freshness per source</h3>
      <table id="freshness-table"><thead><tr><th>Source</th><th>Latest delivery in silver</th><th>State</th><th class="number">Silver rows</th></tr></thead><tbody>
      {% for f in freshness %}<tr data-source="{{ f.source }}"><td>{{ f.source }}</td><td class="nowrap">{{ f.latest_delivery or "never" }}</td><td><span class="badge {{ f.badge }}">{{ f.state }}</span></td><td class="number">{{ f.silver_rows | count }}</td></tr>
      {% endfor %}</tbody></table>
    </div>
    {{ chart("rejects-by-reason") }}
  </div>
  <div class="stack" style="margin-top:16px">
    <div class="panel"><h3>Data-quality checks (latest result of each)</h3>
      <table id="quality-table"><thead><tr><th>Check</th><th>Table</th><th>Thresholds</th><th class="number">Violating rows</th><th>Status</th><th>Run date</th><th>Checked (UTC)</th></tr></thead><tbody>
      {% for q in quality_checks %}<tr data-check="{{ q.check_name }}"><td>{{ q.check_name }}</td><td>{{ q.target_table }}</td><td class="nowrap" title="{{ q.severity }}">{{ check_thresholds.get(q.check_name, q.severity) }}</td><td class="number">{{ q.violating_rows | count }}</td><td><span class="badge {{ q.status | badge }}">{{ q.status }}</span></td><td class="nowrap">{{ q.run_date }}</td><td class="nowrap">{{ q.checked_at }}</td></tr>
      {% endfor %}</tbody></table>
      {% if not quality_checks %}<p class="empty">No data-quality results yet.</p>{% endif %}
    </div>
  </div>
  <div class="grid" style="margin-top:16px">
    {{ chart("identity-match") }}
    {{ chart("step-durations") }}
  </div>
  <div class="stack" style="margin-top:16px">
    <div class="panel"><h3>Last run of each step</h3>
      <table class="sortable" id="step-table"><thead><tr><th>Step</th><th>Kind</th><th>Run date</th><th>Finished (UTC)</th><th>Status</th><th class="number">Seconds</th><th class="number">Rows in</th><th class="number">Rows out</th><th class="number">Rejected</th></tr></thead><tbody>
      {% for s in step_runs %}<tr data-step="{{ s.step }}"><td>{{ s.step }}{% if s.message %}<br><span class="id">{{ s.message }}</span>{% endif %}</td><td title="{{ s.target_table or '' }}">{{ s.step_kind }}</td><td class="nowrap">{{ s.run_date }}</td><td class="nowrap">{{ s.finished_at or "\u2013" }}</td><td><span class="badge {{ s.status | badge }}">{{ s.status }}</span></td>
        <td class="number" data-sort="{{ s.duration_seconds | sort_key }}">{{ s.duration_seconds | number(2) }}</td>
        <td class="number" data-sort="{{ s.rows_in | sort_key }}">{{ s.rows_in | count }}</td>
        <td class="number" data-sort="{{ s.rows_out | sort_key }}">{{ s.rows_out | count }}</td>
        <td class="number" data-sort="{{ s.rows_rejected | sort_key }}">{{ s.rows_rejected | count }}</td></tr>
      {% endfor %}</tbody></table>
      {% if not step_runs %}<p class="empty">No steps recorded in ops.pipeline_runs yet.</p>{% endif %}
    </div>
    {% if recent_runs %}<div class="panel"><h3>Recent runs</h3>
    <table id="runs-table"><thead><tr><th>Run</th><th>Delivery day</th><th>Engine</th><th>Started (UTC)</th><th class="number">Steps</th><th class="number">Step seconds</th><th>Status</th></tr></thead><tbody>
    {% for r in recent_runs %}<tr><td><code>{{ r.run_id }}</code></td><td>{{ r.run_date }}</td><td>{{ r.engine }}</td><td>{{ r.run_started_at }}</td><td class="number">{{ r.steps | count }}</td><td class="number">{{ r.step_seconds | number(2) }}</td>
      <td>{% if r.unsuccessful_steps %}<span class="badge bad">{{ r.unsuccessful_steps }} not succeeded</span>{% else %}<span class="badge good">succeeded</span>{% endif %}</td></tr>
    {% endfor %}</tbody></table></div>{% endif %}
  </div>
</section>
<footer>Customer 360 dashboard &middot; charts by Vega-Lite &middot; every figure comes from the gold, silver and ops tables of {{ source_label }}.</footer>
</main>
<script type="application/json" id="chart-specs">{{ chart_specs | safe }}</script>
<script type="application/json" id="chart-narrow-specs">{{ chart_narrow_specs | safe }}</script>
<script type="application/json" id="customer-data">{{ customer_data | safe }}</script>
<script>{{ vega_bundle | safe }}</script>
<script>{{ script | safe }}</script>
</body>
</html>
""")


def _cards(data: DashboardData) -> list[dict[str, str]]:
    """Headline cards: `value` fits the card (compact from ten thousand dollars or 100,000 items), `exact` in full."""
    h = data.headline
    buyers = sum(1 for c in data["customers"] if (c["online_order_count"] or 0) + (c["store_transaction_count"] or 0))
    cards = [
        ("customers", "Customers", h.customers, _headline_count, _count, f"{buyers:,} with orders"),
        ("revenue", "Revenue", h.revenue, _headline_money, _money, "completed online + in-store"),
        ("orders", "Orders", h.orders, _headline_count, _count, "online orders and store transactions"),
        ("average_order_value", "Average order value", h.average_order_value, _headline_money, _money,
         "revenue / orders"),
        ("identity_match_rate", "Identity match rate", h.identity_match_rate, _percent,
         lambda rate: _percent(rate, 2), "loyalty cards, order and sale lines, tickets linked to a customer"),
        ("rejected_rows", "Rejected rows", h.rejected_rows, _headline_count, _count,
         "raw rows that failed a hard rule, all deliveries"),
    ]
    return [
        {"id": card_id, "label": label, "value": shown(value), "exact": exact(value), "note": note}
        for card_id, label, value, shown, exact, note in cards
    ]


def _segments(data: DashboardData) -> list[dict[str, Any]]:
    by_name = {r["segment"]: r for r in data["segments"]}
    total = sum(r["revenue"] or 0 for r in by_name.values())
    names = list(SEGMENTS) + sorted(set(by_name) - set(SEGMENTS))
    return [
        {
            "segment": name,
            "rule": SEGMENT_RULES.get(name, ""),
            "customers": by_name.get(name, {}).get("customers", 0),
            "revenue_share": (by_name.get(name, {}).get("revenue") or 0) / total if total else None,
        }
        for name in names
    ]


def _freshness(data: DashboardData) -> list[dict[str, Any]]:
    latest_run = data.latest_run
    run_date = dt.date.fromisoformat(latest_run["run_date"]) if latest_run else None
    rows = []
    for f in data["freshness"]:
        if f.get("delivery_status") == "warn":
            state, badge = f["delivery_detail"].split(";")[0], "warn"
        elif f["latest_delivery"] is None:
            state, badge = "no data", "bad"
        elif run_date is None:
            state, badge = "delivered", "neutral"
        else:
            behind = (run_date - dt.date.fromisoformat(f["latest_delivery"])).days
            if behind <= 0:
                state, badge = "current", "good"
            elif f.get("expected") == "on_change":
                state, badge = f"{behind} day{'s' if behind > 1 else ''} behind (expected on change)", "neutral"
            else:
                state, badge = f"{behind} day{'s' if behind > 1 else ''} behind", "warn"
        rows.append({**f, "state": state, "badge": badge})
    return rows


def _customer_data(data: DashboardData) -> dict[str, Any]:
    columns = list(table("gold.customer_360").column_names)
    return {
        "columns": columns,
        "labels": {c: _label(c) for c in columns},
        "groups": [{"title": title, "columns": list(group)} for title, group in PROFILE_GROUPS],
        "rows": [[c[name] for name in columns] for c in data["customers"]],
    }


def render(data: DashboardData, generated_at: dt.datetime | None = None) -> str:
    """The page for already fetched data."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    charts = build_charts(data)
    high_value = next((r for r in data["segments"] if r["segment"] == "High-Value"), None)
    return TEMPLATE.render(
        stylesheet=assets.STYLESHEET,
        script=assets.SCRIPT,
        vega_bundle=vega_bundle(),
        source_label=data.source_label,
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M"),
        latest_run=data.latest_run,
        cards=_cards(data),
        charts=charts,
        empty={chart_id: message for chart_id, (_, message) in CHARTS.items()},
        segments=_segments(data),
        high_value_threshold=high_value["lowest_high_value_revenue"] if high_value else None,
        agents=data["agents"],
        freshness=_freshness(data),
        quality_checks=data["quality_checks"],
        check_thresholds={check.name: check.thresholds for check in QUALITY_CHECKS},
        step_runs=data["latest_step_runs"],
        recent_runs=data["recent_runs"],
        chart_specs=_json_for_script({k: c.spec for k, c in charts.items() if c is not None}),
        chart_narrow_specs=_json_for_script(
            {k: c.narrow_spec for k, c in charts.items() if c is not None and c.narrow_spec is not None}
        ),
        customer_data=_json_for_script(_customer_data(data)),
    )


def build_dashboard(source: Source) -> str:
    """The dashboard page for everything `source` holds."""
    return render(load(source))


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size_bytes: int
    seconds: float


def write_dashboard(source: Source, out: Path | str) -> BuildResult:
    """Build the page from `source` and write it to `out`, creating its folder."""
    started = time.perf_counter()
    html = build_dashboard(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return BuildResult(out, out.stat().st_size, time.perf_counter() - started)

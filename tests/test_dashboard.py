"""The dashboard page, its two sources (local warehouse and BigQuery at the client boundary) and the gold export."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
import sqlglot
from google.api_core import exceptions as api_exceptions
from google.cloud.bigquery import Row
from sqlglot import exp
from typer.testing import CliRunner

from customer360.cli import app
from customer360 import contract
from customer360.contract import GOLD_TABLES, table
from customer360.dashboard import BigQuerySource, DuckDBSource, SourceError, build_dashboard, looker_studio_link
from customer360.dashboard.charts import CHARTS
from customer360.dashboard.queries import QUERIES, tables_read
from customer360.export import export_gold
from dashboard_warehouse import KNOWN_CUSTOMER, create_tables, huge_warehouse, make_warehouse
from pipeline_harness import DAY1, DAY2, customer, member, order_line, sale_line, ticket


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("dashboard") / "sample.duckdb")


@pytest.fixture(scope="module")
def html(warehouse) -> str:
    with DuckDBSource(warehouse) as source:
        return build_dashboard(source)


class _PageParser(HTMLParser):
    """Collects every tag's attributes and the text of <script id=...> blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._script_id = attributes.get("id") or f"inline-{len(self.scripts)}"
            self.scripts[self._script_id] = ""

    def handle_data(self, data):
        if self._script_id is not None:
            self.scripts[self._script_id] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_id = None


def parse(page: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(page)
    return parser


def chart_specs(page: str) -> dict[str, dict]:
    return json.loads(parse(page).scripts["chart-specs"])


def customer_data(page: str) -> dict:
    return json.loads(parse(page).scripts["customer-data"])


_CARD = re.compile(r'data-figure="([a-z_]+)"><div class="label">[^<]*</div><div class="value" title="([^"]*)"[^>]*>([^<]*)</div>')


def figures(page: str) -> dict[str, str]:
    """Headline figure id -> the value shown."""
    return {figure: shown for figure, _, shown in _CARD.findall(page)}


def exact_figures(page: str) -> dict[str, str]:
    """Headline figure id -> the exact value its card shows on hover."""
    return {figure: exact for figure, exact, _ in _CARD.findall(page)}


def spec_rows(spec: dict) -> list[dict]:
    """The inline rows a Vega-Lite spec draws (top-level data, datasets or the first view's data)."""
    if spec.get("datasets"):
        return [row for rows in spec["datasets"].values() for row in rows]
    if "data" in spec:
        return spec["data"].get("values", [])
    for key in ("hconcat", "vconcat", "concat", "layer"):
        for view in spec.get(key, []):
            rows = spec_rows(view)
            if rows:
                return rows
    return []


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def test_page_is_self_contained_and_fetches_nothing(html):
    parser = parse(html)
    external = [
        f"<{tag} {name}={value}>"
        for tag, attributes in parser.tags
        for name, value in attributes.items()
        if name in ("src", "href", "action", "data", "poster") and value and re.match(r"^(https?:)?//", value)
    ]
    assert not external, f"page references the network: {external}"
    assert not [a for t, a in parser.tags if t == "script" and "src" in a], "every script must be inline"
    assert not [a for t, a in parser.tags if t == "link"], "every stylesheet must be inline"
    policy = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src" not in policy, policy
    # The charting library itself is in the page.
    assert "window.vegaEmbed=" in html and len(html) > 500_000


def test_every_chart_has_data_and_a_container(html):
    specs = chart_specs(html)
    assert set(specs) == set(CHARTS), f"charts missing from the sample page: {sorted(set(CHARTS) - set(specs))}"
    for chart_id, spec in specs.items():
        assert spec_rows(spec), f"chart {chart_id} has no data rows"
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/"), f"chart {chart_id} is not Vega-Lite"
        assert f'id="chart-{chart_id}"' in html, f"chart {chart_id} has no container on the page"


def test_chart_rows_come_from_the_gold_tables(html):
    specs = chart_specs(html)
    stores = {r["dimension_name"]: r["average_order_value"] for r in spec_rows(specs["aov-by-store"])}
    assert stores == pytest.approx({"Online": 3390.99 / 24, "Downtown": 1210.25 / 12, "Unknown stores": 262.0 / 2})
    heatmap = spec_rows(specs["channel-heatmap"])
    peaks = {r["channel"]: (r["day_of_week"], r["hour_of_day"]) for r in heatmap if r["is_peak"]}
    assert peaks == {"web": ("Tuesday", 9), "mobile_app": ("Tuesday", 11), "in_store": ("Tuesday", 13),
                     "support_phone": ("Tuesday", 15), "support_email": ("Tuesday", 17), "support_chat": ("Tuesday", 19)}
    top = [r["dimension_id"] for r in spec_rows(specs["aov-top-products"])]
    assert top[0] == "P01" and len(top) == 8, top


def test_bars_with_the_same_name_are_told_apart_by_id():
    from customer360.dashboard.charts import _labelled

    rows = [{"dimension_id": i, "dimension_name": n} for i, n in
            (("S1", "Downtown"), ("S404", "Unknown"), ("S405", "Unknown"), ("Unknown", "Unknown"))]
    assert [r["label"] for r in _labelled(rows)] == ["Downtown", "Unknown (S404)", "Unknown (S405)", "Unknown"]


def test_headline_figures(html):
    assert figures(html) == {
        "customers": "12",
        "revenue": "$5,424.24",
        "orders": "44",
        "average_order_value": "$123.28",
        # 26 of 32 loyalty cards, order lines, sale lines and tickets resolve.
        "identity_match_rate": "81.2%",
        "rejected_rows": "7",
    }


def test_unknown_stores_are_one_bar_and_stores_with_few_orders_are_left_out_as_the_chart_says(html):
    from customer360.dashboard.charts import MIN_STORE_ORDERS

    bars = spec_rows(chart_specs(html)["aov-by-store"])
    assert [b["label"] for b in bars] == ["Online", "Downtown", "Unknown stores"], (
        "stores by average order value, then the unknown stores summed into one bar, last")
    unknown = bars[-1]
    assert (unknown["order_count"], unknown["revenue"], unknown["unknown"]) == (2, 262.0, True)
    assert not [b for b in bars if b["order_count"] < MIN_STORE_ORDERS and not b["unknown"]]
    note = re.search(r'data-chart-note="aov-by-store">([^<]*)<', html).group(1)
    assert f"at least {MIN_STORE_ORDERS} orders" in note, note
    assert "Unknown stores: 2 store ids not in silver.stores, 2 orders" in note, note
    assert "Not shown, 2 stores with fewer orders: Harbor Mall (4), Airport (2)." in note, note


def test_when_no_store_has_enough_orders_every_store_is_shown_and_the_chart_says_so():
    from customer360.dashboard.charts import MIN_STORE_ORDERS, _store_note, store_bars

    rows = [{"dimension": "store", "dimension_id": i, "dimension_name": n, "order_count": o, "units": o,
             "revenue": r, "average_order_value": r / o} for i, n, o, r in
            (("ONLINE", "Online", 3, 90.0), ("S1", "Downtown", 2, 100.0), ("S9", "Unknown", 1, 5.0))]
    bars, left_out = store_bars(rows)
    assert [b["label"] for b in bars] == ["Downtown", "Online", "Unknown stores"] and left_out == []
    assert _store_note(bars, left_out).startswith(f"No store has {MIN_STORE_ORDERS} orders yet, so every store is shown")


def test_heatmap_states_how_many_days_of_activity_it_adds_up(html, tmp_path):
    note = re.search(r'data-chart-note="channel-heatmap">([^<]*)<', html).group(1)
    assert note.startswith("Covers 7 days of activity (2024-05-27 to 2024-06-02)"), note
    path = make_warehouse(tmp_path / "short.duckdb")
    connection = duckdb.connect(str(path))
    for fact, column in (("online_order_lines", "order_ts"), ("store_sale_lines", "transaction_ts"),
                         ("support_tickets", "created_at")):
        # Every event on a Tuesday or the Wednesday after it.
        connection.execute(f"update silver.{fact} set {column} = timestamptz '2024-05-28 10:00:00+00' "
                           f"+ (hour({column}) % 2) * interval 1 day")
    connection.close()
    with DuckDBSource(path) as source:
        page = build_dashboard(source)
    note = re.search(r'data-chart-note="channel-heatmap">([^<]*)<', page).group(1)
    assert note.startswith("Only 2 days of activity (2024-05-28 to 2024-05-29): 2 of the 7 weekdays have data"), note


@pytest.mark.parametrize("value, shown", [
    (0.0, "$0.00"), (9_999.99, "$9,999.99"), (10_000.0, "$10.0K"), (595_766.03, "$596K"), (999_999.0, "$1.00M"),
    (2_341_234.5, "$2.34M"), (98_765_432_109.87, "$98.8B"), (-2_341_234.0, "-$2.34M"),
])
def test_headline_money_is_compact_from_ten_thousand_dollars(value, shown):
    from customer360.dashboard.page import _headline_money

    assert _headline_money(value) == shown


@pytest.mark.parametrize("value, shown", [
    (12, "12"), (99_999, "99,999"), (100_000, "100K"), (1_234_567, "1.23M"), (999_999_999, "1.00B"),
])
def test_headline_counts_are_compact_from_a_hundred_thousand(value, shown):
    from customer360.dashboard.page import _headline_count

    assert _headline_count(value) == shown


def test_cards_show_compact_figures_and_the_exact_value_on_hover(tmp_path):
    page = build_dashboard_with_huge_figures(tmp_path)
    assert figures(page)["revenue"] == "$98.8B" and exact_figures(page)["revenue"] == "$98,765,434,143.12"
    assert figures(page)["orders"] == "123M" and exact_figures(page)["orders"] == "123,456,809"
    assert figures(page)["rejected_rows"] == "123K" and exact_figures(page)["rejected_rows"] == "123,456"


def build_dashboard_with_huge_figures(folder: Path) -> str:
    with DuckDBSource(huge_warehouse(folder / "huge.duckdb")) as source:
        return build_dashboard(source)


def test_quality_table_shows_the_thresholds_the_contract_declares(html):
    for check in contract.QUALITY_CHECKS:
        shown = re.escape(check.thresholds.replace(">", "&gt;").replace("<", "&lt;"))
        row = re.search(rf'<tr data-check="{check.name}">(.*?)</tr>', html)
        assert row, f"check {check.name} has no row in the quality table"
        assert re.search(shown, row.group(1)), f"check {check.name}: its thresholds {check.thresholds!r} are not shown"


def test_sections_show_rules_agents_checks_freshness_and_runs(html):
    for rule in ("90th percentile", "Gold or Platinum loyalty tier and two or more orders", "Exactly one order."):
        assert rule in html, f"segment rule text missing: {rule!r}"
    for agent_id in ("A01", "A02", "A03", "A04", "A05", "A99"):
        assert f'data-agent-id="{agent_id}"' in html, f"agent {agent_id} missing from the agent table"
    assert re.search(r'data-source="stores">.*?1 day behind', html), "stale source not flagged"
    assert re.search(r'data-check="facts_reference_known_dimensions">.*?badge warn', html), "warn check not flagged"
    # The whole-run rows of ops.pipeline_runs are not steps.
    assert 'data-step="run"' not in html
    assert 'data-step="customer_360"' in html
    # The raw load and every step of the pipeline, as ops.pipeline_runs records them.
    assert f"all {len(contract.PIPELINE) + 1} steps succeeded" in html


def test_customer_lookup_embeds_every_customer_360_row(html, warehouse):
    lookup = customer_data(html)
    assert lookup["columns"] == list(table("gold.customer_360").column_names)
    keys = [row[0] for row in lookup["rows"]]
    connection = duckdb.connect(str(warehouse), read_only=True)
    expected = [k for (k,) in connection.execute("select customer_key from gold.customer_360 order by 1").fetchall()]
    connection.close()
    assert keys == expected
    grace = dict(zip(lookup["columns"], lookup["rows"][keys.index(KNOWN_CUSTOMER["customer_key"])]))
    assert grace["email"] == KNOWN_CUSTOMER["email"] and grace["lifetime_revenue"] == 89.99


def test_text_from_the_data_cannot_close_a_script_or_inject_markup(tmp_path):
    path = make_warehouse(tmp_path / "hostile.duckdb")
    connection = duckdb.connect(str(path))
    connection.execute("update gold.customer_360 set first_name = '</script><script>alert(1)</script>' where customer_key = 'C001'")
    connection.execute("update gold.agent_performance_summary set agent_name = '<b>Maya</b>' where agent_id = 'A01'")
    connection.close()
    with DuckDBSource(path) as source:
        page = build_dashboard(source)
    assert "</script><script>alert(1)" not in page
    assert "&lt;b&gt;Maya&lt;/b&gt;" in page
    assert customer_data(page)["rows"][0][3] == "</script><script>alert(1)</script>"


def test_an_empty_table_shows_a_message_instead_of_an_empty_chart(tmp_path):
    path = make_warehouse(tmp_path / "clean.duckdb")
    connection = duckdb.connect(str(path))
    connection.execute("delete from ops.rejected_rows")
    connection.close()
    with DuckDBSource(path) as source:
        page = build_dashboard(source)
    assert "rejects-by-reason" not in chart_specs(page)
    assert 'data-empty-chart="rejects-by-reason"' in page and "No rejected rows" in page
    assert figures(page)["rejected_rows"] == "0"


def test_docs_screenshot_was_taken_with_the_current_dashboard_code():
    """docs/dashboard.png records the digest of the code that drew it; file times prove nothing in a fresh clone."""
    import hashlib

    from customer360.dashboard.screenshot import (
        DOCS_SCREENSHOT,
        DOCS_SCREENSHOT_COMMAND,
        dashboard_code_digest,
        record_path,
    )

    record = json.loads(record_path(DOCS_SCREENSHOT).read_text(encoding="utf-8"))
    assert record["image_sha256"] == hashlib.sha256(DOCS_SCREENSHOT.read_bytes()).hexdigest(), (
        f"docs/dashboard.png is not the image {record_path(DOCS_SCREENSHOT).name} describes: run `{DOCS_SCREENSHOT_COMMAND}`")
    assert record["dashboard_code_sha256"] == dashboard_code_digest(), (
        f"docs/dashboard.png is older than the code in customer360/dashboard/: run `{DOCS_SCREENSHOT_COMMAND}`")


def test_the_dashboard_code_digest_changes_with_any_dashboard_source_file(tmp_path, monkeypatch):
    from customer360.dashboard import screenshot

    copy = tmp_path / "dashboard"
    copy.mkdir()
    for path in screenshot.DASHBOARD_CODE.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(screenshot, "DASHBOARD_CODE", copy)
    before = screenshot.dashboard_code_digest()
    assert before == screenshot.dashboard_code_digest()
    charts = copy / "charts.py"
    charts.write_text(charts.read_text(encoding="utf-8").replace("MIN_STORE_ORDERS = 10", "MIN_STORE_ORDERS = 11"),
                      encoding="utf-8")
    assert screenshot.dashboard_code_digest() != before, "a change to charts.py must make docs/dashboard.png stale"


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


def test_missing_warehouse_is_a_one_line_error(tmp_path):
    with pytest.raises(SourceError, match=r"^warehouse .*nope\.duckdb does not exist"):
        DuckDBSource(tmp_path / "nope.duckdb")


def test_warehouse_without_the_gold_tables_names_what_is_missing(tmp_path):
    path = tmp_path / "half.duckdb"
    connection = duckdb.connect(str(path))
    create_tables(connection, tuple(table(ref) for ref in tables_read() if ref != "gold.customer_360"))
    connection.close()
    with pytest.raises(SourceError, match=r"has no table gold\.customer_360: run the pipeline"):
        DuckDBSource(path)


class FakeQueryJob:
    def __init__(self, rows: list[Row]):
        self._rows = rows

    def result(self) -> list[Row]:
        return self._rows


class FakeBigQueryClient:
    """Answers exactly the dashboard's queries, as rendered for one project and prefix, with canned rows."""

    def __init__(self, answers: dict[str, list[Row]]):
        self.answers = answers
        self.received: list[tuple[str, dict[str, str]]] = []

    def query(self, sql: str, job_config=None) -> FakeQueryJob:
        self.received.append((sql, dict(job_config.labels)))
        assert sql in self.answers, f"unexpected BigQuery query:\n{sql}"
        return FakeQueryJob(self.answers[sql])


def bigquery_rows(connection: duckdb.DuckDBPyConnection, sql: str) -> list[Row]:
    """Rows as the BigQuery client returns them (Decimal, UTC datetimes), here read from DuckDB."""
    cursor = connection.execute(sql)
    names = [d[0] for d in cursor.description]
    return [Row(values, {name: i for i, name in enumerate(names)}) for values in cursor.fetchall()]


PROJECT, PREFIX = "acme-analytics", "c360_prod"


@pytest.fixture(scope="module")
def fake_client(warehouse) -> FakeBigQueryClient:
    connection = duckdb.connect(str(warehouse), read_only=True)
    connection.execute("set TimeZone = 'UTC'")
    answers = {q.for_bigquery(PROJECT, PREFIX): bigquery_rows(connection, q.for_duckdb()) for q in QUERIES.values()}
    connection.close()
    return FakeBigQueryClient(answers)


def test_bigquery_source_runs_the_same_queries_on_the_prefixed_datasets(fake_client, html):
    page = build_dashboard(BigQuerySource(PROJECT, PREFIX, client=fake_client))
    assert sorted(labels["query"] for _, labels in fake_client.received) == sorted(QUERIES)
    for sql, labels in fake_client.received:
        assert labels["component"] == "dashboard"
        for t in sqlglot.parse_one(sql, read="bigquery").find_all(exp.Table):
            if t.db:  # CTE references carry no dataset
                assert (t.catalog, t.db) in {(PROJECT, f"{PREFIX}_{d}") for d in ("gold", "ops", "silver")}, (
                    f"query {labels['query']} reads {t.sql('bigquery')}"
                )
    # Same rows in, same page out: only the source label differs.
    assert chart_specs(page) == chart_specs(html)
    assert customer_data(page) == customer_data(html)
    assert figures(page) == figures(html)
    assert f"BigQuery {PROJECT}" in page


def test_bigquery_errors_become_one_line():
    class FailingClient:
        def query(self, sql, job_config=None):
            raise api_exceptions.NotFound(f"Not found: Dataset {PROJECT}:{PREFIX}_gold was not found in location US")

    with pytest.raises(SourceError, match=rf"^BigQuery query customers failed: .*Not found: Dataset {PROJECT}:{PREFIX}_gold"):
        build_dashboard(BigQuerySource(PROJECT, PREFIX, client=FailingClient()))


@pytest.mark.parametrize("project, prefix, message", [
    ("Acme Analytics", "c360", "is not a Google Cloud project id"),
    ("acme-analytics", "c360.prod", "may hold only letters, digits, dashes and underscores"),
])
def test_bad_project_or_prefix_is_refused_before_any_query(project, prefix, message):
    with pytest.raises(SourceError, match=message):
        BigQuerySource(project, prefix, client=FakeBigQueryClient({}))


def test_a_stack_prefix_names_datasets_as_the_pulumi_program_does(fake_client):
    # Pulumi.<stack>.yaml prefixes have dashes; the datasets have underscores.
    source = BigQuerySource(PROJECT, PREFIX.replace("_", "-"), client=fake_client)
    assert source.prefix == PREFIX
    assert source.fetch("agents")


def test_every_query_is_bigquery_sql_over_the_contract_tables():
    known = {t.ref for t in GOLD_TABLES} | set(tables_read())
    for query in QUERIES.values():
        sqlglot.parse_one(query.sql, read="bigquery")
        assert query.tables, f"query {query.name} reads no table"
        for ref in query.tables:
            table(ref)  # raises for a table the contract does not declare
            assert ref in known


# ---------------------------------------------------------------------------
# Command line and export
# ---------------------------------------------------------------------------

runner = CliRunner()


def test_cli_writes_the_dashboard(warehouse, tmp_path):
    out = tmp_path / "site" / "dashboard.html"
    result = runner.invoke(app, ["dashboard", "--warehouse", str(warehouse), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 500_000 and f"Dashboard: {out}" in result.output


@pytest.mark.parametrize("arguments, message", [
    (["dashboard", "--warehouse", "missing.duckdb"], "warehouse missing.duckdb does not exist"),
    (["dashboard"], "give either --warehouse FILE or both --project and --prefix"),
    (["dashboard", "--project", PROJECT], "BigQuery needs both --project and --prefix"),
    (["export", "--warehouse", "missing.duckdb", "--out", "gold"], "warehouse missing.duckdb does not exist"),
])
def test_cli_user_mistakes_are_one_line_errors(arguments, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output


def test_cli_export_format_is_a_choice_of_csv_or_parquet(warehouse, tmp_path):
    result = runner.invoke(app, ["export", "--warehouse", str(warehouse), "--out", str(tmp_path), "--format", "xlsx"])
    said = " ".join(result.output.replace("\u2502", " ").split())
    assert result.exit_code == 2 and "Invalid value for '--format'" in said, result.output
    assert "'xlsx' is not one of 'csv', 'parquet'" in said, result.output
    assert not any(tmp_path.iterdir()), "nothing may be written after a bad --format"


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_export_writes_every_gold_table_with_its_contract_columns(warehouse, tmp_path, file_format):
    exported = export_gold(warehouse, tmp_path / "bi", file_format)
    assert [e.ref for e in exported] == [t.ref for t in GOLD_TABLES]
    connection = duckdb.connect()
    source = duckdb.connect(str(warehouse), read_only=True)
    for gold, written in zip(GOLD_TABLES, exported):
        assert written.path == tmp_path / "bi" / f"{gold.name}.{file_format}"
        reader = "read_csv" if file_format == "csv" else "read_parquet"
        cursor = connection.execute(f"select * from {reader}('{written.path}')")
        columns = tuple(d[0] for d in cursor.description)
        assert columns == gold.column_names, f"{written.path.name} has columns {columns}"
        expected = source.execute(f"select count(*) from {gold.ref}").fetchone()[0]
        assert len(cursor.fetchall()) == expected == written.rows, f"{written.path.name} lost rows"
    source.close()


def test_csv_export_writes_money_as_plain_decimals_and_times_in_iso_8601_utc(warehouse, tmp_path):
    import csv as csv_module
    import decimal

    exported = {e.ref: e.path for e in export_gold(warehouse, tmp_path, "csv")}
    source = duckdb.connect(str(warehouse), read_only=True)
    source.execute("set TimeZone = 'UTC'")
    money = re.compile(r"^-?[0-9]+\.(?:[0-9]{2}|[0-9]{2}[0-9]*[1-9])$")  # at least the cents, no padding zeros
    utc = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*[1-9])?Z$")
    for gold in GOLD_TABLES:
        with exported[gold.ref].open(encoding="utf-8", newline="") as file:
            rows = list(csv_module.DictReader(file))
        expected = source.execute(f"select {', '.join(gold.column_names)} from {gold.ref} order by all").fetchall()
        for row, warehouse_row in zip(rows, expected, strict=True):
            for column, stored in zip(gold.columns, warehouse_row):
                written = row[column.name]
                where = f"{exported[gold.ref].name} column {column.name}: {written!r}"
                if stored is None:
                    assert written == "", where
                elif column.type == "NUMERIC":
                    assert money.match(written) and decimal.Decimal(written) == stored, where
                elif column.type == "TIMESTAMP":
                    assert utc.match(written), where
                    assert dt.datetime.fromisoformat(written) == stored, where
    source.close()
    with exported["gold.customer_360"].open(encoding="utf-8") as file:
        grace = next(line for line in file if line.startswith(KNOWN_CUSTOMER["customer_key"] + ","))
    assert ",89.99,0,0.00,89.99,2024-01-07T10:00:00Z,2024-05-22T15:00:00Z," in grace, grace


def test_parquet_export_keeps_the_warehouse_types_and_values(warehouse, tmp_path):
    exported = {e.ref: e.path for e in export_gold(warehouse, tmp_path, "parquet")}
    connection = duckdb.connect(str(warehouse), read_only=True)
    for gold in GOLD_TABLES:
        parquet = f"read_parquet('{exported[gold.ref]}')"
        written = connection.execute(f"describe select * from {parquet}").fetchall()
        stored = connection.execute(f"describe select {', '.join(gold.column_names)} from {gold.ref}").fetchall()
        assert [(c[0], c[1]) for c in written] == [(c[0], c[1]) for c in stored], f"{exported[gold.ref].name} types"
        assert connection.execute(f"select * from {parquet}").fetchall() == connection.execute(
            f"select {', '.join(gold.column_names)} from {gold.ref} order by all").fetchall(), exported[gold.ref].name
    connection.close()


def test_looker_studio_link_opens_a_report_on_the_table():
    url = urlsplit(looker_studio_link(PROJECT, f"{PREFIX}_gold", "customer_360"))
    assert (url.scheme, url.netloc, url.path) == ("https", "lookerstudio.google.com", "/reporting/create")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["ds.ds0.connector"] == "bigQuery" and query["ds.ds0.type"] == "TABLE"
    assert (query["ds.ds0.projectId"], query["ds.ds0.datasetId"], query["ds.ds0.tableId"]) == (
        PROJECT, f"{PREFIX}_gold", "customer_360")
    with pytest.raises(ValueError, match="needs a table"):
        looker_studio_link(PROJECT, f"{PREFIX}_gold", "")


# ---------------------------------------------------------------------------
# A real pipeline run
# ---------------------------------------------------------------------------


def test_dashboard_from_a_real_pipeline_run(pipeline):
    """Two deliveries through the local engine; every chart then has data and the figures match gold."""
    pipeline.run({
        "customers": [customer("C1", email="ann@example.com"), customer("C2", first_name="Bo", last_name="Ek")],
        "products": [{"product_id": "P1", "product_name": "Mug", "category": "Kitchen", "unit_price": "10"}],
        "stores": [{"store_id": "S1", "store_name": "Downtown"}],
        "loyalty_members": [member("L1", customer_id="C2", tier="gold"), member("L2", email="zed@example.com")],
        "online_orders": [order_line("O1"), order_line("O2", order_ts="2026-01-05 18:30:00", channel="mobile_app"),
                          order_line("O3", quantity="-1")],
        "store_sales": [sale_line("T1", loyalty_card_id="L1"), sale_line("T2", loyalty_card_id="L1"), sale_line("T3")],
        "support_agents": [{"agent_id": "A1", "agent_name": "Kim Park", "team": "Tier 1"}],
        "support_tickets": [ticket("K1", customer_id="C1", status="resolved", resolved_at="2026-01-05 12:00:00",
                                   csat_score="4"), ticket("K2", customer_email="zed@example.com", channel="chat")],
    }, DAY1)
    pipeline.run({"online_orders": [order_line("O4", customer_id="C2", order_ts="2026-01-06 08:00:00")]}, DAY2)
    with DuckDBSource(pipeline.warehouse) as source:
        page = build_dashboard(source)
    specs = chart_specs(page)
    assert set(specs) == set(CHARTS), f"charts without data: {sorted(set(CHARTS) - set(specs))}"
    for chart_id, spec in specs.items():
        assert spec_rows(spec), f"chart {chart_id} has no data rows"
    gold_customers = pipeline.one("select count(*) as n from gold.customer_360")["n"]
    assert figures(page)["customers"] == str(gold_customers)
    assert figures(page)["rejected_rows"] == "1"
    assert "Latest run" in page and "2026-01-06" in page

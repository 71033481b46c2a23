"""The dashboard in a real browser: Debian's headless Chromium driven by playwright, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from customer360.dashboard import DuckDBSource, write_dashboard
from customer360.dashboard.charts import CHARTS
from dashboard_warehouse import KNOWN_CUSTOMER, make_warehouse

CHROMIUM = Path(os.environ.get("C360_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking switches Chromium phones home at start-up,
# which this machine's closed network refuses (and the tests would count).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]


@pytest.fixture(scope="module")
def dashboard_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    with DuckDBSource(make_warehouse(folder / "sample.duckdb")) as source:
        return write_dashboard(source, folder / "dashboard.html").path


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1440, "height": 900},
        )
        yield context
        context.close()


class OpenedPage:
    """A page with every console error, page error and request it made recorded."""

    def __init__(self, context, path: Path):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        # Anything but the page itself is recorded above and refused here, so nothing leaves the machine.
        self.page.route(lambda url: url != path.as_uri(), lambda route: route.abort())
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-charts-ready='true']", timeout=30_000)

    def marks(self, chart_id: str) -> int:
        """Data marks Vega drew in the chart (axes, legends and titles are not marks)."""
        return self.page.locator(f"#chart-{chart_id} g.role-mark > *").count()


@pytest.fixture(scope="module")
def opened(browser_context, dashboard_file):
    opened = OpenedPage(browser_context, dashboard_file)
    yield opened
    opened.page.close()


def test_page_renders_without_console_errors_or_network_requests(opened, dashboard_file):
    assert opened.errors == [], f"console errors: {opened.errors}"
    assert opened.requests == [dashboard_file.as_uri()], f"requests beyond the page: {opened.requests[1:]}"


def test_every_chart_is_rendered_with_data(opened):
    states = opened.page.eval_on_selector_all("[data-chart]", "nodes => nodes.map(n => [n.dataset.chart, n.dataset.rendered])")
    assert sorted(chart_id for chart_id, _ in states) == sorted(CHARTS)
    for chart_id, state in states:
        assert state == "true", f"chart {chart_id} did not render ({state})"
        assert opened.marks(chart_id) > 0, f"chart {chart_id} rendered no data marks"
    # One rect per heatmap cell plus an outline on each channel's peak.
    assert opened.marks("channel-heatmap") == 602 + 6


@pytest.mark.parametrize("query", [
    KNOWN_CUSTOMER["customer_key"].lower(),
    KNOWN_CUSTOMER["email"],
    f"{KNOWN_CUSTOMER['first_name']} {KNOWN_CUSTOMER['last_name']}".upper(),
])
def test_lookup_finds_a_known_customer_by_key_email_or_name(opened, query):
    page = opened.page
    page.fill("#lookup-query", query)
    profile = page.locator(f"#customer-profile[data-customer-key='{KNOWN_CUSTOMER['customer_key']}']")
    profile.wait_for(timeout=5_000)
    assert profile.locator("dd[data-column='email']").inner_text() == KNOWN_CUSTOMER["email"]
    assert profile.locator("dd[data-column='lifetime_revenue']").inner_text() == "$89.99"
    assert page.locator("#lookup-status").inner_text() == "1 customer matches."


def test_lookup_lists_several_matches_and_says_when_nothing_matches(opened):
    page = opened.page
    page.fill("#lookup-query", "example.com")
    assert page.locator("#lookup-results button").count() == 12
    page.locator("#lookup-results button[data-customer-key='C009']").click()
    assert page.locator("#customer-profile").get_attribute("data-customer-key") == "C009"
    page.fill("#lookup-query", "nobody-here")
    assert page.locator("#lookup-results button").count() == 0
    assert "No customer matches" in page.locator("#lookup-status").inner_text()


def test_agent_table_sorts_by_a_clicked_column(opened):
    page = opened.page
    first_agent = "#agent-table tbody tr:first-child"
    tickets = page.locator("#agent-table th", has_text="Tickets")
    tickets.click()
    assert page.locator(first_agent).get_attribute("data-agent-id") == "A05"  # 0 tickets
    tickets.click()
    assert page.locator(first_agent).get_attribute("data-agent-id") == "A01"  # 40 tickets
    csat = page.locator("#agent-table th", has_text="Avg CSAT")
    csat.click()
    csat.click()
    assert page.locator(first_agent).get_attribute("data-agent-id") == "A03"  # CSAT 4.7
    assert opened.errors == []


def test_screenshot_is_kept_as_an_artifact(opened):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    opened.page.fill("#lookup-query", KNOWN_CUSTOMER["email"])
    opened.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 50_000

"""The dashboard in a real browser: Debian's headless Chromium driven by playwright, offline, at 1440 and 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer360.dashboard import DuckDBSource, write_dashboard
from customer360.dashboard.charts import CHARTS
from customer360.dashboard.screenshot import (
    CHROMIUM_ARGS,
    DESKTOP_WIDTH,
    PHONE_WIDTH,
    VIEWPORT_HEIGHT,
    chromium_path,
    open_offline,
)
from dashboard_warehouse import KNOWN_CUSTOMER, huge_warehouse, make_warehouse

CHROMIUM = chromium_path()
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDTHS = {"desktop": DESKTOP_WIDTH, "phone": PHONE_WIDTH}
# Charts drawn side by side or as a grid of facets, which a phone gets in their narrow layout.
NARROW_LAYOUTS = ("aov-top-products", "segment-mix", "channel-heatmap")

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
def huge_dashboard_file(tmp_path_factory) -> Path:
    """Billions of revenue and a hundred thousand rejected rows: the figures that spilt out of their cards."""
    folder = tmp_path_factory.mktemp("browser-huge")
    with DuckDBSource(huge_warehouse(folder / "huge.duckdb")) as source:
        return write_dashboard(source, folder / "dashboard.html").path


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": DESKTOP_WIDTH, "height": VIEWPORT_HEIGHT},
        )
        yield context
        context.close()


class OpenedPage:
    """A page at a given width with every console error, page error and request it made recorded."""

    def __init__(self, context, path: Path, width: int):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.width = width
        self.page = open_offline(_Recording(context, self), path)

    def marks(self, chart_id: str) -> int:
        """Data marks Vega drew in the chart (axes, legends and titles are not marks)."""
        return self.page.locator(f"#chart-{chart_id} g.role-mark > *").count()


class _Recording:
    """The browser context, handing out pages of the opened page's width that record what they do.

    open_offline then refuses every request but the page itself; the pages count them first.
    """

    def __init__(self, context, opened: OpenedPage):
        self._context, self._opened = context, opened

    def new_page(self):
        page = self._context.new_page()
        page.set_viewport_size({"width": self._opened.width, "height": VIEWPORT_HEIGHT})
        page.on("console", lambda message: message.type == "error" and self._opened.errors.append(message.text))
        page.on("pageerror", lambda error: self._opened.errors.append(str(error)))
        page.on("request", lambda request: self._opened.requests.append(request.url))
        return page


@pytest.fixture(scope="module", params=sorted(WIDTHS))
def opened(request, browser_context, dashboard_file):
    opened = OpenedPage(browser_context, dashboard_file, WIDTHS[request.param])
    yield opened
    opened.page.close()


@pytest.fixture(scope="module")
def desktop(browser_context, dashboard_file):
    opened = OpenedPage(browser_context, dashboard_file, DESKTOP_WIDTH)
    yield opened
    opened.page.close()


@pytest.fixture(scope="module", params=sorted(WIDTHS))
def huge(request, browser_context, huge_dashboard_file):
    opened = OpenedPage(browser_context, huge_dashboard_file, WIDTHS[request.param])
    yield opened
    opened.page.close()


def test_page_renders_without_console_errors_or_network_requests(opened, dashboard_file):
    assert opened.errors == [], f"console errors at {opened.width} px: {opened.errors}"
    assert opened.requests == [dashboard_file.as_uri()], f"requests beyond the page: {opened.requests[1:]}"


def test_every_chart_is_rendered_with_data(opened):
    states = opened.page.eval_on_selector_all(
        "[data-chart]", "nodes => nodes.map(n => [n.dataset.chart, n.dataset.rendered, n.dataset.layout])")
    assert sorted(chart_id for chart_id, _, _ in states) == sorted(CHARTS)
    for chart_id, state, layout in states:
        assert state == "true", f"chart {chart_id} did not render ({state}) at {opened.width} px"
        assert opened.marks(chart_id) > 0, f"chart {chart_id} rendered no data marks at {opened.width} px"
        expected = "narrow" if opened.width == PHONE_WIDTH and chart_id in NARROW_LAYOUTS else "wide"
        assert layout == expected, f"chart {chart_id} drew its {layout} layout at {opened.width} px"
    # One rect per heatmap cell plus an outline on each channel's peak.
    assert opened.marks("channel-heatmap") == 602 + 6


_CARD_OVERFLOWS = """cards => cards.flatMap(card => {
  const box = card.getBoundingClientRect();
  return [card, ...card.querySelectorAll('*')].flatMap(element => {
    const rect = element.getBoundingClientRect();
    const problems = [];
    if (element.scrollWidth > element.clientWidth + 1) problems.push('text wider than its box');
    if (rect.left < box.left - 1 || rect.right > box.right + 1) problems.push('outside the card');
    return problems.map(problem => `${card.dataset.figure} .${element.className || 'card'} `
      + `"${element.textContent.trim()}": ${problem} (${Math.round(rect.width)} px in ${Math.round(box.width)} px)`);
  });
})"""


def test_no_headline_figure_overflows_its_card(huge):
    overflows = huge.page.eval_on_selector_all(".card", _CARD_OVERFLOWS)
    assert overflows == [], f"at {huge.width} px: {overflows}"
    revenue = huge.page.locator("[data-figure='revenue'] .value")
    assert revenue.inner_text() == "$98.8B" and revenue.get_attribute("title") == "$98,765,434,143.12"


_LEGENDS_OUTSIDE = """charts => charts.flatMap(chart => {
  const panel = chart.closest('.panel').getBoundingClientRect();
  const area = chart.getBoundingClientRect();
  const svg = chart.querySelector('svg').getBoundingClientRect();
  const problems = [];
  if (svg.right > area.right + 1) problems.push(`${chart.dataset.chart}: drawing ${Math.round(svg.width)} px `
    + `in a ${Math.round(area.width)} px chart area`);
  chart.querySelectorAll('g.role-legend').forEach(legend => {
    const box = legend.getBoundingClientRect();
    if (box.left < panel.left || box.right > panel.right || box.top < panel.top || box.bottom > panel.bottom
        || box.left < area.left - 1 || box.right > area.right + 1)
      problems.push(`${chart.dataset.chart}: legend "${legend.textContent.slice(0, 40)}" at `
        + `${Math.round(box.left)}-${Math.round(box.right)} px, outside its panel `
        + `${Math.round(panel.left)}-${Math.round(panel.right)} px`);
  });
  return problems;
})"""


def test_every_chart_and_legend_lies_inside_its_panel(opened):
    legends = opened.page.locator("[data-chart] g.role-legend").count()
    assert legends >= 4, f"expected the legends of four charts, found {legends}"
    problems = opened.page.eval_on_selector_all("[data-chart]", _LEGENDS_OUTSIDE)
    assert problems == [], f"at {opened.width} px: {problems}"


_CUT_OFF = """() => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth) problems.push(`page scrolls sideways: ${page.scrollWidth} px wide`);
  document.querySelectorAll('.panel, .card, header, nav').forEach(box => {
    const rect = box.getBoundingClientRect();
    if (rect.right > window.innerWidth + 1) problems.push(`${box.className || box.tagName} ends at ${Math.round(rect.right)} px`);
  });
  document.querySelectorAll('table').forEach(table => {
    const panel = table.closest('.panel');
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(panel).overflowX);
    if (table.scrollWidth > panel.clientWidth && !scrolls) problems.push(`table ${table.id} is cut off`);
  });
  return problems;
}"""


def test_phone_width_has_no_horizontal_scroll_and_nothing_cut_off(browser_context, dashboard_file):
    phone = OpenedPage(browser_context, dashboard_file, PHONE_WIDTH)
    try:
        assert phone.page.evaluate(_CUT_OFF) == []
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"dashboard-{PHONE_WIDTH}.png"
        phone.page.screenshot(path=str(path), full_page=True)
        assert _png_width(path) == PHONE_WIDTH, f"{path} is not {PHONE_WIDTH} px wide: the page scrolls sideways"
    finally:
        phone.page.close()


def _png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")  # the IHDR chunk's width


@pytest.mark.parametrize("query", [
    KNOWN_CUSTOMER["customer_key"].lower(),
    KNOWN_CUSTOMER["email"],
    f"{KNOWN_CUSTOMER['first_name']} {KNOWN_CUSTOMER['last_name']}".upper(),
])
def test_lookup_finds_a_known_customer_by_key_email_or_name(desktop, query):
    page = desktop.page
    page.fill("#lookup-query", query)
    profile = page.locator(f"#customer-profile[data-customer-key='{KNOWN_CUSTOMER['customer_key']}']")
    profile.wait_for(timeout=5_000)
    assert profile.locator("dd[data-column='email']").inner_text() == KNOWN_CUSTOMER["email"]
    assert profile.locator("dd[data-column='lifetime_revenue']").inner_text() == "$89.99"
    assert page.locator("#lookup-status").inner_text() == "1 customer matches."


def test_lookup_lists_several_matches_and_says_when_nothing_matches(desktop):
    page = desktop.page
    page.fill("#lookup-query", "example.com")
    assert page.locator("#lookup-results button").count() == 12
    page.locator("#lookup-results button[data-customer-key='C009']").click()
    assert page.locator("#customer-profile").get_attribute("data-customer-key") == "C009"
    page.fill("#lookup-query", "nobody-here")
    assert page.locator("#lookup-results button").count() == 0
    assert "No customer matches" in page.locator("#lookup-status").inner_text()


@pytest.mark.parametrize("next_query", ["nobody-here", "example.com", ""])
def test_a_new_lookup_that_does_not_find_one_customer_clears_the_profile(desktop, next_query):
    page = desktop.page
    page.fill("#lookup-query", KNOWN_CUSTOMER["email"])
    assert page.locator("#customer-profile").get_attribute("data-customer-key") == KNOWN_CUSTOMER["customer_key"]
    page.fill("#lookup-query", next_query)
    profile = page.locator("#customer-profile")
    assert profile.get_attribute("data-customer-key") is None, f"after {next_query!r} the profile still shows a customer"
    assert profile.inner_text() == "", f"after {next_query!r} the profile still shows: {profile.inner_text()[:80]}"


def test_agent_table_sorts_by_a_clicked_column(desktop):
    page = desktop.page
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
    assert desktop.errors == []


def test_desktop_screenshot_is_kept_as_an_artifact(desktop):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{DESKTOP_WIDTH}.png"
    desktop.page.fill("#lookup-query", KNOWN_CUSTOMER["email"])
    desktop.page.screenshot(path=str(path), full_page=True)
    assert _png_width(path) == DESKTOP_WIDTH and path.stat().st_size > 50_000

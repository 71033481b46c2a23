"""Screenshots of a built dashboard page in headless Chromium, offline, with a record of the code that drew them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from customer360.contract import REPO_ROOT
from customer360.dashboard.sources import SourceError

DASHBOARD_CODE = Path(__file__).resolve().parent
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
DOCS_SCREENSHOT_COMMAND = "make docs-dashboard"
DESKTOP_WIDTH = 1440
PHONE_WIDTH = 390
VIEWPORT_HEIGHT = 900

# Without the background-networking switches Chromium phones home at start-up,
# which a closed network refuses (and the browser tests would count).
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def chromium_path() -> Path:
    """Debian's Chromium (`apt-get install chromium`), or the browser named by C360_CHROMIUM."""
    configured = os.environ.get("C360_CHROMIUM")
    if configured:
        return Path(configured)
    found = shutil.which("chromium")
    return Path(found) if found else Path("/usr/bin/chromium")


def dashboard_code_digest() -> str:
    """SHA-256 over the dashboard package's source files, by path and content (never by time stamp)."""
    digest = hashlib.sha256()
    for path in sorted(DASHBOARD_CODE.rglob("*.py")):
        digest.update(path.relative_to(DASHBOARD_CODE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def record_path(png: Path) -> Path:
    """The record kept next to a screenshot: `dashboard.png` -> `dashboard.png.json`."""
    return png.with_name(png.name + ".json")


def page_wait(page) -> None:
    """Until every chart has rendered (the page marks <body> when they have)."""
    page.wait_for_selector("body[data-charts-ready='true']", timeout=30_000)


def open_offline(context, html: Path):
    """A new page on `html` that may load nothing but the file itself."""
    page = context.new_page()
    page.route(lambda url: url != html.as_uri(), lambda route: route.abort())
    page.goto(html.as_uri())
    page_wait(page)
    return page


def take_screenshot(html: Path | str, png: Path | str, width: int = DESKTOP_WIDTH) -> Path:
    """A full-page PNG of the dashboard at `width` CSS pixels, and its record `<png>.json`.

    The record holds the digest of the dashboard code that drew the page, so a test can tell
    when an image kept in the repository no longer shows what the code draws.
    """
    html, png = Path(html).resolve(), Path(png)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SourceError("a screenshot needs playwright: `make install` installs it") from None
    chromium = chromium_path()
    if not chromium.is_file():
        raise SourceError(f"a screenshot needs Chromium, not found at {chromium}: apt-get install chromium, or set C360_CHROMIUM")
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS), headless=True)
            try:
                context = browser.new_context(viewport={"width": width, "height": VIEWPORT_HEIGHT})
                page = open_offline(context, html)
                page.screenshot(path=str(png), full_page=True)
            finally:
                browser.close()
    except PlaywrightError as error:
        raise SourceError(f"screenshot of {html} failed: {str(error).splitlines()[0]}") from None
    except OSError as error:
        raise SourceError(f"cannot write {png}: {error.strerror or error}") from None
    record = {
        "image": png.name,
        "image_sha256": hashlib.sha256(png.read_bytes()).hexdigest(),
        "dashboard_code_sha256": dashboard_code_digest(),
        "width": width,
    }
    record_path(png).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return png

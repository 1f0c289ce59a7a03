"""The dashboard in a real headless Chromium (Debian's, driven by playwright): log in, open the
fleet overview and a store page, and check that the charts drew (the expected series, pixels
on the canvas) under the page's Content-Security-Policy, with no script errors. The store
page's screenshot is the README's (EDGEEMO_SCREENSHOTS=1 writes it to docs/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeemo.hub import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.bench.servers import free_port
from edgeemo.hub.db import open_database
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
DOCS = REPO / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-default-apps", "--disable-sync", "--no-first-run", "--disable-gpu"]

DRAWN = """id => {
  const canvas = document.getElementById(id);
  const chart = Chart.getChart(canvas);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return {labels: chart.data.datasets.map(d => d.label), points: chart.data.datasets.map(d => d.data.filter(v => v !== null).length),
          categories: chart.data.labels, painted};
}"""


@pytest.fixture
def dashboard(tmp_path: Path):
    db = tmp_path / "hub.db"
    database = open_database(str(db))
    loadgen.generate(database, stores=3, days=21)  # GENERATED load data: three stores, three weeks
    auth.add_user(database, "manager", "manager-password", "viewer")
    database.close()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "edgeemo", "hub", "serve", "--db", str(db), "--listen",
                                f"127.0.0.1:{port}"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


def test_the_charts_draw_after_login(dashboard: str, tmp_path: Path) -> None:
    playwright_sync = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright_sync.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{dashboard}/stores/load-001?days=14")
        assert "/login" in page.url  # no session: the login page
        page.fill("input[name=name]", "manager")
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        assert page.locator("#login-error").inner_text() == "wrong name or password"
        assert errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
        errors.clear()
        page.fill("input[name=name]", "manager")
        page.fill("input[name=password]", "manager-password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{dashboard}/stores/load-001?days=14")  # back where the login began
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('emotion-chart'))")
        series = page.evaluate(DRAWN, "series-chart")
        assert series["labels"] == ["satisfaction index", "visits"]
        assert series["points"][0] >= 13 and series["points"][1] >= 13 and series["painted"] > 5000
        mix = page.evaluate(DRAWN, "emotion-chart")
        assert mix["categories"] == list(loadgen.LABELS) and mix["painted"] > 5000  # the devices' eight labels
        assert page.locator("#heatmap td[class^=heat-]").count() == 7 * 24
        screenshot = tmp_path / "hub-store.png"
        page.screenshot(path=str(screenshot), full_page=True)
        page.goto(f"{dashboard}/")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('overview-chart'))")
        overview = page.evaluate(DRAWN, "overview-chart")
        assert overview["categories"] == ["load-000", "load-001", "load-002"] and overview["painted"] > 2000
        assert page.locator("#overview-table tbody tr").count() == 3
        page.screenshot(path=str(tmp_path / "hub-overview.png"), full_page=True)
        browser.close()
    assert errors == []  # nothing blocked by the CSP, no script error
    assert screenshot.stat().st_size > 20_000
    if os.environ.get("EDGEEMO_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copy(screenshot, DOCS / "hub-store.png")
        shutil.copy(tmp_path / "hub-overview.png", DOCS / "hub-overview.png")

"""The dashboard in a real headless Chromium (Debian's, driven by playwright): log in, open the
fleet overview, a store page and the compare view, and check that the charts drew (the expected
series, pixels on the canvas) under the page's Content-Security-Policy, with no script errors,
and that every figure shows its 95% interval, a thin store reads "imprecise" and a difference is
marked significant only when it is. The screenshots are the README's (EDGEEMO_SCREENSHOTS=1
writes them to docs/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.bench.servers import free_port
from edgeemo.hub.db import open_database
from edgeemo.hub.ingest import parse_message
from edgeemo.hub.writer import write_batch
from edgeemo.payload import build_payload
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
DOCS = REPO / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-default-apps", "--disable-sync", "--no-first-run", "--disable-gpu"]

THIN_AGO = 100  # minutes: an hour over and settled (edgeemo.aggregates.SETTLE_S), so shown
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
    thin = minute("thin", 4, 3, ago=THIN_AGO)  # seven visits: over k, far too few to read
    write_batch(database, [thin])
    write_batch(database, [minute("glad", 9, 1, ago=80 + i) for i in range(1, 61)])  # 600 happy, 60 sad
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
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()  # before reading its output: a live server's would never end
                pytest.fail(f"hub serve did not answer: {process.communicate()[0][-2000:]}")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", thin.start  # the hub, and the day the overview counts thin's visits in
    process.terminate()
    process.wait(timeout=30)


def minute(store: str, happy: int, sad: int, ago: int = 1):
    """The interval `ago` minutes back from the current one (seq = ago) with these visits."""
    now = int(time.time())
    payload = build_payload(store_id=store, device_id="cam-1", zone="all", seq=ago, start=now - now % 60 - 60 * ago,
                            length_s=60, labels=loadgen.LABELS, faces_seen=happy + sad,
                            visits_by_emotion={"happy": happy, "sad": sad},
                            groups=DEFAULT_GROUPS.for_labels(loadgen.LABELS), dwell_s_total=10.0,
                            model=loadgen.shipped_model())
    return parse_message(store, "cam-1", json.dumps(payload).encode(), 1 << 16, now + 3600)


def test_the_charts_draw_after_login(dashboard: tuple[str, int], tmp_path: Path) -> None:
    hub, thin_start = dashboard
    playwright_sync = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright_sync.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{hub}/stores/load-001?days=14")
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
        page.wait_for_url(f"{hub}/stores/load-001?days=14")  # back where the login began
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('emotion-chart'))")
        series = page.evaluate(DRAWN, "series-chart")
        assert series["labels"] == ["satisfaction index", "95% interval", "95% interval (low)", "raw count", "visits"]
        assert min(series["points"]) >= 13 and series["painted"] > 5000  # the index, its band, the raw count
        total = page.locator("#store-total").inner_text()
        assert "±" in total and "visits" in total and "raw count" in total
        assert page.locator("#emotion-table tbody tr").count() == len(loadgen.LABELS)
        assert "–" in page.locator("#emotion-table tbody tr", has_text="contempt").inner_text()
        mix = page.evaluate(DRAWN, "emotion-chart")
        assert mix["categories"] == list(loadgen.LABELS) and mix["painted"] > 5000  # the devices' eight labels
        assert page.locator("#heatmap td[class^=heat-]").count() == 7 * 24
        screenshot = tmp_path / "hub-store.png"
        page.screenshot(path=str(screenshot), full_page=True)
        page.goto(f"{hub}/")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('overview-chart'))")
        overview = page.evaluate(DRAWN, "overview-chart")
        assert overview["categories"] == ["glad", "load-000", "load-001", "load-002", "thin"]
        assert overview["painted"] > 2000
        assert page.locator("#overview-table tbody tr").count() == 5
        # the row whose store link is exactly "thin" ("within noise" also contains "thin": glad's row reads it
        # when the test runs soon after midnight and glad's hour of visits spans two days)
        thin = page.locator("#overview-table tbody tr").filter(has=page.get_by_role("link", name="thin", exact=True))
        assert thin.count() == 1
        generated = json.loads(page.locator("#overview-data").text_content())["generated_at"]
        shown_day = datetime.fromisoformat(generated).timestamp() // 86400  # the page's today (UTC, thin's zone)
        thin_today = thin_start // 86400 == shown_day  # not just after midnight
        assert thin.locator(".imprecise").count() == 2 + thin_today  # (today,) 7 and 30 days: 7 is not a number
        assert page.locator("#overview-table tbody tr", has_text="load-000").locator(".interval").count() >= 2
        page.screenshot(path=str(tmp_path / "hub-overview.png"), full_page=True)
        page.goto(f"{hub}/compare?stores=load-000&stores=glad&stores=thin&days=14")
        page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('compare-chart'))")
        compare = page.evaluate(DRAWN, "compare-chart")
        assert compare["labels"][:3] == ["load-000", "load-000 95% interval", "load-000 95% interval (low)"]
        assert compare["painted"] > 5000
        totals = {row.locator("td").first.inner_text(): row.locator("td").nth(2).inner_text()
                  for row in page.locator("#compare-totals tbody tr").all()}
        assert "±" in totals["load-000"] and "±" in totals["glad"] and totals["thin"].startswith("imprecise")
        marks = {(row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()):
                 row.locator("td").nth(3).inner_text() for row in page.locator("#compare-differences tbody tr").all()}
        assert marks[("load-000", "glad")] == "yes"  # glad's index is over 0.6, load-000's (10,000 visits) under 0.3
        assert marks[("load-000", "thin")] == "no: within noise"
        page.screenshot(path=str(tmp_path / "hub-compare.png"), full_page=True)
        browser.close()
    assert errors == []  # nothing blocked by the CSP, no script error
    assert screenshot.stat().st_size > 20_000
    if os.environ.get("EDGEEMO_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copy(screenshot, DOCS / "hub-store.png")
        shutil.copy(tmp_path / "hub-overview.png", DOCS / "hub-overview.png")
        shutil.copy(tmp_path / "hub-compare.png", DOCS / "hub-compare.png")

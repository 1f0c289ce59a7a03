"""The hub's pages say what k held back: admins the count (and why), viewers only that nothing is
released yet, both how to lower k for a test. A viewer's page stays the same whatever the small
hours hold, so the hint does not undo k-anonymity."""

from __future__ import annotations

import re
import time
from pathlib import Path

from edgeemo.hub.admin import auth
from edgeemo.hub.admin.held_back import held_back
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage.db import open_database
from tests.test_hub_store import T0, interval
from tests.test_hub_web import client_for

DAY = time.strftime("%Y-%m-%d", time.gmtime(T0))
NEXT_DAY = time.strftime("%Y-%m-%d", time.gmtime(T0 + 86400))
PAGE = f"/stores/s1?since={DAY}&until={NEXT_DAY}&bucket=hour"


def small_hub(path: Path, small_hour: tuple[int, ...] = (1, 1, 1)):
    """Store s1: one hour of 6 visits (released at k = 5) and, two hours later, an hour under k of three
    intervals with these visits."""
    database = open_database(str(path))
    big = [interval(minute=m, visits=2, happy=1) for m in range(3)]
    small = [interval(minute=120 + m, visits=n, happy=1) for m, n in enumerate(small_hour)]
    write_batch(database, big + small, now=T0 + 86400)
    auth.add_user(database, "adam", "admin-password", "admin")
    auth.add_user(database, "vera", "viewer-password", "viewer")
    return database


def test_held_back_counts_the_cells_under_k_and_those_not_over(tmp_path: Path) -> None:
    database = small_hub(tmp_path / "hub.db")
    held = held_back(database, "s1", T0, T0 + 86400, "hour", 5, now=T0 + 86400)
    assert held == {"visits": 3, "under_k": 3, "not_over": 0, "min_visits": 5}
    early = held_back(database, "s1", T0, T0 + 86400, "hour", 5, now=T0 + 1800)  # the first hour is on
    assert early == {"visits": 9, "under_k": 0, "not_over": 9, "min_visits": 5}
    assert held_back(database, "s1", T0, T0 + 86400, "hour", 1)["visits"] == 0  # k = 1 holds nothing back
    database.close()


def test_an_admin_sees_the_count_and_how_to_lower_k(tmp_path: Path) -> None:
    database = small_hub(tmp_path / "hub.db")
    page = client_for(database, "adam", "admin-password").get(PAGE)
    assert page.status_code == 200
    hint = re.search(r'<p class="hint" id="held-back">(.*?)</p>', page.text, re.DOTALL).group(1)
    assert "<strong>3 visits</strong>" in hint and "3 in hours with fewer than k = 5 visits" in hint
    assert "0 in hours not over yet" in hint and "--min-visits 1" in hint
    overview = client_for(database, "adam", "admin-password").get("/")
    assert 'id="held-back"' in overview.text  # the fleet's last 30 days: T0 is a few weeks back at most
    database.close()


def test_a_viewer_sees_why_without_the_count(tmp_path: Path) -> None:
    pages = []
    for name, small in (("a", (1, 1, 1)), ("b", (1, 1, 2))):  # two fleets that differ only inside the hour under k
        database = small_hub(tmp_path / f"hub-{name}.db", small)
        viewer = client_for(database, "vera", "viewer-password")
        pages.append(re.sub(r'(value|content)="[^"]*"', "", viewer.get(PAGE).text))
        nothing = viewer.get(f"/stores/s1?since={NEXT_DAY}&days=1")  # a day with no released hour
        assert "Nothing to show yet" in nothing.text and "--min-visits 1" in nothing.text
        database.close()
    assert pages[0] == pages[1]  # the small hour's visits leave no trace on a viewer's page
    assert 'id="held-back"' not in pages[0]  # something is shown: no hint, and never a count

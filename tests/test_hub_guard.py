"""The dashboard as a curious or hostile viewer meets it: every bad parameter a 400 that names it
(never a 500, a dropped connection or a database error), control characters refused before any
route runs, downloads whose headers and cells cannot be turned against the viewer, static files
with the security headers, weeks that start on Monday, a login that is throttled and logged, and
an event loop that no slow page, password check or dead database can hold up."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import logging
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from edgeemo.hub import localtime
from edgeemo.hub.admin import auth
from edgeemo.hub.bench.servers import Postgres, free_port
from edgeemo.hub.config import HubConfig, WebSection
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.reading.render import to_csv
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.web import LOGIN_CSRF_COOKIE, create_app
from edgeemo.hub.web import login as login_routes
from edgeemo.hub.web.throttle import MAX_KEYS, LoginThrottle
from tests.test_hub_store import interval
from tests.test_hub_web import client_for, log_in

SUNDAY_10H = int(datetime(2026, 11, 29, 10, tzinfo=timezone.utc).timestamp())


@pytest.fixture
def hub(hub_url: str):
    database = open_database(hub_url)
    minutes = [interval(store="s1", minute=m, visits=3, happy=2) for m in range(5)]  # Sunday 29 Nov, 10:00 UTC
    write_batch(database, [dataclasses.replace(i, start=SUNDAY_10H + 60 * n) for n, i in enumerate(minutes)])
    auth.add_user(database, "vera", "viewer-password", "viewer")
    yield database
    database.close()


def viewer(database) -> TestClient:
    return client_for(database, "vera", "viewer-password")


@contextlib.contextmanager
def serving(app):
    """The app on a real uvicorn in a thread (concurrent requests need a real server); its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_weeks_start_on_monday_and_sunday_is_sunday(hub) -> None:
    client = viewer(hub)
    week = client.get("/api/stores/s1/series?since=2026-11-23&until=2026-11-30&bucket=week").json()["series"]
    assert [point["start"] for point in week] == ["2026-11-23T00:00:00Z"] and week[0]["visits"] == 15
    cells = client.get("/api/stores/s1/heatmap?since=2026-11-23&until=2026-11-30").json()["cells"]
    busy = [(cell["weekday"], cell["hour"]) for row in cells for cell in row if cell.get("visits")]
    assert busy == [(6, 10)]  # 0 is Monday: Sunday is the last row
    assert localtime.bucket_start("UTC", SUNDAY_10H, "week") == int(datetime(2026, 11, 23, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize(("query", "named"), [
    ("/api/stores/s1/series?until=0001-01-01", "until"),
    ("/api/stores/s1/series?since=0001-01-01T00:00%2B14:00", "since"),
    ("/api/stores/s1/series?until=9999-12-31T23:59:59-14:00", "until"),
    ("/api/stores/s1/series?since=tomorrow", "since"),
    ("/api/stores/s1/series?days=nan", "days"),
    ("/api/stores/s1/series?days=inf", "days"),
    ("/api/stores/s1/series?days=" + "9" * 400, "days"),
    ("/api/stores/s1/series?min_visits=99999999999", "min_visits"),
    ("/api/stores/s1/series?format=xml", "format"),
    ("/api/stores/s1/series?bucket=fortnight", "bucket"),
    ("/api/stores/s1/series?zone=" + "z" * 40, "zone"),
    ("/api/stores/s1/series?zone=a%20b", "zone"),
    ('/api/stores/x%22%20;%20filename=evil.html/series?format=csv', "store"),
    ("/api/stores/" + "s" * 65 + "/emotions", "store"),
    ("/api/compare?stores=" + ",".join(f"s{i}" for i in range(13)), "stores"),
    ("/api/compare?stores=s1,%3Cscript%3E", "store"),
    ("/stores/s1?until=0001-01-01", "until"),
    ("/api/compare?stores=s1&since=2026-11-28&until=2026-11-29&since2=2024-01-01&until2=2026-01-01&bucket=hour",
     "bucket=hour"),
    ("/api/stores/s1%0A/series", "control character"),
])
def test_a_bad_parameter_is_a_400_that_names_it(hub, query: str, named: str) -> None:
    response = viewer(hub).get(query)
    assert response.status_code == 400, (query, response.status_code, response.text[:200])
    assert named in (response.json()["error"] if query.startswith("/api/") else response.text)
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("query", ["/api/stores/s1%00/series", "/api/stores/s1/series?zone=all%00",
                                   "/api/stores/s1%0d%0aSet-Cookie:%20x=1/series?format=csv",
                                   "/api/stores/s1/series?zone=a%0a", "/stores/s1?zone=%7f"])
def test_control_characters_are_refused_before_any_route(hub, query: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    response = viewer(hub).get(query)
    assert response.status_code == 400 and "control character" in response.json()["error"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # not a database error in the log


def test_an_overlong_query_string_is_refused(hub) -> None:
    assert viewer(hub).get("/api/stores/s1/series?pad=" + "x" * 5000).status_code == 414


def test_downloads_cannot_inject_headers_or_formulas(hub) -> None:
    response = viewer(hub).get("/api/stores/s1/series?since=2026-11-29&until=2026-11-30&format=csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"s1-series.csv\"; filename*=UTF-8''s1-series.csv")
    text = to_csv([{"note": "=HYPERLINK(\"http://evil\")", "plus": "+1", "at": "@SUM(A1)", "tab": "\tx",
                    "minus": "-2+3", "number": -0.25, "count": 3, "missing": None, "nested": [1, 2]}])
    cells = list(csv.reader(io.StringIO(text)))[1]
    assert cells == ["'=HYPERLINK(\"http://evil\")", "'+1", "'@SUM(A1)", "'\tx", "'-2+3", "-0.25", "3", "", "[1, 2]"]


def test_static_files_carry_the_security_headers(hub) -> None:
    response = TestClient(create_app(HubConfig(), hub)).get("/static/app.js")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"


def test_failed_logins_are_logged_and_throttled_per_name_and_address(hub, caplog: pytest.LogCaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.WARNING)
    auth.add_user(hub, "adam", "admin-password", "admin")
    now = [1000.0]  # the throttle's clock, moved by hand: Argon2 on a busy machine cannot outlast a lockout
    monkeypatch.setattr(login_routes, "LoginThrottle", functools.partial(LoginThrottle, clock=lambda: now[0]))
    web = WebSection(login_failures_per_name=3, login_failures_per_address=5, login_lockout_s=60)
    client = TestClient(create_app(HubConfig(web=web), hub), follow_redirects=False)
    for _ in range(3):
        assert log_in(client, "vera", "guess-number-x").status_code == 401
    locked = log_in(client, "vera", "viewer-password")  # the right password, but the name is locked
    assert locked.status_code == 429 and "too many failed logins" in locked.text
    assert int(locked.headers["retry-after"]) == 60
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("hub: failed login")]
    assert len(failures) == 3 and all("'vera'" in m and "guess-number-x" not in m for m in failures)
    assert not any("viewer-password" in r.getMessage() for r in caplog.records)
    assert log_in(client, "adam", "nope-nope-1").status_code == 401  # 4th from this address
    assert log_in(client, "adam", "nope-nope-2").status_code == 401  # 5th: the address is locked now
    assert log_in(client, "adam", "admin-password").status_code == 429
    now[0] += 30
    assert log_in(client, "adam", "admin-password").status_code == 429  # still locked, half-way
    now[0] += 31  # the lockout (60 s) has expired
    assert log_in(client, "vera", "viewer-password").status_code == 303


def test_the_throttle_slides_expires_and_cannot_be_flushed() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_name=3, per_address=100, window_s=60, lockout_s=300, clock=lambda: now[0])
    throttle.failed("vera", "10.0.0.1")
    throttle.failed("vera", "10.0.0.1")
    now[0] += 61  # the first two fall out of the window
    assert not throttle.failed("vera", "10.0.0.1") and throttle.locked_for("vera", "10.0.0.1") == 0
    throttle.failed("vera", "10.0.0.1")
    assert throttle.failed("vera", "10.0.0.1")  # the third within 60 s locks the name from that address
    assert throttle.locked_for("vera", "10.0.0.1") == 300
    assert throttle.locked_for("vera", "10.0.0.9") == 0  # her own address is not locked out
    for i in range(MAX_KEYS + 10):  # a flood of other names must not free the lock
        throttle.failed(f"name{i}", f"10.1.{i // 250}.{i % 250}")
    assert len(throttle._failures) <= MAX_KEYS + 2 and throttle.locked_for("vera", "10.0.0.1") == 300
    now[0] += 300
    assert throttle.locked_for("vera", "10.0.0.1") == 0
    throttle.failed("adam", "10.0.0.5")
    throttle.succeeded("adam", "10.0.0.5")
    assert not [key for key in throttle._failures if key[0] == "name" and key[1].startswith("adam")]


def test_a_flood_of_locked_addresses_does_not_free_a_lock() -> None:
    now = [1000.0]
    throttle = LoginThrottle(per_name=5, per_address=20, window_s=900, lockout_s=900, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("adam", "10.9.9.9")
    for i in range(80_000):  # 4,000 addresses, each locked after 20 guesses at new names
        throttle.failed(f"n{i}", f"2001:db8::{i % 4000:x}")
    assert throttle.locked_for("adam", "10.9.9.9") > 0 and len(throttle._failures) < 2 * MAX_KEYS


def test_logins_sent_at_once_cannot_all_pass_the_throttle(hub) -> None:
    """30 wrong passwords for one name, sent together: 5 are checked, 25 refused (each attempt counts
    the moment it is let through, not after its password check)."""
    web = WebSection(login_failures_per_name=5, login_failures_per_address=1000)
    statuses: list[int] = []
    with serving(create_app(HubConfig(web=web), hub)) as base:
        clients = [httpx.Client(base_url=base, timeout=60) for _ in range(30)]
        tokens = [client.get("/login").cookies[LOGIN_CSRF_COOKIE] for client in clients]
        start = threading.Barrier(30)

        def guess(client: httpx.Client, token: str) -> None:
            start.wait()
            statuses.append(client.post("/login", data={"name": "vera", "password": "not-it-at-all",
                                                        "csrf": token}).status_code)

        guesses = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens)]
        for g in guesses:
            g.start()
        for g in guesses:
            g.join(120)
        for client in clients:
            client.close()
    assert sorted(statuses) == [401] * 5 + [429] * 25


def test_a_slow_page_does_not_hold_up_the_health_check(hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page blocked in its query (here: until the test releases it) while /api/health and the login
    form still answer: the handlers run in worker threads, not on the event loop."""
    entered, release = threading.Event(), threading.Event()
    real_overview = fleet.overview

    def blocked_overview(*args, **kwargs):
        entered.set()
        release.wait(60)
        return real_overview(*args, **kwargs)

    monkeypatch.setattr(fleet, "overview", blocked_overview)
    with serving(create_app(HubConfig(), hub)) as base:
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                form = client.get("/login")
                client.post("/login", data={"name": "vera", "password": "viewer-password", "next": "/",
                                            "csrf": form.cookies[LOGIN_CSRF_COOKIE]})
                slow = threading.Thread(target=lambda: client.get("/api/overview"), daemon=True)
                slow.start()
                assert entered.wait(30)
                with httpx.Client(base_url=base, timeout=30) as other:
                    assert other.get("/api/health").status_code == 200 and not release.is_set()
                    assert other.get("/login").status_code == 200 and not release.is_set()
                release.set()
                slow.join(30)
        finally:
            release.set()

def test_postgresql_down_pages_say_so_and_login_and_health_answer(tmp_path) -> None:
    postgres = Postgres(settings={"fsync": "off"}).start()
    database = open_database(postgres.url)
    try:
        auth.add_user(database, "vera", "viewer-password", "viewer")
        client = viewer(database)
        assert client.get("/").status_code == 200
        postgres.halt()
        started = time.monotonic()
        page = client.get("/")
        assert page.status_code == 503 and "not answering" in page.text
        assert client.get("/login").status_code == 200
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        # generous against a busy machine; the bug this guards against took 20-30 s (the 2 s target is measured
        # by scripts/bench_hub_responsive.py)
        assert time.monotonic() - started < 15
    finally:
        database.close()
        postgres.stop()

"""The dashboard and API on both engines: no anonymous access but /api/health, wrong passwords
refused, CSRF-checked forms, a viewer kept out of admin pages, and k-anonymity in every view."""

from __future__ import annotations

import dataclasses
import re

import pytest
from starlette.testclient import TestClient

from edgeemo.hub.admin import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.config import HubConfig
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.web import LOGIN_CSRF_COOKIE, SESSION_COOKIE, create_app
from tests.test_hub_store import interval

NOW = loadgen.time.time()


@pytest.fixture
def hub(hub_url: str):
    database = open_database(hub_url)
    loadgen.generate(database, stores=2, days=3)  # two busy stores, eight labels
    seven = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    now = int(NOW) - int(NOW) % 60
    quiet = [interval(store="quiet", minute=m, visits=1, happy=1, labels=seven) for m in range(3)]
    write_batch(database, [dataclasses.replace(i, start=now - 3600 + 60 * n) for n, i in enumerate(quiet)])
    auth.add_user(database, "vera", "viewer-password", "viewer")
    auth.add_user(database, "adam", "admin-password", "admin")
    yield database
    database.close()


def log_in(client: TestClient, name: str, password: str):
    """POST the login form (with its fresh CSRF token); the response."""
    form = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "next": "/",
                                       "csrf": form.cookies[LOGIN_CSRF_COOKIE]})


def client_for(database, name: str | None = None, password: str | None = None,
               config: HubConfig | None = None) -> TestClient:
    """A client of the app, logged in as `name` when given."""
    client = TestClient(create_app(config or HubConfig(), database), follow_redirects=False)
    if name:
        response = log_in(client, name, password)
        assert response.status_code == 303, response.text
    return client


def test_nothing_but_health_is_open(hub) -> None:
    client = client_for(hub)
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["devices"] == 3 and health.json()["status"] == "ok"
    assert "stores" not in health.json() and health.json()["open_gaps"] == 0
    for path in ("/api/overview", "/api/stores", "/api/stores/load-000/series", "/api/compare?stores=a,b",
                 "/api/users", "/api/gaps"):
        assert client.get(path).status_code == 401, path
    for path in ("/", "/stores/load-000", "/compare", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    assert client.get("/login").status_code == 200
    assert "script-src 'self'" in client.get("/login").headers["content-security-policy"]


def test_a_wrong_password_or_a_forged_form_is_refused(hub) -> None:
    client = client_for(hub)
    form = client.get("/login")
    token = form.cookies[LOGIN_CSRF_COOKIE]
    wrong = client.post("/login", data={"name": "vera", "password": "not-her-password", "csrf": token})
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text and SESSION_COOKIE not in wrong.cookies
    token = client.cookies[LOGIN_CSRF_COOKIE]  # each login form gets a fresh token
    nobody = client.post("/login", data={"name": "nobody", "password": "whatever1", "csrf": token})
    assert nobody.status_code == 401
    assert client.post("/login", data={"name": "vera", "password": "viewer-password", "csrf": token}
                       ).status_code == 403  # a used token does not come back
    forged = client.post("/login", data={"name": "vera", "password": "viewer-password", "csrf": "made-up"})
    assert forged.status_code == 403
    assert client.get("/api/overview").status_code == 401


def test_a_viewer_sees_the_fleet_but_not_the_admin_pages(hub) -> None:
    viewer = client_for(hub, "vera", "viewer-password")
    assert viewer.get("/").status_code == 200
    assert viewer.get("/admin/users").status_code == 403
    assert viewer.get("/api/users").status_code == 403
    assert viewer.post("/admin/users", data={"name": "eve", "password": "eve-password", "role": "admin"}
                       ).status_code == 403
    admin = client_for(hub, "adam", "admin-password")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and "vera" in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert admin.post("/admin/users", data={"name": "eve", "password": "eve-password", "role": "viewer",
                                             "action": "add"}).status_code == 403  # no CSRF token
    added = admin.post("/admin/users", data={"name": "eve", "password": "eve-password", "role": "viewer",
                                             "action": "add", "csrf": csrf})
    assert "saved eve" in added.text and {u["name"] for u in admin.get("/api/users").json()["users"]} >= {"eve"}
    admin.post("/admin/users", data={"name": "vera", "action": "remove", "csrf": csrf})
    assert viewer.get("/api/overview").status_code == 401  # removing a user ends their sessions


def test_logout_ends_the_session(hub) -> None:
    viewer = client_for(hub, "vera", "viewer-password")
    page = viewer.get("/")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert viewer.post("/logout", data={"csrf": csrf}).status_code == 303
    assert viewer.get("/api/overview").status_code == 401


def test_views_suppress_small_buckets_and_carry_the_devices_labels(hub) -> None:
    viewer = client_for(hub, "vera", "viewer-password")
    stores = {s["store"]: s for s in viewer.get("/api/overview").json()["stores"]}
    assert set(stores) == {"load-000", "load-001", "quiet"}
    assert stores["quiet"]["visits_today"] is None and stores["quiet"]["satisfaction_today"] is None  # 3 < k=5
    assert stores["load-000"]["visits_7d"] > 100 and -1 <= stores["load-000"]["satisfaction_7d"] <= 1
    series = viewer.get("/api/stores/load-000/series?days=2&bucket=hour").json()
    assert series["labels"] == list(loadgen.LABELS)  # eight labels, contempt included, from the devices
    day = series["series"]  # the night hours (two visits or so) are not listed at all
    assert 20 < len(day) < 40 and all(p["visits"] >= 5 and not p["suppressed"] for p in day)
    quiet = viewer.get("/api/stores/quiet/series?days=1&bucket=day").json()
    assert quiet["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert quiet["series"] == [] and quiet["total"]["suppressed"] and quiet["total"]["visits"] is None
    assert viewer.get("/api/stores/quiet/series?days=1&min_visits=1").status_code == 400  # never below k
    csv_text = viewer.get("/api/stores/quiet/series?days=1&format=csv").text
    assert csv_text.strip() == "" or len(csv_text.strip().splitlines()) == 1  # no row, at most a header
    mix = viewer.get("/api/stores/load-001/emotions?days=3").json()
    assert not mix["suppressed"] and abs(sum(mix["shares"].values()) - 1) < 0.01
    heat = viewer.get("/api/stores/load-001/heatmap?days=3").json()["cells"]
    assert len(heat) == 7 and len(heat[0]) == 24
    devices = viewer.get("/api/stores/load-001/devices?days=3").json()["devices"]
    assert devices[0]["device"] == "cam-1" and devices[0]["online"] is True


def test_compare_stores_or_periods_and_bad_parameters_are_400(hub) -> None:
    viewer = client_for(hub, "vera", "viewer-password")
    stores = viewer.get("/api/compare?stores=load-000,load-001&days=3&bucket=day").json()
    assert [p["label"] for p in stores["panels"]] == ["load-000", "load-001"]
    periods = viewer.get("/api/compare?stores=load-000&days=1&since2=" +
                         loadgen.time.strftime("%Y-%m-%d", loadgen.time.gmtime(NOW - 2 * 86400)) +
                         "&days2=1&bucket=hour").json()
    labels = [p["label"] for p in periods["panels"]]  # each period by its dates, as the store's people read them
    assert labels == [p["dates"] for p in periods["panels"]] and labels[0] != labels[1], labels
    assert all(re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}.* – .*\d\d:\d\d", x) for x in labels)
    same = viewer.get("/api/compare?stores=load-000&since=2026-11-01&until=2026-11-03&since2=2026-11-01&until2=2026-11-03")
    assert same.status_code == 400 and same.json()["error"].startswith("since2/until2: the second period covers")
    page = viewer.get("/compare?stores=load-000&stores=load-001&days=3")
    assert page.status_code == 200 and 'id="compare-data"' in page.text
    for path in ("/api/stores/load-000/series?bucket=month", "/api/stores/load-000/series?since=tomorrow",
                 "/api/compare?stores=load-000", "/api/stores/load-000/series?days=-1"):
        response = viewer.get(path)
        assert response.status_code == 400 and response.json()["error"], path
    assert viewer.get("/stores/load-000?bucket=month").status_code == 400


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example/"])
def test_login_never_redirects_off_the_site(hub, target: str) -> None:
    client = client_for(hub)
    form = client.get("/login")
    response = client.post("/login", data={"name": "vera", "password": "viewer-password", "next": target,
                                           "csrf": form.cookies[LOGIN_CSRF_COOKIE]})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_failing_database_is_a_503_and_one_log_line(hub, caplog: pytest.LogCaptureFixture) -> None:
    viewer = client_for(hub, "vera", "viewer-password")
    with hub.transaction(write=True) as tx:
        tx.run("DROP TABLE hourly_bands")  # the database breaks under the running hub
    response = viewer.get("/api/stores/load-000/emotions")
    assert response.status_code == 503 and "not answering" in response.json()["error"]
    assert viewer.get("/stores/load-000").status_code == 503
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all(r.exc_info is None for r in errors) and "database error" in errors[0].getMessage()

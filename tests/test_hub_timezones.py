"""Each store in its own time: a store in America/Los_Angeles with a visit a minute 10:00-20:00 local
for two weeks across the November DST change, and stores in Asia/Kathmandu (+05:45) and
Asia/Kolkata (+05:30) likewise. "Today", the day, hour and week buckets, the heatmap's rows and
the export all match the truth counted here with zoneinfo, independently of the hub; a zone set
after the data arrived re-derives the same roll-ups as one set before."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from edgeemo.aggregates import SETTLE_S
from edgeemo.hub import localtime
from edgeemo.hub.admin import auth
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.storage import stores
from edgeemo.hub.storage.db import open_database
from tests.conftest import REPO
from tests.test_hub_store import interval
from tests.test_hub_web import client_for

ZONES = {"la": "America/Los_Angeles", "ktm": "Asia/Kathmandu", "kol": "Asia/Kolkata"}
FIRST, LAST = date(2026, 10, 26), date(2026, 11, 8)  # Monday to Sunday, two ISO weeks; the US clocks go back Nov 1
NOW = int(datetime(2026, 11, 8, 23, 0, tzinfo=timezone.utc).timestamp())  # LA 15:00, Kathmandu Nov 9 04:45


def open_hours(store: str) -> list[int]:
    """The start of every minute 10:00-19:59 local of every day FIRST..LAST, up to NOW."""
    local = ZoneInfo(ZONES[store])
    starts = []
    day = FIRST
    while day <= LAST:
        opening = datetime(day.year, day.month, day.day, 10, tzinfo=local)
        starts += [int((opening + timedelta(minutes=m)).timestamp()) for m in range(600)]
        day += timedelta(days=1)
    return [s for s in starts if s < NOW]


def intervals_of(store: str) -> list:
    one = interval(store=store, minute=0, visits=1, happy=1)
    return [dataclasses.replace(one, start=start, seq=n + 1) for n, start in enumerate(open_hours(store))]


def truth_by_day(store: str) -> Counter:
    local = ZoneInfo(ZONES[store])
    return Counter(datetime.fromtimestamp(s, local).date() for s in open_hours(store))


def load(database, stores_in_zone_first: bool = True) -> None:
    if stores_in_zone_first:
        for store, name in ZONES.items():
            stores.set_timezone(database, store, name)
    for store in ZONES:
        rows = intervals_of(store)
        for i in range(0, len(rows), 2000):
            write_batch(database, rows[i:i + 2000], now=NOW)


@pytest.fixture
def hub(hub_url: str):
    database = open_database(hub_url)
    load(database)
    auth.add_user(database, "vera", "viewer-password", "viewer")
    yield database
    database.close()


def viewer(database) -> TestClient:
    return client_for(database, "vera", "viewer-password")


def test_day_and_week_buckets_start_at_local_midnight_across_dst(hub) -> None:
    client = viewer(hub)
    for store, name in ZONES.items():
        local = ZoneInfo(name)
        days = client.get(f"/api/stores/{store}/series?since={FIRST}&until={LAST + timedelta(days=1)}"
                          "&bucket=day").json()
        assert days["timezone"] == name
        truth = truth_by_day(store)
        starts = [datetime.fromisoformat(p["start"]) for p in days["series"]]
        assert [(s.date(), s.hour, s.minute) for s in starts] == [(d, 0, 0) for d in sorted(truth)]
        assert all(s.utcoffset() == s.astimezone(local).utcoffset() for s in starts)  # the offset of that day
        assert [p["visits"] for p in days["series"]] == [truth[d] for d in sorted(truth)]
        weeks = client.get(f"/api/stores/{store}/series?since={FIRST}&until={LAST + timedelta(days=1)}"
                           "&bucket=week").json()["series"]
        assert [datetime.fromisoformat(p["start"]).date() for p in weeks] == [FIRST, FIRST + timedelta(days=7)]
        assert [p["visits"] for p in weeks] == [sum(n for d, n in truth.items() if d < FIRST + timedelta(days=7)),
                                                sum(n for d, n in truth.items() if d >= FIRST + timedelta(days=7))]
    la_days = client.get(f"/api/stores/la/series?since={FIRST}&until={LAST}&bucket=day").json()["series"]
    offsets = {p["start"][:10]: p["start"][-6:] for p in la_days}
    assert offsets["2026-10-31"] == "-07:00" and offsets["2026-11-01"] == "-07:00" and offsets["2026-11-02"] == "-08:00"


def test_hour_buckets_and_the_heatmap_are_local(hub) -> None:
    client = viewer(hub)
    for store, name in ZONES.items():
        hours = client.get(f"/api/stores/{store}/series?since=2026-11-01&until=2026-11-02&bucket=hour").json()
        shown = [p for p in hours["series"] if p["visits"]]
        assert [datetime.fromisoformat(p["start"]).hour for p in shown] == list(range(10, 20))
        assert all(datetime.fromisoformat(p["start"]).minute == 0 and p["visits"] == 60 for p in shown)
        cells = client.get(f"/api/stores/{store}/heatmap?since={FIRST}&until={LAST - timedelta(days=1)}").json()
        busy = {(c["weekday"], c["hour"]): c["visits"] for row in cells["cells"] for c in row if c.get("visits")}
        assert set(busy) == {(day, hour) for day in range(7) for hour in range(10, 20)}  # no row a day late
        assert cells["timezone"] == name and name in cells["offset"]


def test_today_is_each_stores_own_today(hub) -> None:
    found = {s["store"]: s for s in fleet.overview(hub, 5, 900, now=NOW + SETTLE_S)["stores"]}  # 14:00-15:00 shown
    for store, name in ZONES.items():
        today = datetime.fromtimestamp(NOW, ZoneInfo(name)).date()
        truth = truth_by_day(store)
        visits_today = truth[today]
        assert found[store]["visits_today"] == (visits_today if visits_today >= 5 else None), store
        assert found[store]["visits_7d"] == sum(n for d, n in truth.items() if today - d < timedelta(days=7))
        assert found[store]["timezone"] == name and found[store]["today_starts"].startswith(str(today))
    assert found["la"]["visits_today"] == 300  # 10:00-15:00 local; UTC's "today" would say 540
    assert found["ktm"]["visits_today"] is None  # 04:45 on 9 November there: nobody yet


def test_the_export_starts_each_bucket_at_local_midnight(hub, hub_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "export", "--db", hub_url, "--store", "la",
                           "--bucket", "day", "--since", str(FIRST), "--until", str(LAST), "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    series = json.loads(done.stdout)["stores"][0]["series"]
    starts = [datetime.fromisoformat(p["start"]) for p in series]
    assert len(starts) == 13 and all((s.hour, s.minute) == (0, 0) for s in starts)
    assert {s.utcoffset() for s in starts} == {timedelta(hours=-7), timedelta(hours=-8)}
    truth = truth_by_day("la")
    assert [p["visits"] for p in series] == [truth[d] for d in sorted(truth) if d < LAST]  # 600 a day, DST or not


def test_a_zone_set_later_rederives_the_same_rollups(tmp_path) -> None:
    def rollups(database) -> dict:
        with database.transaction() as tx:
            return {table: sorted(tx.rows(f"SELECT * FROM {table}")) for table in ("hourly", "hourly_emotions")}

    before = open_database(str(tmp_path / "before.db"))
    load(before, stores_in_zone_first=True)
    after = open_database(str(tmp_path / "after.db"))
    load(after, stores_in_zone_first=False)  # ingested in UTC
    utc = rollups(after)
    assert utc != rollups(before)
    for store, name in ZONES.items():
        assert stores.set_timezone(after, store, name) == len(open_hours(store))
        assert stores.set_timezone(after, store, name) is None  # unchanged: nothing re-read
    assert rollups(after) == rollups(before)
    stores.rederive(after)
    stores.rederive(after)
    assert rollups(after) == rollups(before)  # idempotent
    for store in ZONES:
        stores.set_timezone(after, store, "UTC")
    assert rollups(after) == utc  # and back
    assert [entry["timezone"] for entry in stores.list_store_zones(after)] == ["UTC"] * 3


def test_a_bad_zone_is_one_line_and_changes_nothing(tmp_path) -> None:
    database = open_database(str(tmp_path / "hub.db"))
    database.close()
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "x" * 100):
        done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "store", "set", "s1", "--timezone", bad,
                               "--db", str(tmp_path / "hub.db")], cwd=REPO, capture_output=True, text=True,
                              check=False)
        assert done.returncode != 0 and "time zone" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    listed = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "store", "list", "--db", str(tmp_path / "hub.db")],
                            cwd=REPO, capture_output=True, text=True, check=True)
    assert listed.stdout == ""


def test_an_admin_sets_a_zone_on_the_stores_page(tmp_path) -> None:
    database = open_database(str(tmp_path / "hub.db"))
    write_batch(database, intervals_of("la")[:100], now=NOW)
    auth.add_user(database, "adam", "admin-password", "admin")
    auth.add_user(database, "vera", "viewer-password", "viewer")
    assert viewer(database).get("/admin/stores").status_code == 403
    client = client_for(database, "adam", "admin-password")
    page = client.get("/admin/stores")
    assert page.status_code == 200 and "<td>la</td><td>UTC</td>" in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    bad = client.post("/admin/stores", data={"csrf": csrf, "store": "la", "timezone": "Mars/Olympus"})
    assert "not an IANA zone" in bad.text and stores.list_store_zones(database)[0]["timezone"] == "UTC"
    newline = client.post("/admin/stores", data={"csrf": csrf, "store": "la\n", "timezone": ZONES["la"]})
    assert "not a store name" in newline.text and len(stores.list_store_zones(database)) == 1
    assert client.post("/admin/stores", data={"csrf": "forged", "store": "la", "timezone": ZONES["la"]}
                       ).status_code == 403
    done = client.post("/admin/stores", data={"csrf": csrf, "store": "la", "timezone": ZONES["la"]})
    assert "re-derived from 100 intervals" in done.text and f"<td>la</td><td>{ZONES['la']}</td>" in done.text
    database.close()


@pytest.mark.parametrize(("name", "day"), [("Australia/Lord_Howe", date(2025, 10, 5)),  # 30-minute DST start
                                           ("Australia/Lord_Howe", date(2026, 4, 5)),  # and end
                                           ("Pacific/Chatham", date(2025, 4, 6)),  # +13:45 -> +12:45
                                           ("America/Los_Angeles", date(2026, 11, 1)),
                                           ("America/Santiago", date(2026, 9, 6)),  # DST at midnight
                                           ("Asia/Kathmandu", date(2026, 11, 1))])
def test_every_minute_lands_in_its_local_hour_and_day(name: str, day: date) -> None:
    """Against zoneinfo, minute by minute over a day with a clock change: the hour bucket is the wall
    hour (a repeated hour twice, a shortened one short), the day bucket the local date's midnight."""
    local = ZoneInfo(name)
    start = int(datetime(day.year, day.month, day.day, tzinfo=local).timestamp()) - 3 * 3600
    truth, found = Counter(), Counter()
    for t in range(start, start + 30 * 3600, 60):
        wall = datetime.fromtimestamp(t, local)
        hour, midnight = localtime.rollup_buckets(name, t)
        truth[(wall.date(), wall.hour, wall.fold)] += 1
        bucket = datetime.fromtimestamp(hour, local)
        found[(bucket.date(), bucket.hour, bucket.fold)] += 1
        assert datetime.fromtimestamp(midnight, local).date() == wall.date()
        assert localtime.hour_start(name, hour) == hour  # a bucket's start is its own bucket
    assert found == truth


def test_a_zone_this_host_cannot_read_degrades_to_utc_for_that_store_only(tmp_path, caplog) -> None:
    database = open_database(str(tmp_path / "hub.db"))
    with database.transaction(write=True) as tx:  # as a hub with other tz data might have left it
        tx.run("INSERT INTO stores (store, timezone, set_at) VALUES ('la', 'right/America/New_York', 0)")
    result = write_batch(database, intervals_of("la")[:50] + intervals_of("ktm")[:50], now=NOW)
    assert result.new == 100  # the ingest goes on, for that store too
    assert {s["store"] for s in fleet.overview(database, 5, 900, now=NOW)["stores"]} == {"la", "ktm"}
    assert any("right/America/New_York" in r.getMessage() and "UTC" in r.getMessage() for r in caplog.records)
    for bad in ("right/America/New_York", "posix/Europe/Berlin", "localtime", "Factory", "la\n"):
        with pytest.raises(localtime.TimeZoneError):
            stores.set_timezone(database, "la", bad)
    database.close()


@pytest.mark.parametrize(("name", "since", "until", "shown"), [
    ("America/Los_Angeles", "2026-11-22", "2026-11-29", "Sun 22 Nov – Sat 28 Nov 2026"),  # until: exclusive
    ("America/Los_Angeles", "2026-11-22", "2026-11-23", "Sun 22 Nov 2026"),
    ("America/Los_Angeles", "2026-10-31", "2026-11-02", "Sat 31 Oct – Sun 1 Nov 2026"),  # a 25-hour day inside
    ("America/Los_Angeles", "2026-12-28", "2027-01-02", "Mon 28 Dec 2026 – Fri 1 Jan 2027"),
    ("America/Los_Angeles", "2026-11-23", "2026-11-30T06:00", "Mon 23 Nov, 00:00 – Mon 30 Nov 2026, 06:00"),
    ("America/Los_Angeles", "2026-11-30T10:00", "2026-11-30T14:00", "Mon 30 Nov 2026, 10:00 – 14:00"),
    ("America/Los_Angeles", "2026-11-29T10:00", "2026-11-30", "Sun 29 Nov 2026, 10:00 – 24:00"),
    ("Asia/Kathmandu", "2026-11-22", "2026-11-24", "Sun 22 Nov – Mon 23 Nov 2026"),
])
def test_a_range_reads_as_the_stores_dates(name: str, since: str, until: str, shown: str) -> None:
    """Pages show ranges as the days a person reads in the store's zone, never an ISO string."""
    assert localtime.readable_range(name, localtime.parse_local(since, name), localtime.parse_local(until, name)) == shown


def test_a_time_reads_in_the_stores_zone_with_the_zone_named() -> None:
    moment = datetime(2026, 11, 30, 13, 29, tzinfo=timezone.utc).timestamp()
    assert localtime.readable_time("America/Los_Angeles", moment) == "Mon 30 Nov 2026, 05:29 PST"
    assert localtime.readable_time("America/Los_Angeles", moment - 60 * 86400) == "Thu 1 Oct 2026, 06:29 PDT"
    assert localtime.readable_time("Asia/Kathmandu", moment) == "Mon 30 Nov 2026, 19:14 UTC+05:45"  # no short name
    assert localtime.readable_time("UTC", moment, year=False) == "Mon 30 Nov, 13:29 UTC"

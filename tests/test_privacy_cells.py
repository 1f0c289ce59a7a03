"""k-anonymity that survives differencing (edgeemo.aggregates.Release), attacked as a logged-in viewer would.

The threat: a viewer runs any number of queries through the API, the pages and the export (any ranges
and boundaries, buckets, zones, devices, k, compare modes) and combines the answers. The claim tested:
what a group under k holds never changes any answer. Two fleets are built that differ only inside the
cells (one device's zone over one local hour) with fewer than k visits; every query of the battery must
answer both identically. A third fleet differs in one cell of k or more: the battery must notice it (so
it can fail). The issue's own attacks (10-11 vs 10-12, a device minus its zones, all zones minus one)
are spelled out on both engines.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import pytest

from edgeemo.aggregates import CELL_S, DEFAULT_GROUPS, SETTLE_S, Release
from edgeemo.hub.admin import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.localtime import local_iso
from edgeemo.hub.reading import queries
from edgeemo.hub.storage import stores
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.upkeep import run_upkeep
from edgeemo.payload_build import build_payload
from edgeemo.wire import iso
from tests.conftest import REPO
from tests.test_hub_web import client_for

K = 5  # the hub's default k
LA = "America/Los_Angeles"
LABELS = loadgen.LABELS
HOUR = 3600
NOW = int(time.time())
# three local days about ten days ago: in every overview window's "before" (7-14 days) and 30 days,
# whichever side of a midnight the two fleets are read on
FIRST_DAY = datetime.fromtimestamp(NOW - 11 * 86400, ZoneInfo(LA)).date()


def at(day: int, hour: int, minute: int = 0) -> int:
    """Unix seconds of a local time on the fleets' day 0, 1 or 2 (a DST change in between is fine)."""
    date = FIRST_DAY + timedelta(days=day)
    return int(datetime(date.year, date.month, date.day, hour, minute, tzinfo=ZoneInfo(LA)).timestamp())


def _day0() -> int:
    return at(0, 0)


def report(store: str, device: str, zone: str, start: int, emotions: dict[str, int], faces: int = 0,
           dwell: float = 0.0, seq: int = 1) -> Interval:
    visits = sum(emotions.values())
    payload = build_payload(store_id=store, device_id=device, zone=zone, seq=seq, start=start, length_s=60,
                            labels=LABELS, faces_seen=visits + faces, visits_by_emotion=emotions,
                            groups=DEFAULT_GROUPS.for_labels(LABELS), dwell_s_total=dwell, model=None)
    parsed = parse_message(store, device, json.dumps(payload).encode(), 16384, NOW + 86400)
    assert isinstance(parsed, Interval), parsed
    return parsed


CAMERAS = {"s": [("cam-1", "door"), ("cam-1", "till"), ("cam-2", "all")], "t": [("cam-9", "all")]}


def fleet(small_seed: int, big_change: bool = False) -> list[Interval]:
    """Three days, 09:00-18:00 local, a report a minute from every camera's zone (most of them empty).
    Cells of k or more are drawn from one seed; small cells (1..k-1 visits) from `small_seed`; the
    issue's scene on day 0: 20 visits at the door 10:00-10:20, one angry at 11:05, two sad at the till."""
    big, small = random.Random(1), random.Random(small_seed)
    minutes: dict[tuple, dict[str, int]] = {}
    kinds: dict[tuple, str] = {}
    for store, cameras in CAMERAS.items():
        for day in range(3):
            for hour in range(9, 18):
                start = at(day, hour)
                for device, zone in cameras:
                    kind = big.choice(["big", "big", "small", "empty"])
                    if day == 0 and store == "s" and hour in (10, 11):
                        kind = {("door", 11): "small", ("till", 10): "small"}.get((zone, hour), "scene")
                    kinds[(store, device, zone, start)] = kind
                    if kind == "big":
                        count, rng = big.randint(K, 40), big
                    elif kind == "small":
                        count, rng = small.randint(0, K - 1), small  # a small group may also be nobody
                    else:
                        count, rng = 0, big
                    for _ in range(count):
                        minute = rng.randrange(60)
                        label = rng.choice(LABELS)
                        cell = minutes.setdefault((store, device, zone, start + 60 * minute), {})
                        cell[label] = cell.get(label, 0) + 1
    scene = {("s", "cam-1", "door", at(0, 10, m)): {"happy" if m % 2 else "neutral": 1} for m in range(20)}
    scene[("s", "cam-1", "door", at(0, 11, 5))] = {"angry" if small_seed == 1 else "happy": 1}
    scene[("s", "cam-1", "till", at(0, 10, 30))] = {"sad": 2} if small_seed == 1 else {"happy": 1}
    minutes.update(scene)
    if big_change:  # one more visit in a cell of k or more: an answer must change
        key = ("s", "cam-1", "door", at(0, 10, 2))
        minutes[key] = {**minutes[key], "angry": minutes[key].get("angry", 0) + 1}
    reports: list[Interval] = []
    seqs: dict[str, int] = {}
    for store, cameras in CAMERAS.items():  # every minute of opening hours is reported, visits or not
        for day in range(3):
            for minute in range(9 * 60, 18 * 60):
                start = at(day, 0) + 60 * minute  # the days' opening hours hold no DST change
                for device, zone in cameras:
                    emotions = minutes.get((store, device, zone, start), {})
                    visits = sum(emotions.values())
                    rng = small if kinds.get((store, device, zone, start - start % HOUR)) == "small" else big
                    seqs[device] = seqs.get(device, 0) + 1
                    reports.append(report(store, device, zone, start, emotions, rng.randint(0, 1),
                                          round(visits * rng.uniform(5, 60), 1), seqs[device]))
    return reports


def build(path: Path, small_seed: int, big_change: bool = False):
    database = open_database(str(path))
    stores.set_timezone(database, "s", LA)
    rows = fleet(small_seed, big_change)
    for i in range(0, len(rows), 5000):
        write_batch(database, rows[i:i + 5000], now=NOW)
    with database.transaction(write=True) as tx:  # the devices' last report is the same, long past, in every fleet:
        # stale in every battery (a recent one would turn stale on the pages between two batteries)
        tx.run("UPDATE devices SET last_seen = ?, last_start = ?", (NOW, NOW - 86400))
    auth.add_user(database, "vera", "viewer-password", "viewer")
    return database


VOLATILE = {"generated_at", "checked_at", "today_starts", "last_seen", "last_interval", "stale"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def battery(database, url: str) -> dict[str, object]:
    """Every answer a viewer can get about the scene's days, keyed by what was asked."""
    client = client_for(database, "vera", "viewer-password")
    local = {name: quote(local_iso(LA, moment)) for name, moment in {
        "d0": at(0, 0), "10:00": at(0, 10), "10:20": at(0, 10, 20), "11:00": at(0, 11), "11:05": at(0, 11, 5),
        "11:06": at(0, 11, 6), "12:00": at(0, 12), "d1": at(1, 0), "d3": at(2, 0) + 86400}.items()}
    ranges = [("10:00", "11:00"), ("10:00", "12:00"), ("10:20", "11:06"), ("11:00", "12:00"), ("11:05", "11:06"),
              ("11:06", "12:00"), ("10:00", "d1"), ("d0", "d1"), ("d0", "d3"), ("12:00", "d3")]
    answers: dict[str, object] = {}
    for since, until in ranges:
        for zone in ("", "door", "till", "all"):
            for view in ("series", "emotions", "heatmap", "devices"):
                for extra in ("", "&bucket=hour", "&bucket=day", "&bucket=week", "&min_visits=6", "&min_visits=21"):
                    if view != "series" and extra.startswith("&bucket=w"):
                        continue
                    path = (f"/api/stores/s/{view}?since={local[since]}&until={local[until]}"
                            f"{'&zone=' + zone if zone else ''}{extra}")
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.text)
                    answers[path] = _strip(response.json())
        answers[f"csv {since} {until}"] = client.get(f"/api/stores/s/series?since={local[since]}&until={local[until]}"
                                                     "&format=csv").text
    for path in ("/api/overview", f"/api/compare?stores=s,t&since={local['d0']}&until={local['d3']}",
                 (f"/api/compare?stores=s&since={local['10:00']}&until={local['11:00']}&since2={local['10:00']}"
                  f"&until2={local['12:00']}&bucket=hour"),
                 f"/api/stores/t/series?since={local['d0']}&until={local['d3']}&bucket=hour"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        answers[path] = _strip(response.json())
    page = client.get(f"/stores/s?since={local['d0']}&until={local['d3']}&bucket=hour").text
    tokens = r'(nonce|value|content)="[^"]*"|"generated_at": "[^"]*"|<time datetime="[^"]*" id="generated">[^<]*'  # per request
    answers["page"] = re.sub(tokens, "", page)
    answers["overview page"] = re.sub(tokens, "", client.get("/").text)
    if url:
        export = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "export", "--db", url, "--store", "s",
                                 "--since", unquote(local["d0"]), "--until", unquote(local["d3"]), "--bucket", "hour", "--format", "csv"],
                                cwd=REPO, capture_output=True, text=True, check=False)
        assert export.returncode == 0, export.stderr
        answers["hub export"] = export.stdout
    return answers


@pytest.fixture(scope="module")
def fleets(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("fleets")
    answers = {}
    for name, seed, change in (("one", 1, False), ("other small groups", 2, False), ("one big change", 1, True)):
        path = base / f"{name.replace(' ', '-')}.db"
        database = build(path, seed, change)
        answers[name] = battery(database, str(path))  # summed from the cells
        run_upkeep(database, K, 90)  # the days sealed, as `hub serve` does every minute
        answers[f"{name}, sealed"] = battery(database, str(path))  # whole days from the sealed ones
        database.close()
    return answers


@pytest.mark.slow  # the 857-question battery over four fleets, ~70 s; in make test-all (CI), out of the fast suite so it stays under 8 minutes
@pytest.mark.parametrize("read", ["", ", sealed"])
def test_what_a_group_under_k_holds_changes_no_answer(fleets, read: str) -> None:
    one, other = fleets["one" + read], fleets["other small groups" + read]
    assert one.keys() == other.keys() and len(one) > 400
    differing = [key for key in one if one[key] != other[key]]
    assert differing == []


@pytest.mark.slow  # the battery's fleets (see above)
def test_the_sealed_days_answer_as_the_cells_do(fleets) -> None:
    cells, sealed = fleets["one"], fleets["one, sealed"]
    assert [key for key in cells if cells[key] != sealed[key]] == []


@pytest.mark.slow  # the battery's fleets (see above)
def test_the_battery_sees_a_change_in_a_cell_of_k_or_more(fleets) -> None:
    one, changed = fleets["one"], fleets["one big change"]
    differing = [key for key in one if one[key] != changed[key]]
    assert len(differing) > 50  # the cell 10:00-11:00 at the door is in most answers about day 0


def test_the_issues_attacks_recover_nothing(hub_url: str) -> None:
    """10-11 vs 10-12 at the door, the device minus its zones, all zones minus the door."""
    database = open_database(hub_url)
    stores.set_timezone(database, "s", LA)
    write_batch(database, fleet(1), now=NOW)
    day0 = _day0()
    door_10 = queries.emotion_mix(database, "s", at(0, 10), at(0, 11), K, "door")
    door_10_12 = queries.emotion_mix(database, "s", at(0, 10), at(0, 12), K, "door")
    assert door_10["visits"] == door_10_12["visits"] == 20  # the angry visitor at 11:05 is in neither
    assert door_10["shares_raw"] == door_10_12["shares_raw"] and door_10["shares_raw"]["angry"] == 0
    assert queries.emotion_mix(database, "s", at(0, 11), at(0, 12), K, "door")["suppressed"]
    cam1 = next(d for d in queries.devices(database, "s", day0, at(1, 0), K, 3600) if d["device"] == "cam-1")
    released_zones = sum(z["visits"] or 0 for z in cam1["zones"].values())
    assert cam1["visits"] == released_zones  # a device is the sum of its zones' released cells
    everything = queries.series(database, "s", day0, at(1, 0), "day", K)["series"][0]
    parts = [queries.series(database, "s", day0, at(1, 0), "day", K, zone)["series"][0]
             for zone in ("door", "till", "all")]
    assert everything["visits"] == sum(p["visits"] or 0 for p in parts)  # all zones minus some: whole released cells
    till_10 = queries.series(database, "s", at(0, 10), at(0, 11), "hour", K, "till")
    assert till_10["series"] == [] and till_10["total"]["suppressed"]  # the two sad visitors: not even listed
    database.close()


def test_the_current_hour_shows_when_it_is_over(tmp_path: Path) -> None:
    """Read at 10:20 and at 10:21, the hour 10:00-11:00 would give away whoever came at 10:20: it shows
    whole, once it is over and settled (its last reports arrive up to 15 minutes late)."""
    database = open_database(str(tmp_path / "hub.db"))
    hour = NOW - NOW % HOUR - 5 * HOUR
    write_batch(database, [report("u", "cam", "all", hour + 60 * m, {"happy": 1}, seq=m + 1) for m in range(21)],
                now=NOW)
    during = [queries.series(database, "u", hour, hour + HOUR, "hour", K, now=moment)["series"]
              for moment in (hour + 19 * 60 + 59, hour + 20 * 60 + 59, hour + HOUR + SETTLE_S - 1)]
    after = queries.series(database, "u", hour, hour + HOUR, "hour", K, now=hour + HOUR + SETTLE_S)["series"]
    database.close()
    assert during == [[], [], []]  # until the hour is over and its last reports are in
    assert after[0]["visits"] == 21


def test_honest_totals_are_unchanged_where_no_group_is_small(tmp_path: Path) -> None:
    """The fleet without its small cells: every day's total is the plain sum of its reports."""
    rows = [r for r in fleet(1) if r.store == "s"]
    cells: dict[tuple, int] = {}
    for r in rows:
        key = (r.device, r.zone, r.start - r.start % HOUR)  # LA's hours are UTC's
        cells[key] = cells.get(key, 0) + r.visits
    kept = [r for r in rows if cells[(r.device, r.zone, r.start - r.start % HOUR)] not in range(1, K)]
    database = open_database(str(tmp_path / "hub.db"))
    stores.set_timezone(database, "s", LA)
    write_batch(database, kept, now=NOW)
    found = queries.series(database, "s", at(0, 0), at(2, 23), "day", K)["series"]
    database.close()
    truth = [sum(r.visits for r in kept if at(day, 0) <= r.start < at(day, 23)) for day in range(3)]
    assert [p["visits"] for p in found] == truth and len(kept) < len(rows) and min(truth) > 100


def test_ranges_are_released_as_whole_cells() -> None:
    now = 10 * HOUR + SETTLE_S + 1
    rule = Release(5, now=now)
    assert rule.keeps(5, 9 * HOUR) and not rule.keeps(4, 9 * HOUR) and not rule.keeps(50, 9 * HOUR + 2)
    assert rule.sql("h") == (" AND h.visits >= ? AND h.bucket <= ?", [5, now - CELL_S - SETTLE_S])
    assert Release(1, now).keeps(1, now) and Release(1, now).sql() == (" AND visits >= ?", [1])  # k=1: no anonymity


def _device_db(path: Path, small_seed: int) -> Path:
    """A device's own database: three days of visits in two zones, the small hours drawn from `small_seed`."""
    import sqlite3
    from contextlib import closing

    from edgeemo.edge.analytics.store import AnalyticsStore

    AnalyticsStore(path).close()
    big, small = random.Random(1), random.Random(small_seed)
    first = NOW - NOW % 86400 - 10 * 86400
    rows = []
    for hour in range(first, first + 3 * 86400, HOUR):
        for zone in ("door", "till"):
            count, rng = (big.randint(K, 30), big) if big.random() < 0.6 else (small.randint(0, K - 1), small)
            for _ in range(count):
                end = hour + rng.uniform(0, HOUR - 1)
                rows.append((end - 10, end, round(rng.uniform(1, 60), 2), rng.choice(LABELS), "{}", zone))
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany("INSERT INTO visits(start, end, dwell_s, dominant, shares, zone) VALUES (?,?,?,?,?,?)",
                               rows)
    return path


@pytest.mark.slow  # every range, bucket, zone and k of edgeemo report, ~60 s; in make test-all (CI), out of the fast suite so it stays under 8 minutes
def test_edgeemo_report_differences_recover_nothing_either(tmp_path: Path) -> None:
    """`edgeemo report` on a device: other ranges (cut mid-hour), buckets, zones and k, the same answers
    whatever the hours under k hold, even whether anyone came in them."""
    from edgeemo.edge.analytics.report import build_report

    first = NOW - NOW % 86400 - 10 * 86400
    reports = {}
    for seed in (1, 2):
        db = _device_db(tmp_path / f"device-{seed}.db", seed)
        answers = {}
        for since, until in ((0, 86400), (600, 86400 - 600), (3600 + 1, 7200 - 1), (0, 3 * 86400)):
            for bucket in ("hour", "day"):
                for zone in (None, "door", "till"):
                    for k in (K, 7):
                        out = tmp_path / f"r{seed}"
                        found = build_report(db, out, iso(first + since), iso(first + until), bucket, k, zone)
                        answers[(since, until, bucket, zone, k)] = {key: value for key, value in found.items()
                                                                     if key not in ("database", "since", "until")}
        reports[seed] = answers
    assert reports[1] == reports[2]
    assert reports[1][(0, 3 * 86400, "day", None, K)]["visits"] > 500  # and the big hours are there

"""Data that lives for years: the overview's released days sealed by the upkeep (the same numbers
as summed from the cells), raw intervals past retention dropped (whole monthly partitions on
PostgreSQL) and refused when sent again, roll-ups kept, and a zone change after pruning that
keeps what it cannot re-cut."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.bench import loadgen
from edgeemo.hub.config import HubConfig
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.reading import queries
from edgeemo.hub.storage import partitions, stores, upkeep
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.upkeep import run_upkeep, sealed_k
from edgeemo.payload_build import build_payload

NOW = int(time.time())
DAY = 86400
VOLATILE = ("generated_at",)


def shown(database, k: int = 5) -> dict:
    result = fleet.overview(database, k, 900, now=NOW)
    return {key: value for key, value in result.items() if key not in VOLATILE}


def minutes(store: str, start: int, count: int, visits: int = 3, seq: int = 1) -> list[Interval]:
    """`count` 1-minute intervals from `start` (a minute boundary), `visits` each (2 happy, the rest sad)."""
    found = []
    for i in range(count):
        payload = build_payload(store_id=store, device_id="cam", zone="all", seq=seq + i, start=start + 60 * i,
                                length_s=60, labels=loadgen.LABELS, faces_seen=visits,
                                visits_by_emotion={"happy": 2, "sad": visits - 2},
                                groups=DEFAULT_GROUPS.for_labels(loadgen.LABELS), dwell_s_total=5.0 * visits,
                                model=None)
        parsed = parse_message(store, "cam", json.dumps(payload).encode(), 16384, NOW + DAY)
        assert isinstance(parsed, Interval), parsed
        found.append(parsed)
    return found


def test_the_sealed_days_show_what_the_cells_show(hub_url: str) -> None:
    database = open_database(hub_url)
    loadgen.generate(database, stores=3, days=40, now=NOW)
    cells = shown(database)  # no upkeep yet: summed from the cells
    assert run_upkeep(database, 5, 90, now=NOW).sealed_days == -1  # the first round seals every day
    with database.transaction() as tx:
        assert sealed_k(tx) == 5 and tx.one("SELECT count(*) FROM released_daily")[0] > 100
    assert shown(database) == cells and cells["stores"][0]["visits_30d"] > 1000
    late = minutes("load-001", NOW - NOW % 3600 - 5 * DAY + 600, 30, seq=10_000_000)  # a re-send, days late
    write_batch(database, late, now=NOW)
    before = shown(database)["stores"][1]["visits_7d"]
    assert run_upkeep(database, 5, 90, now=NOW).sealed_days == 1  # that day, once its hour settled
    assert shown(database)["stores"][1]["visits_7d"] == before + 90
    cells_7 = shown(database, 7)  # a k the days were not sealed with: summed from the cells
    run_upkeep(database, 7, 90, now=NOW)  # the hub's k changed: everything sealed again with it
    with database.transaction() as tx:
        assert sealed_k(tx) == 7
    assert shown(database, 7) == cells_7
    database.close()


def test_raw_intervals_past_retention_are_dropped_and_the_rollups_stay(hub_url: str) -> None:
    database = open_database(hub_url)
    old_start = NOW - NOW % DAY - 200 * DAY + 10 * 3600  # 10:00 UTC: its two hours stay in one month
    if database.dialect == "postgresql":
        with database.transaction(write=True) as tx:  # as a hub running then would have made it
            partitions.ensure_months(tx, old_start, old_start)
    write_batch(database, minutes("s", old_start, 120) + minutes("s", NOW - NOW % 3600 - 10 * DAY, 60, seq=200),
                now=NOW)
    with database.transaction() as tx:
        old_month = partitions.partition_name(partitions.month_start(old_start))
        if database.dialect == "postgresql":
            assert tx.one(f"SELECT count(*) FROM {old_month}")[0] == 120  # the old rows are in their month
    result = run_upkeep(database, 5, 90, now=NOW)
    with database.transaction() as tx:
        raw = tx.one("SELECT count(*) FROM intervals")[0]
        cells = tx.one("SELECT sum(visits) FROM hourly WHERE bucket < ?", (NOW - 100 * DAY,))[0]
        if database.dialect == "postgresql":
            assert old_month in result.dropped_partitions and old_month not in partitions.partitions(tx)
        else:
            assert result.pruned_rows == 120
    assert raw == 60 and cells == 360  # the raw rows are gone, their hours stay
    old = queries.series(database, "s", old_start - DAY, old_start + DAY, "day", 5, now=NOW)
    assert old["total"]["visits"] == 360
    # a zone change re-cuts only the hours it still has the raw rows of; the older ones stay as cut, with
    # their day in the new zone: the sealed days and the cells answer alike
    stores.set_timezone(database, "s", "Asia/Kathmandu")
    again = queries.series(database, "s", old_start - 2 * DAY, old_start + 2 * DAY, "day", 5, now=NOW)
    by_hour = queries.series(database, "s", old_start - 2 * DAY, old_start + 2 * DAY, "hour", 5, now=NOW)
    recent = queries.series(database, "s", NOW - 11 * DAY, NOW, "day", 5, now=NOW)
    with database.transaction() as tx:
        fresh_now = upkeep.sealed_until(tx, 5, NOW, NOW, NOW)
        stale_later = upkeep.sealed_until(tx, 5, NOW, NOW, NOW + upkeep.SEAL_FRESH_S + 1)
    database.close()
    assert again["total"]["visits"] == by_hour["total"]["visits"] == 360 and recent["total"]["visits"] == 180
    assert [p["visits"] for p in again["series"]] == [sum(
        h["visits"] for h in by_hour["series"] if h["start"][:10] == p["start"][:10]) for p in again["series"]]
    assert fresh_now and not stale_later  # an upkeep that stopped leaves the readers on the cells


def test_an_interval_past_retention_is_refused_not_counted_twice() -> None:
    config = HubConfig()
    rules = config.ingest.time_rules(config.retention)
    payload = build_payload(store_id="s", device_id="cam", zone="all", seq=1, start=NOW - NOW % 60 - 91 * DAY,
                            length_s=60, labels=loadgen.LABELS, faces_seen=1, visits_by_emotion={"happy": 1},
                            groups=DEFAULT_GROUPS.for_labels(loadgen.LABELS), dwell_s_total=1.0, model=None)
    refused = parse_message("s", "cam", json.dumps(payload).encode(), 16384, NOW, rules)
    assert not isinstance(refused, Interval) and refused.reason == "time" and "retention" in refused.error
    recent = dataclasses.replace(rules, max_age_s=92 * DAY)
    assert isinstance(parse_message("s", "cam", json.dumps(payload).encode(), 16384, NOW, recent),
                      Interval)


@pytest.mark.parametrize("raw_days", [6, 40000])
def test_a_retention_out_of_bounds_is_refused(tmp_path, raw_days: int) -> None:
    from edgeemo.errors import EdgeemoError
    from edgeemo.hub.config import load_config

    path = tmp_path / "hub.toml"
    path.write_text(f"[retention]\nraw_days = {raw_days}\n")
    with pytest.raises(EdgeemoError, match="retention.raw_days"):
        load_config(path)


def test_an_sqlite_backup_while_ingesting_is_one_consistent_moment(tmp_path) -> None:
    import threading

    from edgeemo.hub.storage.backup import backup_sqlite
    from tests.test_hub_store import rollups_equal_sums

    database = open_database(str(tmp_path / "hub.db"))
    written, stop = threading.Event(), threading.Event()

    def ingest() -> None:
        for batch in range(400):
            write_batch(database, minutes("busy", NOW - NOW % 3600 - 3 * DAY + 3600 * batch, 30, seq=1 + 30 * batch),
                        now=NOW)
            written.set()
            if stop.is_set():
                break

    writer = threading.Thread(target=ingest)
    writer.start()
    assert written.wait(60)
    size = backup_sqlite(database, tmp_path / "copy.db")
    stop.set()
    writer.join()
    database.close()
    copy = open_database(str(tmp_path / "copy.db"))
    with copy.transaction() as tx:
        copied = tx.one("SELECT count(*) FROM intervals")[0]
    rollups_equal_sums(copy)  # the cells equal the intervals copied: no half-written batch
    copy.close()
    assert size > 0 and copied % 30 == 0 and copied >= 30
    with pytest.raises(Exception, match="exists already"):
        backup_sqlite(open_database(str(tmp_path / "hub.db")), tmp_path / "copy.db")


def test_pg_dump_restored_into_a_fresh_cluster_exports_the_same(postgres_cluster, tmp_path) -> None:
    import subprocess
    import sys

    from edgeemo.hub.bench.servers import Postgres, _pg_bin
    from tests.conftest import REPO, new_postgres_database

    url = new_postgres_database(postgres_cluster)
    database = open_database(url)
    loadgen.generate(database, stores=2, days=10, now=NOW)
    stores.set_timezone(database, loadgen.store_name(1), "Asia/Kathmandu")
    run_upkeep(database, 5, 90, now=NOW)
    database.close()
    dump = tmp_path / "hub.dump"
    done = subprocess.run([_pg_bin("pg_dump"), "-Fc", "-d", url, "-f", str(dump)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    fresh = Postgres(settings={"fsync": "off"}).start()
    try:
        done = subprocess.run([_pg_bin("pg_restore"), "--no-owner", "-d", fresh.url, str(dump)], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        until = time.strftime("%Y-%m-%d", time.gmtime(NOW))
        exports = [subprocess.run([sys.executable, "-m", "edgeemo", "hub", "export", "--db", where, "--since",
                                   "2000-01-01", "--until", until, "--bucket", "day", "--format", "json"],
                                  cwd=REPO, capture_output=True, text=True, check=False) for where in (url, fresh.url)]
    finally:
        fresh.stop()
    assert exports[0].returncode == 0 and exports[0].stdout == exports[1].stdout, exports[1].stderr
    assert json.loads(exports[0].stdout)["stores"][1]["timezone"] == "Asia/Kathmandu"
    assert len(json.loads(exports[0].stdout)["stores"][0]["series"]) >= 9

"""One hostile device must not stop anyone, on both databases (issue 34, F1, F2, F4): the sums are
BIGINT (an existing database upgrades), a cell past 2^31 takes more of itself and five honest devices
in one commit, the upkeep isolates a store it cannot seal and says so on the health check, and gap
repair's back-off is arithmetic that cannot overflow."""

from __future__ import annotations

import dataclasses
import json
import time

import paho.mqtt.client as mqtt
import pytest
from starlette.testclient import TestClient

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.bench import loadgen
from edgeemo.hub.config import HubConfig, IngestSection, MqttSection
from edgeemo.hub.ingest.batches import BatchStore, IngestStats, Item
from edgeemo.hub.ingest.gaps import backoff_s, check_gaps, due_requests
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage import migrations, partitions
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.upkeep import Upkeep, run_upkeep
from edgeemo.hub.web import create_app
from edgeemo.payload_build import build_payload
from tests.conftest import run_cli, wait_for

NOW = int(time.time())
DAY, BIG = 86400, 2**31 - 1
HOUR = NOW - NOW % 3600 - 2 * 3600  # an hour that is over, two hours back


def body(store: str, device: str, start: int, seq: int, visits: int = 5) -> bytes:
    return json.dumps(build_payload(
        store_id=store, device_id=device, zone="all", seq=seq, start=start, length_s=60, labels=loadgen.LABELS,
        faces_seen=visits, visits_by_emotion={"happy": visits}, groups=DEFAULT_GROUPS.for_labels(loadgen.LABELS),
        dwell_s_total=10.0, model=None)).encode()


def minute(store: str, device: str, start: int, seq: int, visits: int = 5) -> Interval:
    parsed = parse_message(store, device, body(store, device, start, seq, visits), 16384, NOW)
    assert isinstance(parsed, Interval), parsed
    return parsed


def huge(interval: Interval) -> Interval:
    """2^31 - 1 visits: refused by today's parser (implausible), stored by an older hub or another path."""
    return dataclasses.replace(interval, visits=BIG, faces_seen=BIG, positive=BIG,
                               emotions=tuple((label, BIG if label == "happy" else 0) for label, _ in interval.emotions))


def test_a_cell_past_2_31_takes_more_of_itself_and_five_honest_devices_in_one_commit(hub_url: str) -> None:
    """F1: PostgreSQL's 32-bit cell overflowed on every later message of it; each batch then cost retries."""
    database = open_database(hub_url)
    write_batch(database, [huge(minute("s0", "big", HOUR, 1))], now=NOW)
    acked, stats = [], IngestStats()
    store = BatchStore(database, IngestSection(), stats, ack=acked.append, wait=lambda s: False,
                       log_once=lambda *a: None)
    items = [Item(mqtt.MQTTMessage(mid=i), 0.0, interval=interval) for i, interval in enumerate(
        [minute("s0", "big", HOUR + 60, 2), minute("s0", "big", HOUR + 120, 3),
         *(minute(f"s{i}", "cam", HOUR, 1) for i in range(1, 6))])]
    try:
        store.store(items)
        assert stats.db_errors == 0 and stats.dead_letters == 0  # stored at the first commit: no retry, no delay
        assert len(acked) == 7 and stats.new == 7
        with database.transaction() as tx:
            assert tx.one("SELECT visits FROM hourly WHERE device = 'big'")[0] == BIG + 10
            assert tx.one("SELECT count(*) FROM intervals WHERE device = 'cam'")[0] == 5
    finally:
        database.close()
    assert parse_message("s0", "big", body("s0", "big", HOUR + 180, 4, visits=BIG), 16384, NOW).reason == \
        "implausible"  # and no new one comes in


def _version_7_cell(tx, store: str, device: str, bucket: int, visits: int) -> None:
    """A cell as a version-7 hub wrote it (its writer is gone: today's writes version 9's tables too)."""
    from edgeemo.hub.storage.rollups import buckets_of
    from edgeemo.hub.storage.schema import HOURLY, HOURLY_EMOTIONS

    values = {"store": store, "device": device, "zone": "all", "bucket": bucket, "intervals": 1, "visits": visits,
              "faces_seen": visits, "positive": visits, "day": buckets_of("UTC", bucket)[1]}
    columns = HOURLY.at(7)
    tx.run(f"INSERT INTO hourly ({', '.join(c.name for c in columns)}) VALUES ({', '.join('?' for _ in columns)})",
           tuple(values.get(c.name, 0 if not c.null else None) for c in columns))
    tx.run(f"INSERT INTO {HOURLY_EMOTIONS.name} (store, device, zone, bucket, label, visits) VALUES (?, ?, ?, ?, ?, ?)",
           (store, device, "all", bucket, "happy", visits))


def test_a_version_7_database_widens_its_sums_and_keeps_its_cells(hub_url: str, monkeypatch) -> None:
    import edgeemo.hub.storage.db as db_module

    monkeypatch.setattr(db_module, "MIGRATIONS", migrations.MIGRATIONS[:7])
    monkeypatch.setattr(db_module, "latest_version", lambda: 7)
    database = open_database(hub_url)
    with database.transaction(write=True) as tx:
        assert database.schema_version(tx) == 7
        _version_7_cell(tx, "s0", "big", HOUR, BIG)
    database.close()
    monkeypatch.undo()
    database = open_database(hub_url)
    try:
        write_batch(database, [minute("s0", "big", HOUR + 60, 2)], now=NOW)
        with database.transaction() as tx:
            assert database.schema_version(tx) == migrations.latest_version() >= 8
            assert tx.one("SELECT visits FROM hourly")[0] == BIG + 5
            assert tx.one("SELECT sum(visits) FROM hourly_emotions")[0] == BIG + 5
            assert tx.one("SELECT sum(visits) FROM hourly_bands")[0] == BIG + 5  # the old cell's as unsized
            if database.dialect == "postgresql":
                types = dict(tx.rows("SELECT table_name || '.' || column_name, data_type FROM "
                                     "information_schema.columns WHERE column_name IN ('visits', 'intervals')"))
                assert {types[f"{t}.visits"] for t in ("hourly", "hourly_emotions", "released_daily",
                                                       "released_daily_emotions")} == {"bigint"}
                assert types["hourly.intervals"] == "bigint" and types["intervals.visits"] == "integer"
    finally:
        database.close()


def _old_row(database) -> None:
    """A raw interval 200 days old, past the 90 days kept: the retention must delete it."""
    old = NOW - NOW % DAY - 200 * DAY + 10 * 3600
    if database.dialect == "postgresql":
        with database.transaction(write=True) as tx:
            partitions.ensure_months(tx, old, old)
    write_batch(database, [minute("old", "cam", old, 1)], now=NOW)


def test_two_intervals_of_2_31_in_one_day_leave_the_upkeep_whole(hub_url: str) -> None:
    """F2: their day's sum overflowed released_daily on PostgreSQL; no store was sealed, nothing pruned."""
    database = open_database(hub_url)
    try:
        _old_row(database)
        day = HOUR - HOUR % DAY - DAY
        write_batch(database, [huge(minute("big", "cam", day + 10 * 3600, 1)),
                               huge(minute("big", "cam", day + 11 * 3600, 2)),
                               *(minute(store, "cam", day + 10 * 3600, 1) for store in ("a", "b"))], now=NOW)
        result = run_upkeep(database, 5, 90, now=NOW)
        assert result.problems == [] and result.sealed_days == -1
        assert result.pruned_rows == 1 or result.dropped_partitions
        with database.transaction() as tx:
            sealed = dict(tx.rows("SELECT store, visits FROM released_daily"))
            assert tx.one("SELECT count(*) FROM intervals WHERE store = 'old'")[0] == 0
        assert sealed == {"a": 5, "b": 5, "big": 2 * BIG, "old": 5}  # the cells stay: only raw rows go
    finally:
        database.close()


def test_a_store_the_database_cannot_seal_is_named_and_the_others_are_sealed(hub_url: str) -> None:
    """Cells whose day sums past 2^63 (stand-ins for any cell a database refuses to sum): that store's day
    stays dirty and is named; every other store and that store's other days are sealed; retention runs;
    health says degraded; `hub upkeep` says it in one line and exits 1."""
    database = open_database(hub_url)
    day = HOUR - HOUR % DAY - DAY
    try:
        _old_row(database)
        write_batch(database, [minute("a", "cam", day + 600, 1), minute("bad", "cam", day - DAY + 600, 1)], now=NOW)
        with database.transaction(write=True) as tx:
            for hour in (10, 11):
                tx.run("INSERT INTO hourly (store, device, zone, bucket, intervals, faces_seen, visits, positive, "
                       "negative, dwell_s_total, day) VALUES ('bad', 'cam', 'all', ?, 1, 1, ?, 0, 0, 1.0, ?)",
                       (day + hour * 3600, 2**62, day))
        result = run_upkeep(database, 1, 90, now=NOW)
        assert len(result.problems) == 1 and "store bad: 1 day(s) not sealed" in result.problems[0], result.problems
        assert result.pruned_rows == 1 or result.dropped_partitions
        with database.transaction() as tx:
            assert sorted(tx.rows("SELECT store, day FROM released_daily WHERE store <> 'old'")) == [("a", day), ("bad", day - DAY)]
            assert tx.one("SELECT count(DISTINCT day) FROM dirty_hours WHERE store = 'bad'")[0] == 1
        assert "store bad" in run_upkeep(database, 1, 90, now=NOW).problems[0]  # still named, next round
        upkeep = Upkeep(database, 1, 90, every_s=3600)
        upkeep.start()
        wait_for(lambda: upkeep.last is not None, 60, "an upkeep round")
        health = TestClient(create_app(HubConfig(db=hub_url), database, upkeep=upkeep)).get("/api/health").json()
        upkeep.stop()
        assert health["status"] == "degraded" and any(p.startswith("upkeep: store bad") for p in health["problems"])
        done = run_cli("hub", "upkeep", "--db", hub_url)  # k = 5 now: every day sealed again, but that one
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "store bad" in done.stderr and "sealed" in done.stdout
    finally:
        database.close()


def test_a_gap_asked_1024_times_does_not_stop_the_others(hub_url: str) -> None:
    """F4: base * 2**1024 raised OverflowError on every check: no device was asked to re-send again."""
    database = open_database(hub_url)
    try:
        write_batch(database, [minute("s", device, HOUR + 60 * seq, seq) for device in ("stuck", "d2", "d3")
                               for seq in (1, 3)], now=NOW)
        assert check_gaps(database, now=NOW, first_request_after_s=0) == 3
        with database.transaction(write=True) as tx:
            tx.run("UPDATE devices SET gap_requests = 1024 WHERE device = 'stuck'")
        requests = due_requests(database, now=NOW + 1, max_backoff_s=3600.0)
        assert sorted(r.device for r in requests) == ["d2", "d3", "stuck"]
        with database.transaction() as tx:
            assert tx.one("SELECT gap_requests, next_request_at FROM devices WHERE device = 'stuck'") == \
                (1025, NOW + 1 + 3600)
    finally:
        database.close()
    assert backoff_s(30.0, 0, 3600.0) == 30.0 and backoff_s(30.0, 3, 3600.0) == 240.0
    assert backoff_s(30.0, 10**12, 3600.0) == 3600.0 == backoff_s(30.0, 1024, 3600.0)


def test_a_failed_gap_repair_is_named_on_the_health_check(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeemo.hub.ingest.mqtt_ingest as ingest_module
    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest

    url = str(tmp_path / "hub.db")
    database = open_database(url)
    hub = MqttIngest(HubConfig(db=url, mqtt=MqttSection(url="mqtt://127.0.0.1:9")), database)
    health = TestClient(create_app(hub.config, database, ingest=hub)).get

    def broken(*args, **kwargs):
        raise OverflowError("int too large to convert to float")

    try:
        monkeypatch.setattr(ingest_module, "due_requests", broken)
        hub._gaps()
        report = health("/api/health").json()
        assert report["status"] == "degraded"
        assert "gap repair failed: int too large to convert to float" in report["problems"]
        monkeypatch.undo()
        hub._gaps()
        assert "gap repair failed" not in " ".join(health("/api/health").json()["problems"])
    finally:
        database.close()

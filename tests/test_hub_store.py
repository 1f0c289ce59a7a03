"""The fleet database on both engines (SQLite and a throwaway PostgreSQL): versioned
migrations, idempotent batches whose roll-ups always equal the sum of the stored intervals,
gaps from sequence numbers, a device database imported twice, and k-anonymous exports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.bench import loadgen
from edgeemo.hub.ingest.gaps import check_gaps, due_requests, missing_ranges
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage import migrations
from edgeemo.hub.storage.db import DatabaseError, open_database
from edgeemo.hub.storage.schema import INTERVALS, interval_row
from edgeemo.payload_build import build_payload
from tests.conftest import REPO, recent_day

LABELS8 = loadgen.LABELS
T0 = 1_795_000_000 - 1_795_000_000 % 3600  # an hour boundary in Nov 2026


def interval(store="s1", device="d1", zone="all", minute=0, seq=None, visits=2, happy=1, labels=LABELS8) -> Interval:
    emotions = {"happy": happy, "sad": visits - happy}
    payload = build_payload(store_id=store, device_id=device, zone=zone, seq=seq or minute + 1, start=T0 + 60 * minute,
                            length_s=60, labels=labels, faces_seen=visits + 1, visits_by_emotion=emotions,
                            groups=DEFAULT_GROUPS.for_labels(labels), dwell_s_total=10.0 * visits, model=None)
    parsed = parse_message(store, device, json.dumps(payload).encode(), 16384, T0 + 86400)
    assert isinstance(parsed, Interval), parsed
    return parsed


def rollups_equal_sums(database) -> None:
    """hourly and hourly_emotions hold exactly the sums of the intervals table (UTC stores: UTC hours and days)."""
    with database.transaction() as tx:
        rows = tx.rows("SELECT store, device, zone, start, faces_seen, visits, positive, negative, dwell_s_total, "
                       "emotions FROM intervals")
        hourly = {tuple(r[:4]): tuple(r[4:]) for r in tx.rows("SELECT store, device, zone, bucket, intervals, "
                  "faces_seen, visits, positive, negative, dwell_s_total FROM hourly")}
        days = tx.rows("SELECT bucket, day FROM hourly")
        emotions = {3600: {tuple(r[:5]): r[5] for r in tx.rows("SELECT store, device, zone, bucket, label, visits "
                                                                "FROM hourly_emotions WHERE visits <> 0")}}
    assert days and all(day == bucket - bucket % 86400 for bucket, day in days)
    expected: dict[tuple, list] = {}
    for store, device, zone, start, *numbers, _ in rows:
        sums = expected.setdefault((store, device, zone, start - start % 3600), [0, 0, 0, 0, 0, 0.0])
        sums[0] += 1
        for i, value in enumerate(numbers):
            sums[i + 1] += value
    assert {k: (v[0], *v[1:5], round(v[5], 3)) for k, v in expected.items()} == {
        k: (*v[:5], round(v[5], 3)) for k, v in hourly.items() if v[0]}
    for width, found in emotions.items():
        expected_emotions: dict[tuple, int] = {}
        for store, device, zone, start, *_, text in rows:
            for label, n in json.loads(text).items():
                if n:
                    key = (store, device, zone, start - start % width, label)
                    expected_emotions[key] = expected_emotions.get(key, 0) + n
        assert expected_emotions == found


def test_a_new_database_gets_the_latest_schema_and_a_newer_one_is_refused(hub_url: str) -> None:
    database = open_database(hub_url)
    with database.transaction(write=True) as tx:
        assert database.schema_version(tx) == migrations.latest_version()
        tx.run("UPDATE hub_meta SET value = '99' WHERE key = 'schema_version'")
    database.close()
    with pytest.raises(DatabaseError, match="schema version 99, newer than this edgeemo's"):
        open_database(hub_url)
    done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "export", "--db", hub_url], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "upgrade edgeemo" in done.stderr, done.stderr


def test_an_older_database_is_migrated_in_place(hub_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeemo.hub.storage.db as db_module

    monkeypatch.setattr(db_module, "MIGRATIONS", migrations.MIGRATIONS[:1])  # a hub of schema version 1
    monkeypatch.setattr(db_module, "latest_version", lambda: 1)
    database = open_database(hub_url)
    old = INTERVALS.at(1)  # what a version-1 hub wrote: the intervals' columns of then, and each device
    with database.transaction(write=True) as tx:
        assert database.schema_version(tx) == 1
        for minute, seq in ((0, 1), (1, 2), (3, 4)):
            row = dict(zip(INTERVALS.arrays(), interval_row(interval(minute=minute, seq=seq), T0)))
            tx.insert(INTERVALS.name, {c.name: c.array for c in old}, [tuple(row[c.name] for c in old)])
        tx.run("INSERT INTO devices (store, device, last_seen, last_start, labels, max_seq, gaps_dirty) "
               "VALUES ('s1', 'd1', ?, ?, '[]', 4, 1)", (T0, T0 + 180))
    database.close()
    monkeypatch.undo()
    database = open_database(hub_url)  # 2 adds devices.checked_seq, 3 models, 4 roll-ups' models, 5 stores' zones,
    with database.transaction() as tx:  # 6 the cells' local days (and drops the daily roll-ups), 7 the released days (and partitions)
        assert database.schema_version(tx) == migrations.latest_version() == 9  # 8: BIGINT sums, 9: bands
        assert tx.row("SELECT count(*) FROM hourly_bands WHERE band = 'unsized'")[0] == tx.row(
            "SELECT count(*) FROM hourly_emotions")[0]  # the cells' visits from before bands: no size measured
        assert tx.one("SELECT count(*) FROM stores")[0] == 0  # every store stays in UTC
        assert tx.one("SELECT count(*), sum(visits) FROM intervals") == (3, 6)  # data kept
        assert tx.one("SELECT checked_seq, model, groups FROM devices") == (0, None, None)
        assert tx.one("SELECT count(*) FROM intervals WHERE model IS NULL")[0] == 3
        if database.dialect == "postgresql":  # the old table is the first partition, no row copied
            from edgeemo.hub.storage.partitions import partitions

            assert partitions(tx)["intervals_before_v7"][0] == float("-inf")
    assert check_gaps(database, now=T0) == 1  # the first check reads the history once
    with database.transaction() as tx:
        assert tx.one("SELECT contiguous_seq, checked_seq, gaps FROM devices") == (2, 4, "[[3, 3]]")
    assert write_batch(database, [interval(minute=2, seq=3)]).new == 1  # and it takes new intervals
    assert check_gaps(database, now=T0) == 0
    database.close()


def test_version_6_gives_each_cell_its_local_day(hub_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-5 hub's hourly rows get the local day of their store's zone (UTC days when none is set)."""
    import edgeemo.hub.storage.db as db_module

    monkeypatch.setattr(db_module, "MIGRATIONS", migrations.MIGRATIONS[:5])
    monkeypatch.setattr(db_module, "latest_version", lambda: 5)
    database = open_database(hub_url)
    late = 1_764_546_000  # 2025-11-30T23:40Z: 15:40 in Los Angeles, 05:25 the next day in Kathmandu
    with database.transaction(write=True) as tx:
        tx.run("INSERT INTO stores (store, timezone, set_at) VALUES ('ktm', 'Asia/Kathmandu', 0), "
               "('la', 'America/Los_Angeles', 0)")
        for store, bucket in (("utc", late - late % 3600), ("la", late - late % 3600), ("ktm", late - 25 * 60)):
            tx.run("INSERT INTO hourly (store, device, zone, bucket, intervals, faces_seen, visits, positive, "
                   "negative, dwell_s_total) VALUES (?, 'd', 'all', ?, 1, 1, 1, 0, 0, 1.0)", (store, bucket))
    database.close()
    monkeypatch.undo()
    database = open_database(hub_url)
    with database.transaction() as tx:
        days = dict(tx.rows("SELECT store, day FROM hourly"))
        tables = {"daily", "daily_emotions"} & {row[0] for row in tx.rows(
            "SELECT table_name FROM information_schema.tables" if database.dialect == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'table'")}
    database.close()
    assert days == {"utc": 1_764_460_800,  # 2025-11-30T00:00Z
                    "la": 1_764_489_600,  # 2025-11-30T00:00-08:00
                    "ktm": 1_764_526_500}  # 2025-12-01T00:00+05:45
    assert tables == set()


@pytest.mark.parametrize("lost", ["25 at random", "every third (more gaps than are remembered)"])
def test_incremental_gap_checks_agree_with_reading_everything(tmp_path: Path, lost: str) -> None:
    import random

    database = open_database(str(tmp_path / "hub.db"))
    rng = random.Random(7)
    arrived: set[int] = set()
    order = list(range(1, 400))
    rng.shuffle(order)
    # rows the device lost: gaps that never fill
    never = set(rng.sample(range(1, 400), 25)) if lost.startswith("25") else set(range(3, 400, 3))
    for round_start in range(0, len(order), 37):
        batch = [seq for seq in order[round_start:round_start + 37] if seq not in never]
        write_batch(database, [interval(minute=seq, seq=seq) for seq in batch])
        arrived |= set(batch)
        check_gaps(database, now=T0)
        with database.transaction() as tx:
            contiguous, gaps = tx.one("SELECT contiguous_seq, gaps FROM devices")
        expected = missing_ranges(0, sorted(arrived), max(arrived))
        assert (contiguous, json.loads(gaps)) == expected
    database.close()


def test_the_same_interval_twice_is_stored_once_and_a_changed_one_moves_the_rollups(hub_url: str) -> None:
    database = open_database(hub_url)
    first = [interval(minute=m) for m in range(5)] + [interval(device="d2", minute=m) for m in range(3)]
    result = write_batch(database, first)
    assert (result.new, result.changed, result.duplicates) == (8, 0, 0)
    again = write_batch(database, first[:4] + [first[0]])  # re-delivered, and twice in one batch
    assert (again.new, again.changed, again.duplicates) == (0, 0, 5)
    grown = interval(minute=1, seq=2, visits=5, happy=4)  # a restart within the interval added to it
    result = write_batch(database, [grown, interval(minute=70)])
    assert (result.new, result.changed) == (1, 1)
    with database.transaction() as tx:
        assert tx.one("SELECT count(*) FROM intervals")[0] == 9
        assert tx.one("SELECT visits FROM intervals WHERE device = 'd1' AND start = ?", (T0 + 60,))[0] == 5
        assert tx.one("SELECT sum(visits) FROM hourly WHERE device = 'd1'")[0] == 2 * 4 + 5 + 2  # minute 1 grew from 2 to 5; minute 70 is new
        assert tx.one("SELECT max_seq, last_start FROM devices WHERE device = 'd1'") == (71, T0 + 70 * 60)
    rollups_equal_sums(database)
    database.close()


def test_gaps_are_found_from_sequence_numbers_and_asked_for_with_backoff(hub_url: str) -> None:
    assert missing_ranges(0, [1, 2, 5, 6, 9], 9) == (2, [[3, 4], [7, 8]])
    assert missing_ranges(4, [5, 6], 6) == (6, [])
    database = open_database(hub_url)
    write_batch(database, [interval(minute=m, seq=s) for m, s in ((0, 1), (1, 2), (4, 5), (9, 10))])
    assert check_gaps(database, now=T0, first_request_after_s=30) == 1
    assert due_requests(database, now=T0 + 10) == []  # young gaps may still fill by themselves
    requests = due_requests(database, now=T0 + 31, base_s=30)
    assert [(r.store, r.device, r.body) for r in requests] == [("s1", "d1", {"from": 3, "to": 4}),
                                                               ("s1", "d1", {"from": 6, "to": 9})]
    assert due_requests(database, now=T0 + 40, base_s=30) == []  # backing off (60 s next)
    assert len(due_requests(database, now=T0 + 95, base_s=30)) == 2
    write_batch(database, [interval(minute=m, seq=m + 1) for m in (2, 3, 5, 6, 7, 8)])  # the device re-sent them
    assert check_gaps(database, now=T0 + 100) == 0
    assert due_requests(database, now=T0 + 10_000) == []
    with database.transaction() as tx:
        assert tx.one("SELECT contiguous_seq, gaps FROM devices") == (10, "[]")
    database.close()


def test_parse_refuses_what_is_not_a_valid_interval_of_its_topic() -> None:
    good = build_payload(store_id="s1", device_id="d1", zone="all", seq=1, start=T0, length_s=60, labels=LABELS8,
                         faces_seen=1, visits_by_emotion={"happy": 1}, groups=DEFAULT_GROUPS, dwell_s_total=3,
                         model=None)
    body = json.dumps(good).encode()
    assert isinstance(parse_message("s1", "d1", body, 16384, T0 + 60), Interval)
    cases = {"malformed": b"{not json", "invalid": json.dumps(dict(good, visits=-1)).encode(),
             "oversized": body + b" " * 20000, "foreign": body}
    for reason, payload in cases.items():
        rejected = parse_message("s1", "d2" if reason == "foreign" else "d1", payload, 16384, T0 + 60)
        assert rejected.reason == reason, rejected


def test_generated_load_data_has_the_rollups_ingest_would_make(tmp_path: Path) -> None:
    generated = open_database(str(tmp_path / "generated.db"))
    loadgen.generate(generated, stores=2, days=2, now=T0 + 86400 * 3 + 1234)
    rollups_equal_sums(generated)  # the bench's bulk-loaded roll-ups are exact sums too
    generated.close()


def _device_db(path: Path, rows: int, first: int) -> Path:
    """A device database of schema version 2 as `edgeemo run` writes it (rows of one zone, a minute each from
    `first`)."""
    from edgeemo.edge.analytics.schema import SCHEMA

    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
        connection.execute("PRAGMA user_version = 2")
        for m in range(rows):
            visits = m % 3
            connection.execute("INSERT INTO aggregates (start, zone, length_s, faces_seen, visits, emotions, "
                               "satisfaction, dwell_s_total, labels, seq, groups, sent) VALUES (?,?,?,?,?,?,?,?,?,?,?,0)",
                               (first + 60 * m, "all", 60, visits, visits, json.dumps({"happy": visits}), None,
                                5.0 * visits, json.dumps(LABELS8), m + 1, json.dumps(DEFAULT_GROUPS.as_dict())))
    return path


def test_import_twice_stores_once_and_export_suppresses_small_buckets(hub_url: str, tmp_path: Path) -> None:
    day = recent_day()  # the import refuses what is past the hub's retention, by the hub's clock
    device_db = _device_db(tmp_path / "device.db", rows=150, first=day + 10 * 3600)  # 10:00-12:30; 150 visits
    command = [sys.executable, "-m", "edgeemo", "hub"]
    first = subprocess.run([*command, "import", str(device_db), "--db", hub_url, "--store", "s9", "--device", "pi"],
                           cwd=REPO, capture_output=True, text=True, check=False)
    assert first.returncode == 0 and "150 new, 0 changed, 0 already there" in first.stdout, first.stderr
    second = subprocess.run([*command, "import", str(device_db), "--db", hub_url, "--store", "s9", "--device", "pi"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert "0 new, 0 changed, 150 already there" in second.stdout, second.stderr
    since, until = (time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (day, day + 86400))
    export = [*command, "export", "--db", hub_url, "--since", since, "--until", until,
              "--bucket", "hour", "--format", "json"]
    hours = json.loads(subprocess.run([*export, "--min-visits", "1"], cwd=REPO, capture_output=True,
                                      text=True, check=False).stdout)["stores"][0]["series"]
    assert [h["visits"] for h in hours] == [60, 60, 30] and sum(h["visits"] for h in hours) == 150
    assert hours[0]["raw_share_happy"] == 1.0 and "raw_share_contempt" in hours[0]  # the devices' own eight labels
    assert not [key for key in hours[0] if key.startswith("share_")]  # a raw share is never named like a corrected one
    strict = json.loads(subprocess.run([*export, "--min-visits", "50"], cwd=REPO, capture_output=True,
                                       text=True, check=False).stdout)["stores"][0]["series"]
    assert [(h["suppressed"], h["visits"]) for h in strict] == [(False, 60), (False, 60)]  # 30 < 50: not listed
    csv_text = subprocess.run([*export[:-2], "--format", "csv", "--min-visits", "50"], cwd=REPO, capture_output=True,
                              text=True, check=False).stdout
    assert csv_text.splitlines()[0].startswith("store,start,visits,suppressed,satisfaction_index")
    assert [line.split(",")[2:4] for line in csv_text.splitlines()[1:]] == [["60", "False"], ["60", "False"]]


@pytest.mark.parametrize("args, message", [
    (["import", "missing.db", "--store", "s", "--device", "d"], "no such device database"),
    (["import", "README.md", "--store", "s", "--device", "d"], "not a readable SQLite database"),
    (["export", "--since", "yesterday"], "expected a date like 2026-11-01"),
    (["export", "--bucket", "hour", "--since", "2026-01-01"], "bucket=hour covers at most 92 days"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    open_database(str(tmp_path / "hub.db")).close()  # an existing hub: the input is what is wrong
    done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", *args, "--db", str(tmp_path / "hub.db")],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.slow
def test_a_database_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    for url, message in (("postgresql://nobody@127.0.0.1:1/hub", "cannot connect to postgresql://nobody@127.0.0.1:1"),
                         (str(tmp_path), "cannot open")):
        done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "user", "list", "--db", url], cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_bad_hub_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[web]\nlisten = "everywhere"\n')
    done = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "serve", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 78 and "web.listen" in done.stderr and done.stderr.count("\n") == 1, done.stderr

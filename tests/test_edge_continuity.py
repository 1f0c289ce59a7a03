"""The device's rows against a wall clock that lies and a database that is reset (issue 34, F7, F8): a clock
200 days ahead for over an hour deletes no row that was not sent (nor, within the boot, one that was), and a
database started again after a corrupt one numbers on, so the hub finds what the new life loses."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from edgeemo.aggregates import DEFAULT_GROUPS, NO_ZONE
from edgeemo.edge.analytics.intervals import Aggregate
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.hub.ingest.gaps import check_gaps
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage.db import open_database
from edgeemo.labels import FERPLUS_LABELS
from edgeemo.payload_build import payload_from_row
from tests.conftest import db_rows

DAY = 86400.0
AHEAD = 200 * DAY


def aggregate(start: float) -> Aggregate:
    return Aggregate(start, 60, FERPLUS_LABELS, NO_ZONE, groups=DEFAULT_GROUPS, visits_by_emotion=Counter(happy=1))


def fifty_rows(path: Path, now: float, keep_unsent: bool = True) -> AnalyticsStore:
    """50 real rows of the last hour; the first 20 acknowledged by the broker, the other 30 not."""
    store = AnalyticsStore(path, retention_days=90, keep_unsent=keep_unsent)
    for minute in range(50):
        store.add_aggregate(aggregate(now - now % 60 - 3000 + 60 * minute))
    store.flush()
    store.mark_sent(list(range(1, 21)))
    return store


def clock(monkeypatch: pytest.MonkeyPatch, wall_s: float, monotonic_s: float) -> None:
    """Move the wall and the monotonic clocks by these (the jump of one, the hour that passes on both)."""
    real_time, real_monotonic = time.time, time.monotonic
    monkeypatch.setattr(time, "time", lambda: real_time() + wall_s)
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + monotonic_s)


def unsent(path: Path) -> int:
    return db_rows(path, "SELECT count(*) FROM aggregates WHERE sent = 0")[0][0]


def test_a_clock_200_days_ahead_for_over_an_hour_deletes_nothing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's case: the step passed every guard once an hour old, and pruning deleted all 50 rows."""
    db = tmp_path / "a.db"
    store = fifty_rows(db, time.time())
    store.clock_jumped(AHEAD)
    clock(monkeypatch, AHEAD + 3700, 3700)  # 200 days ahead, and the step is over an hour old
    store._last_prune = None  # the hourly prune is due
    store.add_aggregate(aggregate(time.time()))  # a row labelled by the wrong clock
    assert store.clock_doubt(time.time()) is None  # no guard doubts the clock any more ...
    store.flush()  # ... and flush prunes
    store.close()
    assert db_rows(db, "SELECT count(*) FROM aggregates")[0][0] == 51  # the monotonic clock vouches for an hour
    assert unsent(db) == 31


def test_a_clock_wrong_ahead_from_the_start_still_keeps_every_unsent_row(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A device that boots with its clock 200 days ahead believes it (nothing else says otherwise): rows
    the hub already has may go, those it has not never do."""
    db = tmp_path / "a.db"
    fifty_rows(db, time.time()).close()
    monkeypatch.setattr("edgeemo.edge.analytics.continuity.boot_id", lambda: "another-boot")
    clock(monkeypatch, AHEAD, 0)
    store = AnalyticsStore(db, retention_days=90, keep_unsent=True)
    store.add_aggregate(aggregate(time.time()))
    store.flush()
    store.close()
    assert unsent(db) == 31 and db_rows(db, "SELECT count(*) FROM aggregates WHERE sent = 1")[0][0] == 0


def test_without_an_outbox_retention_goes_by_the_clock_the_monotonic_one_vouches_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "a.db"
    store = fifty_rows(db, time.time(), keep_unsent=False)
    clock(monkeypatch, AHEAD + 3700, 3700)
    store._last_prune = None
    store.add_aggregate(aggregate(time.time()))
    store.flush()
    store.close()
    assert db_rows(db, "SELECT count(*) FROM aggregates")[0][0] == 51


def _interval(row: dict) -> Interval:
    parsed = parse_message("s1", "d1", json.dumps(payload_from_row(row, "s1", "d1")).encode(), 16384, time.time())
    assert isinstance(parsed, Interval), parsed
    return parsed


def test_a_reset_database_numbers_on_and_the_hub_finds_the_new_life_s_losses(hub_url: str, tmp_path: Path) -> None:
    """After a corrupt database was moved aside the numbers restarted at 1: two messages of the new life
    lost under the old numbers were never missed."""
    db = tmp_path / "a.db"
    now = time.time() - 7200
    store = AnalyticsStore(db)
    for minute in range(5):
        store.add_aggregate(aggregate(now - now % 60 + 60 * minute))
    store.flush()
    old_life = [_interval(row) for _, row in store.unsent(100)]
    store.close()
    db.write_bytes(b"<html>a corrupt database</html>" * 100)
    store = AnalyticsStore(db)  # moved aside, a new one started
    for minute in range(10, 14):
        store.add_aggregate(aggregate(now - now % 60 + 60 * minute))
    store.flush()
    new_life = [_interval(row) for _, row in store.unsent(100)]
    store.close()
    assert store.moved_aside is not None and [i.seq for i in new_life] == [6, 7, 8, 9]
    database = open_database(hub_url)
    try:
        write_batch(database, old_life + [new_life[0], new_life[3]])  # 7 and 8 are lost on the way
        assert check_gaps(database, first_request_after_s=0) == 1
        with database.transaction() as tx:
            assert tx.one("SELECT gaps FROM devices") == ("[[7, 8]]",)
    finally:
        database.close()

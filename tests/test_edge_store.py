"""The analytics store: rows round-trip; faults (read-only, full disk, corruption) lose nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from edgeemo.edge.analytics.intervals import Aggregate, Analytics
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.edge.analytics.visits import Visit
from edgeemo.labels import LABELS
from tests.conftest import ReadOnlyDir, db_rows

NOW = float(int(time.time()) // 60 * 60)  # recent: retention would prune 1970


def _aggregate(start: float, **visits: int) -> Aggregate:
    return Aggregate(start, 60, LABELS, face_ids={1, 2}, visits_by_emotion=Counter(visits), dwell_s_total=10.0)


def _rows(path: Path, table: str) -> list[tuple]:
    return db_rows(path, f"SELECT * FROM {table}")


def test_rows_round_trip_and_a_restart_in_the_same_interval_adds_up(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=2, sad=1))
    store.add_visit(Visit(7, NOW, NOW + 12.5, "happy", {"happy": 0.8, "neutral": 0.2}))
    store.close()
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=1))
    store.close()
    [row] = db_rows(db, "SELECT start, length_s, faces_seen, visits, emotions, satisfaction, dwell_s_total, zone "
                        "FROM aggregates")
    start, length, faces, visits, emotions, satisfaction, dwell, zone = row
    assert (start, length, faces, visits, dwell, zone) == (NOW, 60, 4, 4, 20.0, "all")
    assert {k: v for k, v in json.loads(emotions).items() if v} == {"happy": 3, "sad": 1}
    assert satisfaction == pytest.approx((3 - 1) / 4)
    [visit] = _rows(db, "visits")
    assert visit[1:5] == (NOW, NOW + 12.5, 12.5, "happy")  # no track id is stored


def test_analytics_closes_an_interval_only_after_the_grace_period() -> None:
    closed: list[Aggregate] = []

    class Sink:
        def add_aggregate(self, aggregate: Aggregate) -> None:
            closed.append(aggregate)

    analytics = Analytics(LABELS, bucket_s=60, grace_s=3.0, sinks=[Sink()])
    analytics.face(1, 59.0)
    analytics.visit(Visit(1, 50.0, 59.0, "happy", {"happy": 1.0}))
    analytics.tick(62.0)
    assert closed == []
    analytics.tick(63.0)
    payload = closed[0].payload("s", "d", 1)
    assert payload["visits"] == 1 and payload["faces_seen"] == 1 and payload["satisfaction_index"] == 1.0
    assert payload["start"] == "1970-01-01T00:00:00Z" and payload["end"] == "1970-01-01T00:01:00Z"


def test_read_only_directory_holds_rows_in_memory_and_writes_them_when_writable(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with ReadOnlyDir(folder):
        store = AnalyticsStore(folder / "a.db", commit_every_s=0.01)
        store.add_aggregate(_aggregate(NOW, happy=1))
        assert store.flush() is False
        assert store.pending == 1
    assert "holding aggregates in memory" in caplog.text
    store.add_aggregate(_aggregate(NOW + 60, sad=1))
    assert store.flush() is True
    store.close()
    assert [row[0] for row in _rows(folder / "a.db", "aggregates")] == [NOW, NOW + 60]


def test_rows_still_unwritable_at_exit_go_to_the_log(tmp_path: Path, caplog) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with ReadOnlyDir(folder):
        store = AnalyticsStore(folder / "a.db")
        store.add_aggregate(_aggregate(0.0, happy=1))
        store.close()
    line = next(r.message for r in caplog.records if r.message.startswith("unwritten aggregate"))
    assert json.loads(line.split(" ", 2)[2])["emotions"]["happy"] == 1


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_full_disk_keeps_rows_and_writes_them_when_space_returns(tmp_path: Path, caplog) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tiny tmpfs here")
    store = None
    try:
        store = AnalyticsStore(mount / "a.db")
        filler = _fill(mount)
        for index in range(200):
            store.add_visit(Visit(index, NOW + index, NOW + index + 5.0, "happy", {label: 1 / 7 for label in LABELS}))
        assert store.flush() is False
        assert store.pending == 200
        assert "database or disk is full" in caplog.text
        filler.unlink()
        assert store.flush() is True
        store.close()
        assert len(_rows(mount / "a.db", "visits")) == 200
    finally:
        if store is not None and store.connection is not None:
            store.connection.close()
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def test_corrupt_database_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    db.write_bytes(b"<html>not a database</html>" * 100)
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=1))
    store.close()
    [aside] = list(tmp_path.glob("a.db.corrupt-*"))
    assert aside.read_bytes().startswith(b"<html>") and store.moved_aside == aside
    assert len(_rows(db, "aggregates")) == 1


@pytest.mark.parametrize("uptime_s", [60.0, 10 * 86400.0], ids=["booted-a-minute-ago", "up-ten-days"])
def test_retention_prunes_old_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uptime_s: float) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: uptime_s)  # a device's clock since boot
    store = AnalyticsStore(tmp_path / "a.db", retention_days=1)
    now = time.time()
    store.add_aggregate(_aggregate(now - 3 * 86400, happy=1))
    store.add_aggregate(_aggregate(now - 60, happy=1))
    store.add_visit(Visit(1, now - 3 * 86400, now - 3 * 86400 + 5, "sad", {"sad": 1.0}))
    store.flush()  # the first write prunes, then again at most hourly
    assert store.prune(now) == 0
    store.close()
    assert len(_rows(tmp_path / "a.db", "aggregates")) == 1 and _rows(tmp_path / "a.db", "visits") == []


V1_DATABASE = """
CREATE TABLE aggregates (start REAL PRIMARY KEY, length_s INTEGER NOT NULL, faces_seen INTEGER NOT NULL,
    visits INTEGER NOT NULL, emotions TEXT NOT NULL, satisfaction REAL, dwell_s_total REAL NOT NULL);
CREATE TABLE visits (id INTEGER PRIMARY KEY, start REAL NOT NULL, end REAL NOT NULL, dwell_s REAL NOT NULL,
    dominant TEXT NOT NULL, shares TEXT NOT NULL);
INSERT INTO aggregates VALUES ({start}, 60, 1, 1, '{{"happy": 1}}', 1.0, 5.0);
INSERT INTO visits VALUES (1, {start} + 10, {start} + 15, 5.0, 'happy', '{{"happy": 1.0}}');
"""


def test_a_version_1_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as connection:
        connection.executescript(V1_DATABASE.format(start=NOW - 3600))
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=1))
    store.close()
    assert db_rows(db, "SELECT start, zone, visits FROM aggregates ORDER BY start") == [(NOW - 3600, "all", 1), (NOW, "all", 1)]
    assert db_rows(db, "SELECT dominant, zone FROM visits") == [("happy", "all")]
    assert db_rows(db, "PRAGMA user_version") == [(4,)]
    assert db_rows(db, "SELECT seq, model FROM aggregates ORDER BY start") == [(None, None), (1, None)]


def test_a_restart_or_a_clock_step_inside_an_interval_leaves_no_hole_in_the_sequence(tmp_path: Path) -> None:
    """The sequence number belongs to the row: given when it is first written, kept when it grows."""
    db = tmp_path / "a.db"
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=1))  # the interval at t0, then the device restarts
    store.close()
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW, happy=1))  # reopened: the same interval grows
    store.add_aggregate(_aggregate(NOW + 60, happy=2))
    store.flush()
    store.add_aggregate(_aggregate(NOW + 60, happy=1))  # a clock step closed it early; it grows again
    store.add_aggregate(_aggregate(NOW + 120, happy=1))
    store.close()
    rows = db_rows(db, "SELECT start, seq, visits FROM aggregates ORDER BY start")
    assert rows == [(NOW, 1, 2), (NOW + 60, 2, 3), (NOW + 120, 3, 1)]  # 1, 2, 3: nothing for a hub to wait for


def test_sequence_numbers_outlive_pruned_rows(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = AnalyticsStore(db)
    for minute in range(3):
        store.add_aggregate(_aggregate(NOW + 60 * minute, happy=1))
    store.flush()
    store.prune(NOW + 10**9)  # every row is past its retention
    store.close()
    store = AnalyticsStore(db)
    store.add_aggregate(_aggregate(NOW + 600, happy=1))
    store.close()
    assert db_rows(db, "SELECT seq FROM aggregates") == [(4,)]  # not 1 again: a hub would take it for an old one


def test_a_version_2_database_gains_the_model_column_and_keeps_numbering(tmp_path: Path) -> None:
    from edgeemo.edge.analytics.schema import SCHEMA

    db = tmp_path / "v2.db"
    with closing(sqlite3.connect(db)) as connection:  # what edgeemo wrote before version 3
        connection.executescript(SCHEMA.replace("    model TEXT,                      -- JSON {\"name\", \"sha256\"} of "
                                                "the model that classified the faces\n", ""))
        assert "model" not in {row[1] for row in connection.execute("PRAGMA table_info(aggregates)")}
        connection.execute("INSERT INTO aggregates (start, zone, length_s, faces_seen, visits, emotions, dwell_s_total, "
                           "labels, seq, groups) VALUES (?, 'all', 60, 1, 1, '{\"happy\": 1}', 3.0, ?, 7, ?)",
                           (NOW, json.dumps(list(LABELS)), json.dumps({"positive": ["happy"], "negative": []})))
        connection.execute("PRAGMA user_version = 2")
        connection.commit()
    store = AnalyticsStore(db)
    aggregate = _aggregate(NOW + 60, happy=1)
    aggregate.model = {"name": "m.tflite", "sha256": "0" * 64}
    store.add_aggregate(aggregate)
    store.close()
    assert db_rows(db, "SELECT seq, model FROM aggregates ORDER BY start") == [
        (7, None), (8, json.dumps(aggregate.model))]
    assert db_rows(db, "PRAGMA user_version") == [(4,)]


def test_a_database_of_a_newer_edgeemo_is_refused_untouched(tmp_path: Path) -> None:
    from edgeemo.errors import EdgeemoError

    db = tmp_path / "new.db"
    with closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(EdgeemoError, match="version 99 is newer"):
        AnalyticsStore(db)
    assert db_rows(db, "PRAGMA user_version") == [(99,)]
    assert db_rows(db, "SELECT name FROM sqlite_master") == []  # no table created, none migrated


def test_sequence_numbers_continue_across_restarts_and_zones_are_rows_of_their_own(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store = AnalyticsStore(db)
    analytics = Analytics(LABELS, 60, 0.0, [store], [store], zones=("door", "till"))
    analytics.visit(Visit(1, NOW, NOW + 5, "happy", {"happy": 1.0}, zone="till"))
    analytics.close()
    store.close()
    store = AnalyticsStore(db)
    analytics = Analytics(LABELS, 60, 0.0, [store], [store], zones=("door", "till"))
    analytics.visit(Visit(2, NOW + 60, NOW + 65, "sad", {"sad": 1.0}, zone="door"))
    analytics.close()
    store.close()
    rows = db_rows(db, "SELECT start, zone, visits, seq FROM aggregates ORDER BY seq")
    assert rows == [(NOW, "door", 0, 1), (NOW, "till", 1, 2), (NOW + 60, "door", 1, 3), (NOW + 60, "till", 0, 4)]

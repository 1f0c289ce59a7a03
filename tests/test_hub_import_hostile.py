"""`hub import` of a device file an adversary wrote (issue 34, F6 and F10): a malformed row is skipped
and counted with a one-line reason while the good rows import, on both databases; a view, generated
columns or more rows than a device keeps are refused before anything is read."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from edgeemo.hub.ingest import importer
from edgeemo.hub.storage.db import open_database
from edgeemo.labels import FERPLUS_LABELS
from tests.conftest import recent_day, run_cli

COLUMNS = ("start", "zone", "length_s", "faces_seen", "visits", "emotions", "satisfaction", "dwell_s_total",
           "labels", "seq", "groups", "sent", "model")
GROUPS = json.dumps({"positive": ["happy"], "negative": ["sad"]})


def row(minute: int, seq: int, **changes) -> dict:
    good = {"start": recent_day() + 60 * minute, "zone": "all", "length_s": 60, "faces_seen": 2, "visits": 2,
            "emotions": json.dumps({"happy": 2}), "satisfaction": 1.0, "dwell_s_total": 8.0,
            "labels": json.dumps(list(FERPLUS_LABELS)), "seq": seq, "groups": GROUPS, "sent": 1, "model": None}
    return {**good, **changes}


def device_file(path: Path, rows: list[dict], table: str = "") -> Path:
    """A device database whose `aggregates` has no constraints (a hostile file need not keep ours)."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(table or f"CREATE TABLE aggregates ({', '.join(COLUMNS)})")
        connection.executemany(f"INSERT INTO aggregates VALUES ({', '.join('?' * len(COLUMNS))})",
                               [tuple(r[c] for c in COLUMNS) for r in rows])
        connection.commit()
    return path


HOSTILE_ROWS = {
    "NaN dwell": {"dwell_s_total": float("nan")},
    "negative dwell": {"dwell_s_total": -5.0},
    "text for a number": {"visits": "many", "faces_seen": "x"},
    "emotions a list": {"emotions": "[1, 2]"},
    "emotions 200,000 deep": {"emotions": "[" * 200_000 + "]" * 200_000},
    "no start": {"start": None},
    "year 9999": {"start": 253_402_300_740.0},
    "labels not JSON": {"labels": "{oops"},
}


def test_malformed_rows_are_skipped_with_a_reason_and_the_good_rows_import(hub_url: str, tmp_path: Path) -> None:
    rows = [row(i, i + 1) for i in range(5)]
    rows += [row(10 + i, 10 + i, **change) for i, change in enumerate(HOSTILE_ROWS.values())]
    path = device_file(tmp_path / "device.db", rows)
    done = run_cli("hub", "import", str(path), "--db", hub_url, "--store", "s", "--device", "d", timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "5 new" in done.stdout, done.stdout
    skipped = [line for line in done.stdout.splitlines() if line.startswith("  skipped")]
    assert len(skipped) == len(HOSTILE_ROWS) and all(len(line) < 260 for line in skipped), skipped
    assert all("row " in line for line in skipped)
    database = open_database(hub_url)
    try:
        with database.transaction() as tx:
            assert tx.one("SELECT count(*) FROM intervals")[0] == 5
            assert tx.one("SELECT sum(count) FROM rejects")[0] == len(HOSTILE_ROWS)
    finally:
        database.close()


@pytest.mark.parametrize("table, message", [
    (("CREATE VIEW aggregates AS WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x AS start, "
      "'all' AS zone, 60 AS length_s, 1 AS faces_seen, 1 AS visits, '{}' AS emotions, NULL AS satisfaction, "
      "1.0 AS dwell_s_total, NULL AS labels, x AS seq, NULL AS groups, 1 AS sent, NULL AS model FROM r ORDER BY "
      "x DESC"), "aggregates is a view, not a table"),
    (("CREATE TABLE aggregates (start, zone, length_s, faces_seen, visits, emotions, satisfaction, dwell_s_total, "
      "labels, seq, groups, sent, model, huge AS (zeroblob(1000000000)))"), "generated columns"),
])
def test_what_no_device_writes_is_refused_unread(tmp_path: Path, table: str, message: str) -> None:
    """F6: a recursive view filled the disk through the sort's spill (~17 GB in 298 s)."""
    path = tmp_path / "device.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(table)
        connection.commit()
    started = time.monotonic()
    done = run_cli("hub", "import", str(path), "--db", str(tmp_path / "hub.db"), "--store", "s", "--device", "d",
                   timeout=120)
    assert done.returncode != 0 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert time.monotonic() - started < 120  # bounded by the timeout above: refused, not read


def test_more_rows_than_a_device_keeps_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeemo.errors import EdgeemoError

    monkeypatch.setattr(importer, "MAX_ROWS", 3)
    path = device_file(tmp_path / "device.db", [row(i, i + 1) for i in range(4)])
    database = open_database(str(tmp_path / "hub.db"))
    try:
        with pytest.raises(EdgeemoError, match="4 rows, more than a device keeps"):
            importer.import_device_db(database, path, "s", "d")
    finally:
        database.close()

"""`edgeemo hub import`: a device's own SQLite file into the fleet database.

For a store without a network link, or a backfill after an outage. Rows become payloads by
the very function the device's outbox publishes with, so an imported interval equals a
received one and importing twice (or after MQTT delivered it) stores nothing new.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from edgeemo.aggregates import NO_ZONE, payload_from_row
from edgeemo.errors import EdgeemoError
from edgeemo.hub.db import Database
from edgeemo.hub.ingest import BatchResult, interval_from_payload, write_batch

CHUNK = 5000


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise EdgeemoError(f"{path}: no such device database (the device's --db, e.g. /var/lib/edgeemo/edgeemo.db)")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            connection.row_factory = sqlite3.Row
            columns = {row[1] for row in connection.execute("PRAGMA table_info(aggregates)")}
            if not columns:
                raise EdgeemoError(f"{path}: has no aggregates table: is it an edgeemo device database?")
            if "zone" in columns:
                select = "SELECT start, zone, length_s, faces_seen, visits, emotions, dwell_s_total, labels, seq, groups"
            else:  # version 1: one zone, no labels, groups or sequence numbers
                select = (f"SELECT start, '{NO_ZONE}' AS zone, length_s, faces_seen, visits, emotions, dwell_s_total, "
                          "NULL AS labels, NULL AS seq, NULL AS groups")
            return [dict(row) for row in connection.execute(f"{select} FROM aggregates ORDER BY start")]
    except sqlite3.DatabaseError as exc:
        raise EdgeemoError(f"{path}: not a readable SQLite database ({exc})") from None


def import_device_db(database: Database, path: Path, store: str, device: str) -> BatchResult:
    total = BatchResult()
    intervals = [interval_from_payload(payload_from_row(row, store, device)) for row in _rows(path)]
    for i in range(0, len(intervals), CHUNK):
        result = write_batch(database, intervals[i:i + CHUNK])
        total.new += result.new
        total.changed += result.changed
        total.duplicates += result.duplicates
        total.devices |= result.devices
    return total

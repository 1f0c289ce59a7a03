"""`edgeemo hub import`: a device's own SQLite file into the fleet database.

For a store without a network link, or a backfill after an outage. Rows become payloads by
the very function the device's outbox publishes with, and go through the very parser and
checks a received message does, so an imported interval equals a received one, importing
twice (or after MQTT delivered it) stores nothing new, and a row the hub would refuse over
MQTT is refused (and counted) here too.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from edgeemo.aggregates import NO_ZONE
from edgeemo.errors import EdgeemoError
from edgeemo.hub.db import Database
from edgeemo.hub.ingest import Interval, parse_message
from edgeemo.hub.writer import BatchResult, count_rejects, write_batch
from edgeemo.payload import TimeRules, payload_from_row

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
            model = "model" if "model" in columns else "NULL AS model"  # version 3 knows each row's model
            if "zone" in columns:
                select = ("SELECT start, zone, length_s, faces_seen, visits, emotions, dwell_s_total, labels, seq, "
                          f"groups, {model}")
            else:  # version 1: one zone, no labels, groups or sequence numbers
                select = (f"SELECT start, '{NO_ZONE}' AS zone, length_s, faces_seen, visits, emotions, dwell_s_total, "
                          "NULL AS labels, NULL AS seq, NULL AS groups, NULL AS model")
            return [dict(row) for row in connection.execute(f"{select} FROM aggregates ORDER BY start")]
    except sqlite3.DatabaseError as exc:
        raise EdgeemoError(f"{path}: not a readable SQLite database ({exc})") from None


def import_device_db(database: Database, path: Path, store: str, device: str,
                     rules: TimeRules | None = None, max_seq_jump: int | None = None) -> BatchResult:
    """Every row of the device's database, stored as if it had arrived over MQTT (refusals counted)."""
    total, now = BatchResult(), time.time()
    parsed = [parse_message(store, device, json.dumps(payload_from_row(row, store, device)).encode(), 1 << 20, now,
                            *([rules] if rules else [])) for row in _rows(path)]
    intervals = [p for p in parsed if isinstance(p, Interval)]
    total.refused = [p for p in parsed if not isinstance(p, Interval)]
    if total.refused:
        with database.transaction(write=True) as tx:
            count_rejects(tx, total.refused, int(now))
    for i in range(0, len(intervals), CHUNK):
        result = write_batch(database, intervals[i:i + CHUNK], now, *([max_seq_jump] if max_seq_jump else []))
        total.new += result.new
        total.changed += result.changed
        total.duplicates += result.duplicates
        total.refused += result.refused
        total.devices |= result.devices
    return total

"""`edgeemo hub import`: a device's own SQLite file into the fleet database.

For a store without a network link, or a backfill after an outage. Rows become payloads by
the very function the device's outbox publishes with, and go through the very parser and
checks a received message does, so an imported interval equals a received one, importing
twice (or after MQTT delivered it) stores nothing new, and a row the hub would refuse over
MQTT is refused (and counted) here too.

The file comes from a device, which an adversary may have written: only a plain `aggregates`
table is read (a view can be an endless recursive query, and its sort spills to disk without
end), of at most MAX_ROWS rows and values of at most MAX_VALUE_BYTES, in the table's own order (no
sort), a chunk at a time. A row that cannot become a payload (NaN or negative dwell, text for a
number, emotions that are no JSON object or nested 200,000 deep, no start) is skipped and
counted with its reason (`malformed`); the good rows import.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from edgeemo.aggregates import NO_ZONE
from edgeemo.errors import EdgeemoError, first_line
from edgeemo.hub.ingest.messages import Interval, Rejected, parse_message
from edgeemo.hub.ingest.writer import BatchResult, count_rejects, write_batch
from edgeemo.hub.storage.db import Database
from edgeemo.payload import TimeRules, printable
from edgeemo.payload_build import payload_from_row

CHUNK = 5000
MAX_ROWS = 5_000_000  # a device keeps 90 days: five zones of 1-minute intervals are 648,000 rows
MAX_VALUE_BYTES = 1 << 20  # a row's longest text (its emotions or labels JSON) is a few hundred bytes


def _select(connection: sqlite3.Connection, path: Path) -> str:
    """The SELECT that reads the device's rows, after checking `aggregates` is a plain table."""
    found = connection.execute("SELECT type FROM sqlite_master WHERE lower(name) = 'aggregates'").fetchall()
    if not found:
        raise EdgeemoError(f"{path}: has no aggregates table: is it an edgeemo device database?")
    if [kind for (kind,) in found] != ["table"]:
        raise EdgeemoError(f"{path}: aggregates is a {found[0][0]}, not a table: not an edgeemo device database "
                           "(refused unread)")
    columns = {row[1]: row[6] for row in connection.execute("PRAGMA table_xinfo(aggregates)")}
    if any(columns.values()):
        raise EdgeemoError(f"{path}: aggregates has generated columns: not an edgeemo device database (refused)")
    rows = connection.execute("SELECT count(*) FROM aggregates").fetchone()[0]
    if rows > MAX_ROWS:
        raise EdgeemoError(f"{path}: {rows:,} rows, more than a device keeps ({MAX_ROWS:,}): refused")
    model = "model" if "model" in columns else "NULL AS model"  # version 3 knows each row's model
    bands = "bands" if "bands" in columns else "NULL AS bands"  # version 4: visits by face-size band
    if "zone" in columns:
        return ("SELECT start, zone, length_s, faces_seen, visits, emotions, dwell_s_total, labels, seq, groups, "
                f"{model}, {bands} FROM aggregates")
    # version 1: one zone, no labels, groups or sequence numbers
    return (f"SELECT start, '{NO_ZONE}' AS zone, length_s, faces_seen, visits, emotions, dwell_s_total, "
            "NULL AS labels, NULL AS seq, NULL AS groups, NULL AS model, NULL AS bands FROM aggregates")


def _chunks(path: Path) -> Iterator[list[dict]]:
    """The device's rows, CHUNK at a time, in the table's own order."""
    if not path.is_file():
        raise EdgeemoError(f"{path}: no such device database (the device's --db, e.g. /var/lib/edgeemo/edgeemo.db)")
    read = 0
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as connection:
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)  # type: ignore[attr-defined]  # 3.11+
            connection.row_factory = sqlite3.Row
            cursor = connection.execute(_select(connection, path))
            while chunk := cursor.fetchmany(CHUNK):
                read += len(chunk)
                yield [dict(row) for row in chunk]
    except sqlite3.DatabaseError as exc:
        where = f" after {read:,} rows" if read else ""
        raise EdgeemoError(f"{path}: not a readable SQLite database{where} ({first_line(exc)})") from None


def _parsed(row: dict, number: int, store: str, device: str, now: float, rules: TimeRules | None
            ) -> Interval | Rejected:
    """One row as a received message would be read; a row no payload can be made of is refused, never raised."""
    try:
        body = json.dumps(payload_from_row(row, store, device)).encode()
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - whatever a hostile row holds: that row only
        return Rejected(store, device, "malformed", printable(f"row {number}: {type(exc).__name__}: {first_line(exc)}"))
    parsed = parse_message(store, device, body, 1 << 20, now, *([rules] if rules else []))
    if isinstance(parsed, Rejected):
        return Rejected(parsed.store, parsed.device, parsed.reason, printable(f"row {number}: {parsed.error}"))
    return parsed


def import_device_db(database: Database, path: Path, store: str, device: str,
                     rules: TimeRules | None = None, max_seq_jump: int | None = None) -> BatchResult:
    """Every row of the device's database, stored as if it had arrived over MQTT (refusals counted, each
    with its row number and reason)."""
    total, now, number = BatchResult(), time.time(), 0
    for rows in _chunks(path):
        parsed = []
        for row in rows:
            number += 1
            parsed.append(_parsed(row, number, store, device, now, rules))
        refused = [p for p in parsed if isinstance(p, Rejected)]
        if refused:
            with database.transaction(write=True) as tx:
                count_rejects(tx, refused, int(now))
        result = write_batch(database, [p for p in parsed if isinstance(p, Interval)], now,
                             *([max_seq_jump] if max_seq_jump else []))
        total.new += result.new
        total.changed += result.changed
        total.duplicates += result.duplicates
        total.refused += refused + result.refused
        total.devices |= result.devices
    return total

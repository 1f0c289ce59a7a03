"""The device database's schema and its versions (PRAGMA user_version), migrated in place.

Only aggregates and visits (times, dwell, emotion shares) are stored: never a frame, crop,
embedding or track id. A database written by a newer edgeemo is refused, never changed.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from edgeemo.errors import EdgeemoError

log = logging.getLogger(__name__)

DB_VERSION = 4  # PRAGMA user_version; 0 with tables = version 1 (before zones, labels and seq); 3 adds model;
# 4 adds the visits by face-size band (aggregates.bands) and each visit's face width
SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregates (
    start REAL NOT NULL,             -- interval start, unix seconds (UTC)
    zone TEXT NOT NULL,              -- the zone's name; 'all' without zones
    length_s INTEGER NOT NULL,
    faces_seen INTEGER NOT NULL,     -- distinct tracks in the zone in the interval
    visits INTEGER NOT NULL,
    emotions TEXT NOT NULL,          -- JSON {label: visits whose dominant emotion it was}
    satisfaction REAL,               -- edgeemo.aggregates.satisfaction_from_counts
    dwell_s_total REAL NOT NULL,
    labels TEXT,                     -- JSON [the model's labels, in output order]
    seq INTEGER,                     -- per-device sequence number, given when the row is first written
    groups TEXT,                     -- JSON {"positive": [...], "negative": [...]} of the satisfaction index
    sent INTEGER NOT NULL DEFAULT 0, -- 1 once the broker acknowledged this version of the row (the outbox)
    model TEXT,                      -- JSON {"name", "sha256"} of the model that classified the faces
    bands TEXT,                      -- JSON {face-size band: {label: visits}} (edgeemo.bands); NULL before version 4
    PRIMARY KEY (start, zone)
);
CREATE INDEX IF NOT EXISTS aggregates_unsent ON aggregates(seq) WHERE sent = 0;
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY,
    start REAL NOT NULL,
    end REAL NOT NULL,
    dwell_s REAL NOT NULL,
    dominant TEXT NOT NULL,
    shares TEXT NOT NULL,            -- JSON {label: share of the visit's frames}
    zone TEXT NOT NULL DEFAULT 'all',
    face_px REAL                     -- the median width of the face crops the visit was read from
);
CREATE INDEX IF NOT EXISTS visits_end ON visits(end);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- labels, satisfaction groups
"""
MIGRATE_1_TO_2 = """
ALTER TABLE aggregates RENAME TO aggregates_v1;
CREATE TABLE aggregates (
    start REAL NOT NULL, zone TEXT NOT NULL, length_s INTEGER NOT NULL, faces_seen INTEGER NOT NULL,
    visits INTEGER NOT NULL, emotions TEXT NOT NULL, satisfaction REAL, dwell_s_total REAL NOT NULL,
    labels TEXT, seq INTEGER, groups TEXT, sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (start, zone)
);
-- rows of version 1 were published (or not) by the old in-memory queue: they are not sent again
-- (`edgeemo hub import` backfills a device's history)
INSERT INTO aggregates SELECT start, 'all', length_s, faces_seen, visits, emotions, satisfaction, dwell_s_total,
    NULL, NULL, NULL, 1 FROM aggregates_v1;
DROP TABLE aggregates_v1;
ALTER TABLE visits ADD COLUMN zone TEXT NOT NULL DEFAULT 'all';
"""
MIGRATE_2_TO_3 = "ALTER TABLE aggregates ADD COLUMN model TEXT"  # rows written before it: model unknown
MIGRATE_3_TO_4 = ("ALTER TABLE aggregates ADD COLUMN bands TEXT", "ALTER TABLE visits ADD COLUMN face_px REAL")


class NewerDatabaseError(EdgeemoError):
    """The database was written by a newer edgeemo; it is left untouched."""


def _statements(script: str) -> list[str]:
    """The statements of a script, split where SQLite itself sees a statement end (comments included)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring a database to DB_VERSION in one transaction; a newer one is refused, never changed."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > DB_VERSION:
        raise NewerDatabaseError(f"{path}: database schema version {version} is newer than this edgeemo's "
                                 f"({DB_VERSION}); upgrade edgeemo or pass another --db")
    if version == DB_VERSION:
        return
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    old = "aggregates" in tables and "zone" not in {row[1] for row in connection.execute("PRAGMA table_info(aggregates)")}
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(MIGRATE_1_TO_2) if old else []:
            connection.execute(statement)
        if "aggregates" in tables and "model" not in {row[1] for row in connection.execute("PRAGMA table_info(aggregates)")}:
            connection.execute(MIGRATE_2_TO_3)
        if "aggregates" in tables and "bands" not in {row[1] for row in connection.execute("PRAGMA table_info(aggregates)")}:
            for statement in MIGRATE_3_TO_4:
                connection.execute(statement)
        for statement in _statements(SCHEMA):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {DB_VERSION}")
        connection.execute("COMMIT")
    except sqlite3.Error:
        connection.execute("ROLLBACK")
        raise
    if "aggregates" in tables:
        log.info("%s: database migrated from version %d to %d", path, version or 1, DB_VERSION)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the store's pragmas (WAL, synchronous=NORMAL)."""
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def open_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)

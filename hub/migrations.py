"""The hub's schema, versioned in the database itself (`hub_meta.schema_version`).

A hub opening an older database applies the missing steps in one transaction; a newer one
(written by a later edgeemo) is refused, since this code would misread it. Each step is
portable SQL that PostgreSQL and SQLite both accept. Times are unix seconds (UTC); roll-up
buckets are UTC hours and days.
"""

from __future__ import annotations

INTERVAL_NUMBERS = "faces_seen INTEGER NOT NULL, visits INTEGER NOT NULL, positive INTEGER NOT NULL, " \
                   "negative INTEGER NOT NULL, dwell_s_total DOUBLE PRECISION NOT NULL"

STEP_1 = [
    "CREATE TABLE hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # one row per device, zone and interval: the payload as received (validated)
    f"""CREATE TABLE intervals (
        store TEXT NOT NULL, device TEXT NOT NULL, zone TEXT NOT NULL, start BIGINT NOT NULL,
        length_s INTEGER NOT NULL, seq BIGINT, labels TEXT NOT NULL, emotions TEXT NOT NULL,
        groups TEXT NOT NULL, {INTERVAL_NUMBERS}, received_at BIGINT NOT NULL,
        PRIMARY KEY (store, device, zone, start))""",
    "CREATE INDEX intervals_seq ON intervals (store, device, seq)",
    # additive roll-ups, kept in the same transaction as the intervals they sum
    f"""CREATE TABLE hourly (store TEXT NOT NULL, device TEXT NOT NULL, zone TEXT NOT NULL, bucket BIGINT NOT NULL,
        intervals INTEGER NOT NULL, {INTERVAL_NUMBERS}, PRIMARY KEY (store, device, zone, bucket))""",
    "CREATE INDEX hourly_store ON hourly (store, bucket)",
    f"""CREATE TABLE daily (store TEXT NOT NULL, device TEXT NOT NULL, zone TEXT NOT NULL, bucket BIGINT NOT NULL,
        intervals INTEGER NOT NULL, {INTERVAL_NUMBERS}, PRIMARY KEY (store, device, zone, bucket))""",
    "CREATE INDEX daily_bucket ON daily (bucket)",
    """CREATE TABLE hourly_emotions (store TEXT NOT NULL, device TEXT NOT NULL, zone TEXT NOT NULL,
        bucket BIGINT NOT NULL, label TEXT NOT NULL, visits INTEGER NOT NULL,
        PRIMARY KEY (store, device, zone, bucket, label))""",
    "CREATE INDEX hourly_emotions_store ON hourly_emotions (store, bucket)",
    # each device's state: availability, last interval, sequence numbers and their gaps
    """CREATE TABLE devices (store TEXT NOT NULL, device TEXT NOT NULL, online INTEGER NOT NULL DEFAULT 0,
        availability_at BIGINT, last_seen BIGINT, last_start BIGINT, labels TEXT,
        max_seq BIGINT NOT NULL DEFAULT 0, contiguous_seq BIGINT NOT NULL DEFAULT 0,
        gaps TEXT NOT NULL DEFAULT '[]', gaps_dirty INTEGER NOT NULL DEFAULT 0,
        gap_requests INTEGER NOT NULL DEFAULT 0, next_request_at BIGINT,
        PRIMARY KEY (store, device))""",
    # refused payloads, counted per device and reason
    """CREATE TABLE rejects (store TEXT NOT NULL, device TEXT NOT NULL, reason TEXT NOT NULL,
        count BIGINT NOT NULL, last_at BIGINT NOT NULL, last_error TEXT NOT NULL,
        PRIMARY KEY (store, device, reason))""",
    """CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
        created_at BIGINT NOT NULL)""",
    """CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users (name)
        ON DELETE CASCADE, csrf TEXT NOT NULL, expires_at BIGINT NOT NULL)""",
]

# Version 2: how far each device's sequence numbers have been examined for gaps, so a check
# reads only the known gaps and what arrived above (version 1 re-read everything above the
# first gap). Existing devices start at 0: their first check reads their history once.
STEP_2 = ["ALTER TABLE devices ADD COLUMN checked_seq BIGINT NOT NULL DEFAULT 0"]

MIGRATIONS: list[list[str]] = [STEP_1, STEP_2]  # MIGRATIONS[i] takes a database from version i to i + 1


def latest_version() -> int:
    return len(MIGRATIONS)

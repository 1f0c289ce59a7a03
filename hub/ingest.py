"""From a received message to stored rows: parse, validate, then write a batch idempotently.

`parse_message` turns one MQTT message into an `Interval` or a `Rejected` (malformed JSON,
schema-invalid, oversized, or naming another device than its topic). `write_batch` stores
many intervals in one transaction keyed by (store, device, zone, start): an interval
delivered again with equal values is absorbed, one with new values (a device restart within
its interval added to it) replaces it, and the hourly and daily roll-ups move by the
difference, so they always equal the sum of the stored intervals.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from edgeemo.aggregates import PayloadError, validate_payload
from edgeemo.hub.db import Database, Tx
from edgeemo.hub.schema import (
    DAILY,
    DAY,
    DEVICES,
    HOUR,
    HOURLY,
    HOURLY_EMOTIONS,
    INTERVAL_FIELDS,
    INTERVALS,
    NUMBERS,
    REJECTS,
    Interval,
    interval_of,
    interval_row,
)
from edgeemo.wire import parse_iso


@dataclass(frozen=True)
class Rejected:
    store: str
    device: str
    reason: str  # malformed | invalid | oversized | foreign
    error: str


def _unix(text: str) -> int:
    return int(parse_iso(text))


def interval_from_payload(payload: dict) -> Interval:
    """A validated (version-2) payload as a row."""
    groups = payload["satisfaction_groups"]
    emotions = payload["emotions"]
    visits = payload["visits"]
    start = _unix(payload["start"])
    return Interval(
        store=payload["store_id"], device=payload["device_id"], zone=payload["zone"], start=start,
        length_s=max(1, _unix(payload["end"]) - start), seq=payload.get("seq"), labels=tuple(payload["labels"]),
        emotions=tuple((label, int(emotions.get(label, 0))) for label in payload["labels"]),
        groups=json.dumps(groups, separators=(",", ":")), faces_seen=payload["faces_seen"], visits=visits,
        positive=sum(emotions.get(label, 0) for label in groups["positive"]),
        negative=sum(emotions.get(label, 0) for label in groups["negative"]),
        dwell_s_total=round((payload["mean_dwell_s"] or 0.0) * visits, 3))


def parse_message(topic_store: str, topic_device: str, body: bytes, max_bytes: int) -> Interval | Rejected:
    """One message from a device's aggregates topic (`edgeemo.wire`); never raises."""
    if len(body) > max_bytes:
        return Rejected(topic_store, topic_device, "oversized", f"{len(body)} bytes, more than {max_bytes}")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected(topic_store, topic_device, "malformed", f"not JSON ({str(exc)[:120]})")
    try:
        payload = validate_payload(payload)
    except PayloadError as exc:
        return Rejected(topic_store, topic_device, "invalid", str(exc)[:200])
    if (payload["store_id"], payload["device_id"]) != (topic_store, topic_device):
        return Rejected(topic_store, topic_device, "foreign", f"payload names {payload['store_id']}/"
                        f"{payload['device_id']}, its topic {topic_store}/{topic_device}")
    try:
        return interval_from_payload(payload)
    except ValueError as exc:  # a date-time the schema's pattern let through but Python cannot read
        return Rejected(topic_store, topic_device, "invalid", f"start/end: {str(exc)[:120]}")


@dataclass
class BatchResult:
    new: int = 0
    changed: int = 0
    duplicates: int = 0
    devices: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _Delta:
    intervals: int = 0
    numbers: list[float] = field(default_factory=lambda: [0, 0, 0, 0, 0.0])
    emotions: Counter = field(default_factory=Counter)

    def add(self, interval: Interval, sign: int) -> None:
        self.intervals += sign
        for i, value in enumerate(interval.numbers()):
            self.numbers[i] += sign * value
        for label, visits in interval.emotions:
            self.emotions[label] += sign * visits


def _stored(tx: Tx, keys: list[tuple[str, str, str, int]]) -> dict[tuple, Interval]:
    rows = tx.rows_by_keys(INTERVALS.name, INTERVALS.names(INTERVAL_FIELDS), INTERVALS.arrays(INTERVALS.key), keys)
    return {interval.key: interval for interval in map(interval_of, rows)}


INTERVAL_COLUMNS = INTERVALS.arrays()
ROLLUP_COLUMNS = HOURLY.arrays()
EMOTION_COLUMNS = HOURLY_EMOTIONS.arrays()
DEVICE_COLUMNS = DEVICES.arrays(("store", "device", "last_seen", "last_start", "labels", "max_seq", "gaps_dirty"))
ON_INTERVAL_CONFLICT = f"ON CONFLICT ({', '.join(INTERVALS.key)}) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in INTERVAL_COLUMNS if name not in INTERVALS.key)


def _on_rollup_conflict(table: str) -> str:
    return f"ON CONFLICT ({', '.join(HOURLY.key)}) DO UPDATE SET " + ", ".join(
        f"{name} = {table}.{name} + excluded.{name}" for name in ("intervals", *(c.name for c in NUMBERS)))


ON_EMOTION_CONFLICT = ("ON CONFLICT (store, device, zone, bucket, label) DO UPDATE SET "
                       "visits = hourly_emotions.visits + excluded.visits")
ON_DEVICE_CONFLICT = (
    "ON CONFLICT (store, device) DO UPDATE SET last_seen = excluded.last_seen, "
    "last_start = CASE WHEN devices.last_start IS NULL OR excluded.last_start > devices.last_start "
    "THEN excluded.last_start ELSE devices.last_start END, labels = excluded.labels, "
    "max_seq = CASE WHEN excluded.max_seq > devices.max_seq THEN excluded.max_seq ELSE devices.max_seq END, "
    "gaps_dirty = 1")


def write_batch(database: Database, intervals: list[Interval], now: float | None = None) -> BatchResult:
    """Store a batch in one transaction; returns what was new, changed and already there."""
    return store_messages(database, intervals, [], [], now)


def store_messages(database: Database, intervals: list[Interval], rejects: list[Rejected],
                   availability: list[tuple[str, str, bool]], now: float | None = None) -> BatchResult:
    """One MQTT batch in one transaction: its intervals, its refused payloads and its devices'
    availability. All of it is stored or none is, so a retried batch counts nothing twice."""
    now = int(time.time() if now is None else now)
    with database.transaction(write=True) as tx:
        result = _write_intervals(tx, intervals, now)
        _count_rejects(tx, rejects, now)
        _set_availability(tx, availability, now)
    return result


def _write_intervals(tx: Tx, intervals: list[Interval], now: int) -> BatchResult:
    latest: dict[tuple, Interval] = {}
    for interval in intervals:  # the same key twice in one batch: the later delivery wins
        latest[interval.key] = interval
    result = BatchResult(duplicates=len(intervals) - len(latest))
    hourly: dict[tuple, _Delta] = defaultdict(_Delta)
    daily: dict[tuple, _Delta] = defaultdict(_Delta)
    devices: dict[tuple, list] = {}
    stored = _stored(tx, list(latest))
    writes = []
    for key, interval in latest.items():
        old = stored.get(key)
        if old == interval:
            result.duplicates += 1
            continue
        if old is None:
            result.new += 1
        else:
            result.changed += 1
        store, device, zone, start = key
        for table, bucket in ((hourly, start - start % HOUR), (daily, start - start % DAY)):
            if old is not None:
                table[(store, device, zone, bucket)].add(old, -1)
            table[(store, device, zone, bucket)].add(interval, +1)
        writes.append(interval_row(interval, now))
    for interval in latest.values():
        state = devices.setdefault((interval.store, interval.device), [interval.start, interval.labels, 0])
        state[0] = max(state[0], interval.start)
        state[1] = interval.labels
        state[2] = max(state[2], interval.seq or 0)
    tx.insert(INTERVALS.name, INTERVAL_COLUMNS, writes, ON_INTERVAL_CONFLICT)
    for table, deltas in ((HOURLY.name, hourly), (DAILY.name, daily)):
        tx.insert(table, ROLLUP_COLUMNS, [(*key, d.intervals, *d.numbers) for key, d in deltas.items()],
                  _on_rollup_conflict(table))
    tx.insert(HOURLY_EMOTIONS.name, EMOTION_COLUMNS,
              [(*key, label, n) for key, d in hourly.items() for label, n in d.emotions.items() if n],
              ON_EMOTION_CONFLICT)
    tx.insert(DEVICES.name, DEVICE_COLUMNS, [(store, device, now, start, json.dumps(labels), max_seq, 1)
                                          for (store, device), (start, labels, max_seq) in devices.items()],
              ON_DEVICE_CONFLICT)
    result.devices = set(devices)
    return result


REJECT_COLUMNS = REJECTS.arrays()
ON_REJECT_CONFLICT = ("ON CONFLICT (store, device, reason) DO UPDATE SET count = rejects.count + excluded.count, "
                      "last_at = excluded.last_at, last_error = excluded.last_error")
AVAILABILITY_COLUMNS = DEVICES.arrays(("store", "device", "online", "availability_at"))
ON_AVAILABILITY_CONFLICT = ("ON CONFLICT (store, device) DO UPDATE SET online = excluded.online, "
                            "availability_at = excluded.availability_at")


def _count_rejects(tx: Tx, rejects: list[Rejected], now: int) -> None:
    """Add refused payloads to the per-device, per-reason counters (kept with their last error)."""
    counts: dict[tuple, list] = {}
    for reject in rejects:
        entry = counts.setdefault((reject.store, reject.device, reject.reason), [0, reject.error])
        entry[0] += 1
        entry[1] = reject.error
    tx.insert("rejects", REJECT_COLUMNS, [(*key, n, now, error) for key, (n, error) in counts.items()],
              ON_REJECT_CONFLICT)


def _set_availability(tx: Tx, availability: list[tuple[str, str, bool]], now: int) -> None:
    """Each device's last word in the batch ("online", or the retained "offline")."""
    last = {(store, device): online for store, device, online in availability}
    tx.insert("devices", AVAILABILITY_COLUMNS, [(*key, int(online), now) for key, online in last.items()],
              ON_AVAILABILITY_CONFLICT)

"""Storing a batch: intervals idempotently with their roll-ups, refusals counted, availability,
dead letters; each batch in one transaction.

Intervals are keyed by (store, device, zone, start): one delivered again with equal values is
absorbed, one with new values (a device restart within its interval added to it) replaces it,
and the hourly roll-ups move by the difference, so they always equal the sum of the
stored intervals. Two checks need the database and are made here, refusing (and counting)
rather than storing: a sequence number further than `max_seq_jump` above the device's highest,
and an interval that overlaps another of its device and zone.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgeemo.hub.ingest.messages import Rejected
from edgeemo.hub.localtime import UTC
from edgeemo.hub.storage.db import Database, Tx
from edgeemo.hub.storage.dead_letters import room_for
from edgeemo.hub.storage.rollups import RollupDelta, add_to_rollups, write_rollups
from edgeemo.hub.storage.schema import (
    DEAD_LETTERS,
    DEVICES,
    INTERVAL_FIELDS,
    INTERVALS,
    REJECTS,
    Interval,
    interval_of,
    interval_row,
    json_list,
)
from edgeemo.hub.storage.stores import store_zones
from edgeemo.payload import printable

DEFAULT_MAX_SEQ_JUMP = 1_000_000


@dataclass
class BatchResult:
    new: int = 0
    changed: int = 0
    duplicates: int = 0
    refused: list[Rejected] = field(default_factory=list)  # by the checks that need the database
    devices: set[tuple[str, str]] = field(default_factory=set)


INTERVAL_COLUMNS = INTERVALS.arrays()
DEVICE_COLUMNS = DEVICES.arrays(("store", "device", "last_seen", "last_start", "labels", "max_seq", "gaps_dirty",
                                 "model", "groups"))
ON_INTERVAL_CONFLICT = f"ON CONFLICT ({', '.join(INTERVALS.key)}) DO UPDATE SET " + ", ".join(
    f"{name} = excluded.{name}" for name in INTERVAL_COLUMNS if name not in INTERVALS.key)
ON_DEVICE_CONFLICT = (
    "ON CONFLICT (store, device) DO UPDATE SET last_seen = excluded.last_seen, "
    "last_start = CASE WHEN devices.last_start IS NULL OR excluded.last_start > devices.last_start "
    "THEN excluded.last_start ELSE devices.last_start END, labels = excluded.labels, "
    "max_seq = CASE WHEN excluded.max_seq > devices.max_seq THEN excluded.max_seq ELSE devices.max_seq END, "
    "gaps_dirty = 1, model = COALESCE(excluded.model, devices.model), groups = excluded.groups")
REJECT_COLUMNS = REJECTS.arrays()
ON_REJECT_CONFLICT = ("ON CONFLICT (store, device, reason) DO UPDATE SET count = rejects.count + excluded.count, "
                      "last_at = excluded.last_at, last_error = excluded.last_error")
AVAILABILITY_COLUMNS = DEVICES.arrays(("store", "device", "online", "availability_at"))
ON_AVAILABILITY_CONFLICT = ("ON CONFLICT (store, device) DO UPDATE SET online = excluded.online, "
                            "availability_at = excluded.availability_at")
DEAD_LETTER_COLUMNS = DEAD_LETTERS.arrays()
ON_DEAD_LETTER_CONFLICT = ("ON CONFLICT (store, device, digest) DO UPDATE SET count = dead_letters.count + "
                           "excluded.count, last_at = excluded.last_at, error = excluded.error, reason = excluded.reason")


def write_batch(database: Database, intervals: list[Interval], now: float | None = None,
                max_seq_jump: int = DEFAULT_MAX_SEQ_JUMP) -> BatchResult:
    """Store intervals in one transaction (what `hub import` and the tests use); refusals are counted."""
    return store_messages(database, intervals, [], [], now, max_seq_jump)


def store_messages(database: Database, intervals: list[Interval], rejects: list[Rejected],
                   availability: list[tuple[str, str, bool]], now: float | None = None,
                   max_seq_jump: int = DEFAULT_MAX_SEQ_JUMP) -> BatchResult:
    """One MQTT batch in one transaction: its intervals, its refused payloads and its devices'
    availability. All of it is stored or none is, so a retried batch counts nothing twice."""
    now = int(time.time() if now is None else now)
    with database.transaction(write=True) as tx:
        result = _write_intervals(tx, intervals, now, max_seq_jump)
        count_rejects(tx, [*rejects, *result.refused], now)
        _set_availability(tx, availability, now)
    return result


def _write_intervals(tx: Tx, intervals: list[Interval], now: int, max_seq_jump: int) -> BatchResult:
    latest: dict[tuple, Interval] = {}
    for interval in intervals:  # the same key twice in one batch: the later delivery wins
        latest[interval.key] = interval
    result = BatchResult(duplicates=len(intervals) - len(latest))
    accepted = _checked(tx, latest, max_seq_jump, result)
    stored = accepted.pop(None)
    hourly: dict[tuple, RollupDelta] = defaultdict(RollupDelta)
    zones = store_zones(tx, {key[0] for key in accepted})  # read under the writers' lock: a zone change waits
    writes = []
    for key, interval in accepted.items():
        old = stored.get(key)
        if old == interval:
            result.duplicates += 1
            continue
        if old is None:
            result.new += 1
        else:
            result.changed += 1
        add_to_rollups(hourly, interval, old, zones.get(interval.store, UTC))
        writes.append(interval_row(interval, now))
    tx.insert(INTERVALS.name, INTERVAL_COLUMNS, writes, ON_INTERVAL_CONFLICT)
    write_rollups(tx, hourly)
    _note_devices(tx, accepted.values(), now, result)
    return result


def _checked(tx: Tx, latest: dict[tuple, Interval], max_seq_jump: int, result: BatchResult) -> dict:
    """The intervals that pass the checks needing the database, keyed as given; under the key None,
    the stored rows of their keys (an accepted key may replace one)."""
    keys = list(latest)
    names = INTERVALS.names(INTERVAL_FIELDS)
    found = tx.rows_and_neighbours(INTERVALS.name, names, INTERVALS.arrays(INTERVALS.key), keys,
                                   "n.start + n.length_s")
    stored, before, after = {}, {}, {}
    for index, *row in found:
        *columns, previous_end, next_start = row
        if columns[0] is not None:
            stored[keys[index]] = interval_of(tuple(columns))
        before[keys[index]], after[keys[index]] = previous_end, next_start
    highest = {(s, d): seq for s, d, seq in tx.rows_by_keys(
        DEVICES.name, "store, device, max_seq", DEVICES.arrays(("store", "device")),
        sorted({key[:2] for key in keys}))}
    accepted: dict = {}
    last_end: dict[tuple, int] = {}
    for key in sorted(keys):  # by device, zone and start: each interval against the one accepted before it
        interval, group = latest[key], key[:3]
        end = interval.start + interval.length_s
        old = stored.get(key)
        previous_end = max(before[key] or 0, last_end.get(group, 0))
        reason = why = None
        if old is not None and old.length_s != interval.length_s:
            reason, why = "overlap", f"a {interval.length_s} s interval at {interval.start} where a {old.length_s} s one is"
        elif previous_end > interval.start or (after[key] is not None and after[key] < end):
            reason, why = "overlap", f"the {interval.length_s} s interval at {interval.start} overlaps a neighbour"
        elif interval.seq is not None and highest.get(key[:2], 0) and interval.seq > highest[key[:2]] + max_seq_jump:
            reason = "seq_jump"
            why = f"seq {interval.seq} is more than {max_seq_jump} above the device's highest, {highest[key[:2]]}"
        if reason is not None:
            result.refused.append(Rejected(key[0], key[1], reason, f"{why} (zone {key[2]})"))
            continue
        accepted[key] = interval
        last_end[group] = max(last_end.get(group, 0), end)
        if interval.seq is not None:
            highest[key[:2]] = max(highest.get(key[:2], 0), interval.seq)
    accepted[None] = stored
    return accepted


def _note_devices(tx: Tx, intervals: Iterable[Interval], now: int, result: BatchResult) -> None:
    devices: dict[tuple, list] = {}
    for interval in intervals:
        state = devices.setdefault((interval.store, interval.device), [interval.start, interval.labels, 0, None, None])
        state[0] = max(state[0], interval.start)
        state[1] = interval.labels
        state[2] = max(state[2], interval.seq or 0)
        state[3] = interval.model or state[3]
        state[4] = interval.groups
    tx.insert(DEVICES.name, DEVICE_COLUMNS, [(store, device, now, start, json_list(labels), max_seq, 1, model, groups)
                                          for (store, device), (start, labels, max_seq, model, groups) in
                                          devices.items()], ON_DEVICE_CONFLICT)
    result.devices = set(devices)


def count_rejects(tx: Tx, rejects: list[Rejected], now: int) -> None:
    """Add refused payloads to the per-device, per-reason counters (kept with their last error)."""
    counts: dict[tuple, list] = {}
    for reject in rejects:
        entry = counts.setdefault((reject.store, reject.device, reject.reason), [0, reject.error])
        entry[0] += 1
        entry[1] = reject.error
    add_reject_counts(tx, counts, now)


def add_reject_counts(tx: Tx, counts: dict[tuple[str, str, str], list], now: int) -> None:
    """{(store, device, reason): [count, last error]} added to the counters. Store and device come
    from a topic, which may hold anything but a NUL: they are kept printable and short."""
    merged: dict[tuple, list] = {}
    for (store, device, reason), (n, error) in counts.items():
        entry = merged.setdefault((printable(store, 64), printable(device, 64), reason), [0, ""])
        entry[0] += n
        entry[1] = printable(error)
    tx.insert(REJECTS.name, REJECT_COLUMNS, [(*key, n, now, error) for key, (n, error) in merged.items()],
              ON_REJECT_CONFLICT)


def _set_availability(tx: Tx, availability: list[tuple[str, str, bool]], now: int) -> None:
    """Each device's last word in the batch ("online", or the retained "offline")."""
    last = {(store, device): online for store, device, online in availability}
    tx.insert(DEVICES.name, AVAILABILITY_COLUMNS, [(*key, int(online), now) for key, online in last.items()],
              ON_AVAILABILITY_CONFLICT)


def keep_dead_letter(database: Database, store: str, device: str, topic: str, body: bytes | bytearray, error: str,
                     now: float | None = None) -> bool:
    """A message that could not be stored after retries: kept (once per distinct body) with why, while
    the device and the hub have room for it (`edgeemo.hub.storage.dead_letters`); past that, only counted (the
    device keeps the row, and a gap asks for it again). True when kept."""
    now = int(time.time() if now is None else now)
    digest = hashlib.sha256(body).hexdigest()
    store, device = printable(store, 64), printable(device, 64)
    with database.transaction(write=True) as tx:
        if not room_for(tx, store, device, digest):
            add_reject_counts(tx, {(store, device, "unstorable"): [1, printable(error)]}, now)
            return False
        tx.insert(DEAD_LETTERS.name, DEAD_LETTER_COLUMNS,
                  [(store, device, digest, printable(topic, 300), "unstorable",
                    printable(error, 500), base64.b64encode(body).decode(), 1, now, now)], ON_DEAD_LETTER_CONFLICT)
    return True

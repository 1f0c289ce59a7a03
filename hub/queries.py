"""What the dashboard, the API and `hub export` show, read from the roll-ups.

Every bucket goes through `bucket_numbers`, which applies the k-anonymity rule of
`edgeemo report` (`edgeemo.aggregates.is_suppressed`): a bucket with fewer than k visits
keeps its start and its `suppressed` flag, and nothing else. Buckets are UTC hours, days and
ISO weeks (Monday). The emotion labels are whatever the devices reported.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from edgeemo.aggregates import is_suppressed, satisfaction_from_totals
from edgeemo.errors import EdgeemoError
from edgeemo.hub.db import Database, Tx
from edgeemo.hub.schema import DAY, HOUR
from edgeemo.wire import iso, parse_iso

BUCKETS = {"hour": HOUR, "day": DAY, "week": 7 * DAY}
MONDAY_OFFSET = 3 * DAY  # the unix epoch was a Thursday


class QueryError(EdgeemoError):
    """A range, bucket or k that cannot be shown (the API answers 400, the CLI one line)."""


def parse_time(text: str, name: str) -> int:
    """A date (2026-11-01) or date-time (2026-11-01T10:00[Z]) as unix seconds, UTC unless it says otherwise."""
    try:
        return int(parse_iso(text))
    except ValueError:
        raise QueryError(f"{name}={text!r}: expected a date like 2026-11-01 or 2026-11-01T10:00Z") from None


def time_range(params: dict, default_days: int = 7, suffix: str = "") -> tuple[int, int]:
    """[since, until) from since/until or days (ending now)."""
    now = int(time.time())
    until = parse_time(params[f"until{suffix}"], f"until{suffix}") if params.get(f"until{suffix}") else now
    if params.get(f"since{suffix}"):
        since = parse_time(params[f"since{suffix}"], f"since{suffix}")
    else:
        try:
            days = float(params.get(f"days{suffix}", default_days))
        except ValueError:
            raise QueryError(f"days{suffix}={params.get(f'days{suffix}')!r}: expected a number") from None
        if not 0 < days <= 3660:
            raise QueryError(f"days{suffix}={days:g}: expected 0 < days <= 3660")
        since = until - int(days * 86400)
    if since >= until:
        raise QueryError(f"since{suffix} must be before until{suffix}")
    return since, until


def choose_bucket(params: dict, since: int, until: int) -> str:
    bucket = params.get("bucket") or ("hour" if until - since <= 3 * 86400 else "day")
    if bucket not in BUCKETS:
        raise QueryError(f"bucket={bucket!r}: choose hour, day or week")
    if bucket == "hour" and until - since > 92 * 86400:
        raise QueryError("bucket=hour covers at most 92 days: choose day or week")
    return bucket


def min_visits(params: dict, default: int) -> int:
    try:
        k = int(params.get("min_visits", default))
    except ValueError:
        raise QueryError("min_visits: expected an integer") from None
    if k < default:  # a viewer may suppress more, never less, than the fleet's k
        raise QueryError(f"min_visits={k}: the hub's k is {default}; only larger values are allowed")
    return k


@dataclass
class Totals:
    visits: int = 0
    positive: int = 0
    negative: int = 0
    faces_seen: int = 0
    dwell_s_total: float = 0.0

    def add(self, visits: int, positive: int, negative: int, faces: int = 0, dwell: float = 0.0) -> None:
        self.visits += visits
        self.positive += positive
        self.negative += negative
        self.faces_seen += faces
        self.dwell_s_total += dwell


def bucket_numbers(totals: Totals, min_visits: int, emotions: Counter | None = None,
                   labels: Iterable[str] = ()) -> dict:
    """One bucket's public numbers; a bucket under k visits shows only that it was suppressed."""
    suppressed = is_suppressed(totals.visits, min_visits)
    numbers = {
        "visits": None if suppressed else totals.visits,
        "suppressed": suppressed,
        "satisfaction_index": None if suppressed else _round(
            satisfaction_from_totals(totals.positive, totals.negative, totals.visits)),
        "faces_seen": None if suppressed else totals.faces_seen,
        "mean_dwell_s": None if suppressed or not totals.visits else round(totals.dwell_s_total / totals.visits, 2),
    }
    if emotions is not None:
        for label in labels:
            numbers[f"share_{label}"] = None if suppressed or not totals.visits else round(
                emotions.get(label, 0) / totals.visits, 4)
    return numbers


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def bucket_start(timestamp: int, bucket: str) -> int:
    if bucket == "week":
        return timestamp - (timestamp - MONDAY_OFFSET) % BUCKETS["week"]
    return timestamp - timestamp % BUCKETS[bucket]


def store_labels(tx: Tx, stores: Iterable[str]) -> list[str]:
    """The union of the stores' devices' labels, in the order the models report them."""
    labels: list[str] = []
    stores = list(stores)
    marks = ",".join("?" * len(stores))
    for (text,) in tx.rows(f"SELECT labels FROM devices WHERE labels IS NOT NULL AND store IN ({marks}) "
                           "ORDER BY store, device", stores):
        labels += [label for label in json.loads(text) if label not in labels]
    return labels


def list_stores(database: Database) -> list[str]:
    with database.transaction() as tx:
        return [row[0] for row in tx.rows("SELECT DISTINCT store FROM devices ORDER BY store")]


# -- the fleet overview ------------------------------------------------------------------------
PERIODS = {"today": 1, "7d": 7, "30d": 30}


def _no_devices(store: str) -> dict:
    return {"store": store, "devices": 0, "online": 0, "offline": 0, "stale": 0, "last_seen": None, "open_gaps": 0}


def overview(database: Database, min_visits: int, stale_after_s: int, now: float | None = None) -> dict:
    """Every store: satisfaction and visits for today, 7 and 30 days, against the period before;
    its devices online, offline and stale."""
    now = int(time.time() if now is None else now)
    today = now - now % DAY
    with database.transaction() as tx:
        rows = tx.rows("SELECT store, bucket, sum(visits), sum(positive), sum(negative) FROM daily "
                       "WHERE bucket >= ? GROUP BY store, bucket", (today - 59 * DAY,))
        devices = tx.rows("SELECT store, device, online, last_seen, last_start, gaps FROM devices")
        dead_letters = tx.one("SELECT count(*) FROM dead_letters")[0]
    windows: dict[str, dict[str, Totals]] = defaultdict(lambda: defaultdict(Totals))
    for store, day, visits, positive, negative in rows:
        age = (today - day) // DAY
        for name, days in PERIODS.items():
            if age < days:
                windows[store][name].add(visits, positive, negative)
            elif age < 2 * days:
                windows[store][f"prev_{name}"].add(visits, positive, negative)
    stores: dict[str, dict] = {}
    for store, device, online, last_seen, last_start, gaps in devices:
        entry = stores.setdefault(store, _no_devices(store))
        entry["devices"] += 1
        entry["online" if online else "offline"] += 1
        fresh = last_start is not None and now - last_start <= stale_after_s
        entry["stale"] += int(not fresh)
        entry["open_gaps"] += len(json.loads(gaps))
        if last_seen and (entry["last_seen"] is None or last_seen > entry["last_seen"]):
            entry["last_seen"] = last_seen
    result = []
    for store in sorted(set(stores) | set(windows)):
        entry = stores.get(store) or _no_devices(store)
        entry = dict(entry, last_seen=iso(entry["last_seen"]) if entry["last_seen"] else None)
        for name in PERIODS:
            current = bucket_numbers(windows[store][name], min_visits)
            previous = bucket_numbers(windows[store][f"prev_{name}"], min_visits)
            entry[f"visits_{name}"] = current["visits"]
            entry[f"satisfaction_{name}"] = current["satisfaction_index"]
            entry[f"satisfaction_change_{name}"] = None if None in (
                current["satisfaction_index"], previous["satisfaction_index"]) else round(
                current["satisfaction_index"] - previous["satisfaction_index"], 4)
            entry[f"visits_change_{name}"] = None if None in (current["visits"], previous["visits"]) else (
                current["visits"] - previous["visits"])
        result.append(entry)
    return {"generated_at": iso(now), "min_visits": min_visits, "stale_after_s": stale_after_s,
            "dead_letters": int(dead_letters), "stores": result}


# -- one store ---------------------------------------------------------------------------------
def _zone_filter(zone: str | None) -> tuple[str, list]:
    return (" AND zone = ?", [zone]) if zone else ("", [])


def series(database: Database, store: str, since: int, until: int, bucket: str, min_visits: int,
           zone: str | None = None) -> dict:
    """A store's numbers per bucket over [since, until), with each label's share of visits."""
    table = "hourly" if bucket == "hour" else "daily"
    first = bucket_start(since, "day" if bucket == "week" else bucket)
    where, extra = _zone_filter(zone)
    with database.transaction() as tx:
        labels = store_labels(tx, [store])
        rows = tx.rows(f"SELECT bucket, sum(visits), sum(positive), sum(negative), sum(faces_seen), "
                       f"sum(dwell_s_total) FROM {table} WHERE store = ? AND bucket >= ? AND bucket < ?{where} "
                       "GROUP BY bucket", [store, first, until, *extra])
        mix = tx.rows(f"SELECT bucket, label, sum(visits) FROM hourly_emotions WHERE store = ? AND bucket >= ? "
                      f"AND bucket < ?{where} GROUP BY bucket, label", [store, first, until, *extra])
    totals: dict[int, Totals] = defaultdict(Totals)
    for start, visits, positive, negative, faces, dwell in rows:
        totals[bucket_start(start, bucket)].add(visits, positive, negative, faces, dwell)
    emotions: dict[int, Counter] = defaultdict(Counter)
    for start, label, visits in mix:
        emotions[bucket_start(start, bucket)][label] += visits
    points = [{"start": iso(start), **bucket_numbers(totals[start], min_visits, emotions[start], labels)}
              for start in sorted(totals)]
    return {"store": store, "zone": zone, "bucket": bucket, "since": iso(since), "until": iso(until),
            "min_visits": min_visits, "labels": labels, "series": points}


def emotion_mix(database: Database, store: str, since: int, until: int, min_visits: int,
                zone: str | None = None) -> dict:
    where, extra = _zone_filter(zone)
    with database.transaction() as tx:
        labels = store_labels(tx, [store])
        rows = tx.rows(f"SELECT label, sum(visits) FROM hourly_emotions WHERE store = ? AND bucket >= ? "
                       f"AND bucket < ?{where} GROUP BY label", [store, bucket_start(since, "hour"), until, *extra])
    counts = Counter({label: visits for label, visits in rows})
    labels += sorted(set(counts) - set(labels))
    total = sum(counts.values())
    suppressed = is_suppressed(total, min_visits)
    return {"store": store, "labels": labels, "visits": None if suppressed else total, "suppressed": suppressed,
            "shares": {label: None if suppressed else round(counts[label] / total, 4) for label in labels}}


def heatmap(database: Database, store: str, since: int, until: int, min_visits: int,
            zone: str | None = None) -> dict:
    """Visits and satisfaction by weekday and hour of day (UTC) over the range."""
    where, extra = _zone_filter(zone)
    with database.transaction() as tx:
        rows = tx.rows(f"SELECT bucket, sum(visits), sum(positive), sum(negative) FROM hourly WHERE store = ? "
                       f"AND bucket >= ? AND bucket < ?{where} GROUP BY bucket",
                       [store, bucket_start(since, "hour"), until, *extra])
    cells: dict[tuple[int, int], Totals] = defaultdict(Totals)
    for start, visits, positive, negative in rows:
        weekday = ((start - MONDAY_OFFSET) // DAY) % 7  # 0 = Monday
        cells[(weekday, (start % DAY) // HOUR)].add(visits, positive, negative)
    grid = [[{"weekday": day, "hour": hour, **bucket_numbers(cells[(day, hour)], min_visits)} for hour in range(24)]
            for day in range(7)]
    return {"store": store, "timezone": "UTC", "min_visits": min_visits, "cells": grid}


def devices(database: Database, store: str | None, since: int, until: int, min_visits: int,
            stale_after_s: int, now: float | None = None) -> list[dict]:
    """Each device (and zone) of a store: its state and its numbers over the range."""
    now = int(time.time() if now is None else now)
    where, extra = (" WHERE d.store = ?", [store]) if store else ("", [])
    with database.transaction() as tx:
        state = tx.rows(f"SELECT store, device, online, last_seen, last_start, labels, gaps FROM devices d{where} "
                        "ORDER BY store, device", extra)
        numbers = tx.rows(f"SELECT store, device, zone, sum(visits), sum(positive), sum(negative) FROM daily d"
                          f"{where}{' AND' if store else ' WHERE'} bucket >= ? AND bucket < ? "
                          "GROUP BY store, device, zone", [*extra, bucket_start(since, "day"), until])
    zones: dict[tuple[str, str], dict[str, Totals]] = defaultdict(lambda: defaultdict(Totals))
    for s, d, zone, visits, positive, negative in numbers:
        zones[(s, d)][zone].add(visits, positive, negative)
    result = []
    for s, d, online, last_seen, last_start, labels, gaps in state:
        all_zones = Totals()
        for totals in zones[(s, d)].values():
            all_zones.add(totals.visits, totals.positive, totals.negative)
        numbers = bucket_numbers(all_zones, min_visits)
        result.append({
            "store": s, "device": d, "online": bool(online), "last_seen": iso(last_seen) if last_seen else None,
            "last_interval": iso(last_start) if last_start else None,
            "stale": last_start is None or now - last_start > stale_after_s,
            "labels": json.loads(labels) if labels else [], "open_gaps": json.loads(gaps),
            "visits": numbers["visits"], "suppressed": numbers["suppressed"],
            "satisfaction_index": numbers["satisfaction_index"],
            "zones": {zone: bucket_numbers(t, min_visits) for zone, t in sorted(zones[(s, d)].items())},
        })
    return result


def health(database: Database, now: float | None = None) -> dict:
    """What `/api/health` shows: device counts, open gaps, refused payloads (no customer numbers)."""
    now = int(time.time() if now is None else now)
    with database.transaction() as tx:
        online, total = tx.one("SELECT coalesce(sum(online), 0), count(*) FROM devices")
        gaps = [(s, d, json.loads(g)) for s, d, g in tx.rows("SELECT store, device, gaps FROM devices "
                                                            "WHERE gaps <> '[]' ORDER BY store, device")]
        rejects = tx.rows("SELECT reason, sum(count) FROM rejects GROUP BY reason")
        dead = tx.one("SELECT count(*) FROM dead_letters")[0]
    return {
        "devices": int(total), "online": int(online), "offline": int(total) - int(online),
        "open_gaps": [{"store": s, "device": d, "missing": sum(b - a + 1 for a, b in g), "ranges": g}
                      for s, d, g in gaps],
        "rejected": {reason: int(n) for reason, n in rejects}, "dead_letters": int(dead), "checked_at": iso(now),
    }

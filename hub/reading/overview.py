"""The fleet overview: every store's today, 7 and 30 days against the period before, in each
store's own calendar (its "today" starts at its local midnight and holds the hours that are over),
with every change marked significant only when it is over the whole page (Holm's correction).
Like every view it sums only the cells `edgeemo.aggregates.Release` keeps."""

from __future__ import annotations

import json
import time
from collections import defaultdict

from edgeemo.aggregates import Release, is_suppressed
from edgeemo.estimates import Difference, difference, holm
from edgeemo.hub.estimating import Estimator
from edgeemo.hub.localtime import UTC, day_start, days_between, local_iso
from edgeemo.hub.reading.numbers import COUNT_ONLY, EstimateSettings, Totals, bucket_numbers, estimator
from edgeemo.hub.storage.db import Database, Tx
from edgeemo.hub.storage.schema import DAY
from edgeemo.hub.storage.stores import store_zones
from edgeemo.hub.storage.upkeep import sealed_until
from edgeemo.wire import iso

PERIODS = {"today": 1, "7d": 7, "30d": 30}


def _no_devices(store: str) -> dict:
    return {"store": store, "devices": 0, "online": 0, "offline": 0, "stale": 0, "last_seen": None, "open_gaps": 0}


def overview(database: Database, min_visits: int, stale_after_s: int, now: float | None = None,
             estimates: EstimateSettings = COUNT_ONLY) -> dict:
    """Every store: satisfaction and visits for today, 7 and 30 days, against the period before (each
    change marked significant only when it is, over the whole page: Holm's correction); its devices
    online, offline and stale."""
    now = int(time.time() if now is None else now)
    first = now - now % DAY - 61 * DAY  # 61 days back from the earliest local midnight (UTC+14) covers every zone
    with database.transaction() as tx:
        rows = _released_days(tx, min_visits, now, first)
        band_rows = _released_bands(tx, min_visits, now, first)
        devices = tx.rows("SELECT store, device, online, last_seen, last_start, gaps FROM devices")
        dead_letters = tx.row("SELECT count(*) FROM dead_letters")[0]
        estimate = estimator(tx, estimates)
        zones = store_zones(tx)
    windows: dict[str, dict[str, Totals]] = defaultdict(lambda: defaultdict(Totals))
    todays = {store: day_start(zone, now) for store, zone in zones.items()}
    for store, device, model, day, visits, positive, negative in rows:  # device: the store when sealed
        zone = zones.get(store, UTC)
        age = days_between(zone, day, todays.get(store, now - now % DAY))
        for name, days in PERIODS.items():
            if age < days:
                windows[store][name].add(visits, positive, negative, part=(f"{store}/{device}", model))
            elif age < 2 * days:
                windows[store][f"prev_{name}"].add(visits, positive, negative, part=(f"{store}/{device}", model))
    for store, device, model, day, band, label, visits in band_rows:
        age = days_between(zones.get(store, UTC), day, todays.get(store, now - now % DAY))
        for name, days in PERIODS.items():
            window = name if age < days else f"prev_{name}" if age < 2 * days else None
            if window is not None:
                windows[store][window].add_band((f"{store}/{device}", model), band, label, visits)
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
    result: list[dict] = []
    changes: list[tuple[dict, str, Difference | None]] = []
    for store in sorted(set(stores) | set(windows)):
        entry = stores.get(store) or _no_devices(store)
        zone = zones.get(store, UTC)
        entry = dict(entry, last_seen=local_iso(zone, entry["last_seen"]) if entry["last_seen"] else None, timezone=zone,
                     today_starts=local_iso(zone, todays.get(store, now - now % DAY)))
        for name in PERIODS:
            current, previous = windows[store][name], windows[store][f"prev_{name}"]
            shown = bucket_numbers(current, min_visits, estimate)
            entry[f"visits_{name}"] = shown["visits"]
            for key in ("index", "low", "high", "method", "imprecise", "raw"):
                entry[f"satisfaction_{name}" + ("" if key == "index" else f"_{key}")] = shown[f"satisfaction_{key}"]
            change = _change(current, previous, min_visits, estimate)
            entry[f"satisfaction_change_{name}"] = change.value if change else None
            changes.append((entry, name, change))
            visits_before = bucket_numbers(previous, min_visits)["visits"]
            entry[f"visits_change_{name}"] = None if None in (shown["visits"], visits_before) else (
                shown["visits"] - visits_before)
        result.append(entry)
    _mark_significant(changes, "satisfaction_change_{}_significant")
    return {"generated_at": iso(now), "min_visits": min_visits, "stale_after_s": stale_after_s,
            "dead_letters": int(dead_letters), "precision_floor": estimates.floor, "stores": result}


def _released_days(tx: Tx, k: int, now: int, first: int) -> list[tuple]:
    """(store, device, model, day, visits, positive, negative) of the released cells from `first` on: the
    sealed days (one row a store-day and model, hub/storage/upkeep.py) when they were sealed with this k lately, else
    summed from the cells (a hub whose upkeep has not run yet or has stopped, or a viewer's larger k)."""
    if sealed_until(tx, k, -1, now, now):  # the range reaches the present: only the seal's k and age decide
        return tx.rows("SELECT store, store, NULLIF(model, ''), day, sum(visits), sum(positive), sum(negative) "
                       "FROM released_daily WHERE day >= ? GROUP BY store, model, day", (first,))
    rule, released = Release(k, now).sql()
    return tx.rows("SELECT store, device, model, day, sum(visits), sum(positive), sum(negative) FROM hourly "
                   f"WHERE bucket >= ?{rule} GROUP BY store, device, model, day", (first, *released))


def _released_bands(tx: Tx, k: int, now: int, first: int) -> list[tuple]:
    """(store, device, model, day, band, label, visits) of the same released cells as `_released_days`."""
    if sealed_until(tx, k, -1, now, now):
        return tx.rows("SELECT store, store, NULLIF(model, ''), day, band, label, sum(visits) FROM released_daily_bands "
                       "WHERE day >= ? GROUP BY store, model, day, band, label", (first,))
    rule, released = Release(k, now).sql("h")
    return tx.rows("SELECT h.store, h.device, h.model, h.day, b.band, b.label, sum(b.visits) FROM hourly h JOIN "
                   "hourly_bands b ON b.store = h.store AND b.device = h.device AND b.zone = h.zone AND "
                   f"b.bucket = h.bucket WHERE h.bucket >= ?{rule} GROUP BY h.store, h.device, h.model, h.day, b.band, "
                   "b.label", (first, *released))


def _change(current: Totals, previous: Totals, min_visits: int, estimate: Estimator):
    """The difference of two periods' indices (both shown: at least k visits each), or None. A
    corrected figure and a raw one do not compare (the correction alone would read as a change):
    then both are compared raw."""
    if is_suppressed(current.visits, min_visits) or is_suppressed(previous.visits, min_visits):
        return None
    before, after = estimate.index(previous.parts, previous.bands), estimate.index(current.parts, current.bands)
    if before.method != after.method:
        before, after = previous.count(), current.count()
    found = difference(before, after)
    return None if found.value is None else found


def _mark_significant(changes: list[tuple[dict, str, Difference | None]], key: str) -> None:
    """Holm over every difference of a page: `key` (with the period) says which survive."""
    significant = holm([change.p_value if change else None for _, _, change in changes])
    for (entry, name, change), mark in zip(changes, significant):
        entry[key.format(name)] = mark if change else None  # the same keys on every row (the CSV's columns)
        for suffix, value in (("", "value"), ("_low", "low"), ("_high", "high")):
            entry[f"satisfaction_change_{name}{suffix}"] = round(getattr(change, value), 4) if change else None



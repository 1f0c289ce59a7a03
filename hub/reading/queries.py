"""What the dashboard, the API and `hub export` show, read from the roll-ups.

Every number is a sum of whole cells (one device's zone over one local hour) that the
k-anonymity rule `edgeemo.aggregates.Release` keeps, the rule `edgeemo report` applies too
(at least k visits, the hour over and settled), so no combination of answers isolates a group
under k; a bucket without released cells is not listed (the heatmap's fixed grid shows it
suppressed), and a range's total without any is suppressed (`bucket_numbers`). A shown bucket's satisfaction
index is the corrected estimate with its 95% interval (`edgeemo.hub.estimating`), flagged
imprecise when the interval is wider than the precision floor, with the raw count beside it.
Buckets are the store's local hours, days and ISO weeks (Monday first). The emotion labels are whatever the
devices reported.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

from edgeemo.aggregates import Release, is_suppressed
from edgeemo.hub.estimating import Part
from edgeemo.hub.localtime import (
    UTC,
    bucket_start,
    day_start,
    hour_start,
    local_iso,
    offset_label,
    weekday_hour,
)
from edgeemo.hub.reading.numbers import (
    COUNT_ONLY,
    NO_INDEX,
    EstimateSettings,
    Totals,
    bucket_numbers,
    estimator,
    range_numbers,
)
from edgeemo.hub.storage.db import Database, Tx
from edgeemo.hub.storage.schema import HOUR
from edgeemo.hub.storage.stores import store_zones, zone_of
from edgeemo.hub.storage.upkeep import sealed_until
from edgeemo.wire import iso


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


# -- one store ---------------------------------------------------------------------------------
# Every number below is summed from whole cells (hourly rows) that `Release` keeps: at least k visits and
# over. A range starts at the cell (or local day) holding `since` and takes every cell that starts before
# `until`, so it is always a set of whole cells.
def _cells(store: str | None, first: int, until: int, release: Release, zone: str | None = None,
           alias: str = "") -> tuple[str, list]:
    """The WHERE clause of the cells `release` keeps of a store (all stores: None) and zone, starting in
    [first, until). A bucket without any is not listed: whether it had a few visits or none never shows."""
    prefix = f"{alias}." if alias else ""
    params: list[object] = [first, until]
    where = f"{prefix}bucket >= ? AND {prefix}bucket < ?"
    if store is not None:
        where, params = f"{prefix}store = ? AND {where}", [store, *params]
    if zone:
        where, params = f"{where} AND {prefix}zone = ?", [*params, zone]
    rule, values = release.sql(alias)
    return f" WHERE {where}{rule}", [*params, *values]


def _days(store: str | None, first: int, until: int, zone: str | None = None, alias: str = "") -> tuple[str, list]:
    """The WHERE clause of the sealed released days of a store (all: None) and zone, from `first` to `until`."""
    prefix = f"{alias}." if alias else ""
    params: list[object] = [first, until]
    where = f" WHERE {prefix}day >= ? AND {prefix}day < ?"
    if store is not None:
        where, params = f"{where} AND {prefix}store = ?", [*params, store]
    if zone:
        where, params = f"{where} AND {prefix}zone = ?", [*params, zone]
    return where, params


def _sealed(tx: Tx, k: int, timezone: str | None, until: int, now: float | None) -> bool:
    """Whether whole released days (hub/storage/upkeep.py) answer a range of days ending at `until` (timezone None:
    stores of several zones, whose local days one range cannot cut: never)."""
    if timezone is None:  # several stores' local days: the cells answer
        return False
    return sealed_until(tx, k, day_start(timezone, until), until, time.time() if now is None else now)


def _release(min_visits: int, now: float | None) -> Release:
    return Release(min_visits, time.time() if now is None else now)


def range_start(timezone: str, since: int, bucket: str) -> int:
    """Where every view of a range starts: the local hour holding `since` (hour buckets) or its local
    midnight (day and week buckets). The series, the mix, the heatmap and the devices all sum the cells
    from here to `until`, so a page's headline, charts and devices table count the same visits."""
    return bucket_start(timezone, since, "hour" if bucket == "hour" else "day")


def _shown_until(timezone: str, until: int) -> int:
    """The end of the last cell a range ending at `until` takes (the range as released)."""
    start = hour_start(timezone, until - 1)
    return max(start + HOUR, until)


def series(database: Database, store: str, since: int, until: int, bucket: str, min_visits: int,
           zone: str | None = None, estimates: EstimateSettings = COUNT_ONLY, now: float | None = None) -> dict:
    """A store's numbers per bucket over [since, until), with each label's share of visits (raw), and
    the whole range's index."""
    group = "bucket" if bucket == "hour" else "day"
    with database.transaction() as tx:
        timezone = zone_of(tx, store)
        first = range_start(timezone, since, bucket)
        labels = store_labels(tx, [store])
        if bucket != "hour" and _sealed(tx, min_visits, timezone, until, now):  # whole days: the sealed ones
            where, params = _days(store, first, until, zone)
            rows = tx.rows("SELECT day, device, NULLIF(model, ''), sum(visits), sum(positive), sum(negative), "
                           f"sum(faces_seen), sum(dwell_s_total) FROM released_daily{where} GROUP BY day, device, model",
                           params)
            mix = tx.rows("SELECT day, device, NULLIF(model, ''), band, label, sum(visits) FROM released_daily_bands"
                          f"{where} GROUP BY day, device, model, band, label", params)
        else:
            where, params = _cells(store, first, until, _release(min_visits, now), zone)
            rows = tx.rows(f"SELECT {group}, device, model, sum(visits), sum(positive), sum(negative), "
                           f"sum(faces_seen), sum(dwell_s_total) FROM hourly{where} GROUP BY {group}, device, model",
                           params)
            where, params = _cells(store, first, until, _release(min_visits, now), zone, "h")
            mix = tx.rows(f"SELECT h.{group}, h.device, h.model, b.band, b.label, sum(b.visits) FROM hourly h JOIN "
                          f"hourly_bands b ON {_SAME_CELL}{where} GROUP BY h.{group}, h.device, h.model, b.band, b.label",
                          params)
        estimate = estimator(tx, estimates, [store])
    totals: dict[int, Totals] = defaultdict(Totals)
    whole = Totals()
    for start, device, model, visits, positive, negative, faces, dwell in rows:
        totals[bucket_start(timezone, start, bucket)].add(visits, positive, negative, faces, dwell,
                                                         (f"{store}/{device}", model))
        whole.add(visits, positive, negative, faces, dwell, (f"{store}/{device}", model))
    emotions: dict[int, Counter] = defaultdict(Counter)
    for start, device, model, band, label, visits in mix:
        shown = bucket_start(timezone, start, bucket)
        emotions[shown][label] += visits
        totals[shown].add_band((f"{store}/{device}", model), band, label, visits)
        whole.add_band((f"{store}/{device}", model), band, label, visits)
    points = [{"start": local_iso(timezone, start),
               **bucket_numbers(totals[start], min_visits, estimate, emotions[start], labels)} for start in sorted(totals)]
    return {"store": store, "zone": zone, "bucket": bucket, "timezone": timezone, "since": local_iso(timezone, first),
            "until": local_iso(timezone, _shown_until(timezone, until)),
            "min_visits": min_visits, "labels": labels, "series": points, "total": range_numbers(whole, min_visits,
                                                                                                estimate)}


_SAME_CELL = "b.store = h.store AND b.device = h.device AND b.zone = h.zone AND b.bucket = h.bucket"


def emotion_mix(database: Database, store: str, since: int, until: int, min_visits: int,
                zone: str | None = None, estimates: EstimateSettings = COUNT_ONLY, bucket: str = "hour",
                now: float | None = None) -> dict:
    """Each label's share of the range's visits: corrected, with its 95% interval, and raw; over the
    cells the series of the same range and bucket sums (from the local midnight unless `bucket` is hour)."""
    with database.transaction() as tx:
        timezone = zone_of(tx, store)
        labels = store_labels(tx, [store])
        first = range_start(timezone, since, bucket)
        if bucket != "hour" and _sealed(tx, min_visits, timezone, until, now):
            where, params = _days(store, first, until, zone)
            rows = tx.rows("SELECT device, NULLIF(model, ''), band, label, sum(visits) FROM released_daily_bands"
                           f"{where} GROUP BY device, model, band, label", params)
        else:
            where, params = _cells(store, first, until, _release(min_visits, now), zone, "h")
            rows = tx.rows(f"SELECT h.device, h.model, b.band, b.label, sum(b.visits) FROM hourly h JOIN hourly_bands b "
                           f"ON {_SAME_CELL}{where} GROUP BY h.device, h.model, b.band, b.label", params)
        estimate = estimator(tx, estimates, [store])
    parts: dict[Part, Counter] = defaultdict(Counter)
    bands: dict[Part, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for device, model, band, label, visits in rows:
        parts[(f"{store}/{device}", model)][label] += visits
        bands[(f"{store}/{device}", model)][band][label] += visits
    counts = sum(parts.values(), Counter())
    labels += sorted(set(counts) - set(labels))
    total = sum(counts.values())
    suppressed = is_suppressed(total, min_visits)
    shares = {} if suppressed else estimate.mix(parts, labels, bands)
    return {"store": store, "labels": labels, "visits": None if suppressed else total, "suppressed": suppressed,
            "shares": {label: None if suppressed else shares[label].as_dict(4, estimate.floor)["value"]
                       for label in labels},
            "intervals": {label: None if suppressed else shares[label].as_dict(4, estimate.floor)
                          for label in labels},
            "shares_raw": {label: None if suppressed else round(counts[label] / total, 4) for label in labels}}


def heatmap(database: Database, store: str, since: int, until: int, min_visits: int,
            zone: str | None = None, estimates: EstimateSettings = COUNT_ONLY, now: float | None = None,
            bucket: str = "hour") -> dict:
    """Visits and satisfaction by weekday (0 = Monday) and hour of day, in the store's local time, over
    the cells the series of the same range and bucket sums."""
    with database.transaction() as tx:
        timezone = zone_of(tx, store)
        where, params = _cells(store, range_start(timezone, since, bucket), until, _release(min_visits, now), zone)
        rows = tx.rows(f"SELECT bucket, device, model, sum(visits), sum(positive), sum(negative) FROM hourly{where} "
                       "GROUP BY bucket, device, model", params)
        where, params = _cells(store, range_start(timezone, since, bucket), until, _release(min_visits, now), zone,
                               "h")
        band_rows = tx.rows(f"SELECT h.bucket, h.device, h.model, b.band, b.label, sum(b.visits) FROM hourly h JOIN "
                            f"hourly_bands b ON {_SAME_CELL}{where} GROUP BY h.bucket, h.device, h.model, b.band, "
                            "b.label", params)
        estimate = estimator(tx, estimates, [store])
    cells: dict[tuple[int, int], Totals] = defaultdict(Totals)
    for start, device, model, visits, positive, negative in rows:
        cells[weekday_hour(timezone, start)].add(visits, positive, negative, part=(f"{store}/{device}", model))
    for start, device, model, band, label, visits in band_rows:
        cells[weekday_hour(timezone, start)].add_band((f"{store}/{device}", model), band, label, visits)
    grid = [[{"weekday": day, "hour": hour, **bucket_numbers(cells[(day, hour)], min_visits, estimate)}
             for hour in range(24)] for day in range(7)]
    return {"store": store, "timezone": timezone, "offset": offset_label(timezone, until), "min_visits": min_visits,
            "cells": grid}


def devices(database: Database, store: str | None, since: int, until: int, min_visits: int,
            stale_after_s: int, now: float | None = None, estimates: EstimateSettings = COUNT_ONLY,
            bucket: str = "day", zone: str | None = None) -> list[dict]:
    """Each device (and zone) of a store: its state and its numbers over the cells the series of the same
    range, bucket and zone sums (so the devices add up to the page's headline). A device's numbers are the
    sum of its zones' released cells, so no device total minus its zones reveals a zone held back."""
    now = int(time.time() if now is None else now)
    where, extra = (" WHERE d.store = ?", [store]) if store else ("", [])
    with database.transaction() as tx:
        timezone = zone_of(tx, store) if store else UTC  # all stores: UTC days
        first = range_start(timezone, since, bucket)
        state = tx.rows(f"SELECT store, device, online, last_seen, last_start, labels, gaps FROM devices d{where} "
                        "ORDER BY store, device", extra)
        if bucket != "hour" and _sealed(tx, min_visits, timezone if store else None, until, now):
            days, params = _days(store, first, until, zone)
            numbers = tx.rows("SELECT store, device, zone, NULLIF(model, ''), sum(visits), sum(positive), "
                              f"sum(negative) FROM released_daily{days} GROUP BY store, device, zone, model", params)
            band_rows = tx.rows("SELECT store, device, zone, NULLIF(model, ''), band, label, sum(visits) FROM "
                                f"released_daily_bands{days} GROUP BY store, device, zone, model, band, label", params)
        else:
            cells, params = _cells(store, first, until, _release(min_visits, now), zone)
            numbers = tx.rows(f"SELECT store, device, zone, model, sum(visits), sum(positive), sum(negative) "
                              f"FROM hourly{cells} GROUP BY store, device, zone, model", params)
            cells, params = _cells(store, first, until, _release(min_visits, now), zone, "h")
            band_rows = tx.rows(f"SELECT h.store, h.device, h.zone, h.model, b.band, b.label, sum(b.visits) FROM "
                                f"hourly h JOIN hourly_bands b ON {_SAME_CELL}{cells} GROUP BY h.store, h.device, "
                                "h.zone, h.model, b.band, b.label", params)
        estimate = estimator(tx, estimates, [store] if store else None)
        local = store_zones(tx, {row[0] for row in state})
    zones: dict[tuple[str, str], dict[str, Totals]] = defaultdict(lambda: defaultdict(Totals))
    for s, d, area, model, visits, positive, negative in numbers:
        zones[(s, d)][area].add(visits, positive, negative, part=(f"{s}/{d}", model))
    for s, d, area, model, band, label, visits in band_rows:
        zones[(s, d)][area].add_band((f"{s}/{d}", model), band, label, visits)
    result = []
    for s, d, online, last_seen, last_start, labels, gaps in state:
        all_zones = Totals()
        for totals in zones[(s, d)].values():
            for part, (visits, positive, negative) in totals.parts.items():
                all_zones.add(visits, positive, negative, part=part)
            for part, by_band in totals.bands.items():
                for band, counts in by_band.items():
                    for label, n in counts.items():
                        all_zones.add_band(part, band, label, n)
        shown = bucket_numbers(all_zones, min_visits, estimate)
        result.append({
            "store": s, "device": d, "online": bool(online), "timezone": local.get(s, UTC),  # its times: the store's
            "last_seen": local_iso(local.get(s, UTC), last_seen) if last_seen else None,
            "last_interval": local_iso(local.get(s, UTC), last_start) if last_start else None,
            "stale": last_start is None or now - last_start > stale_after_s,
            "labels": json.loads(labels) if labels else [], "open_gaps": json.loads(gaps),
            "visits": shown["visits"], "suppressed": shown["suppressed"],
            **{key: shown[key] for key in NO_INDEX},
            "zones": {area: bucket_numbers(t, min_visits, estimate) for area, t in sorted(zones[(s, d)].items())},
        })
    return result


def health(database: Database, now: float | None = None) -> dict:
    """What `/api/health` shows: device counts, open gaps, refused payloads (no customer numbers)."""
    now = int(time.time() if now is None else now)
    with database.transaction() as tx:
        online, total = tx.row("SELECT coalesce(sum(online), 0), count(*) FROM devices")
        gaps = [(s, d, json.loads(g)) for s, d, g in tx.rows("SELECT store, device, gaps FROM devices "
                                                            "WHERE gaps <> '[]' ORDER BY store, device")]
        rejects = tx.rows("SELECT reason, sum(count) FROM rejects GROUP BY reason")
        dead = tx.row("SELECT count(*) FROM dead_letters")[0]
    return {
        "devices": int(total), "online": int(online), "offline": int(total) - int(online),
        "open_gaps": [{"store": s, "device": d, "missing": sum(b - a + 1 for a, b in g), "ranges": g}
                      for s, d, g in gaps],
        "rejected": {reason: int(n) for reason, n in rejects}, "dead_letters": int(dead), "checked_at": iso(now),
    }

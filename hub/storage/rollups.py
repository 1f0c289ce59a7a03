"""The additive roll-ups (hourly, hourly_emotions and hourly_bands: one row a cell, edgeemo.aggregates.Release): how an
interval moves them.

Shared by the writer (each batch moves its stores' roll-ups by the difference) and by a change
of a store's time zone (hub/storage/stores.py re-derives them all), so both cut buckets and sum alike.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import msgspec

from edgeemo.hub.estimating import rollup_key
from edgeemo.hub.localtime import UTC, rollup_buckets
from edgeemo.hub.storage.db import Tx
from edgeemo.hub.storage.schema import DAY, DIRTY_HOURS, HOUR, HOURLY, HOURLY_BANDS, HOURLY_EMOTIONS, NUMBERS, Interval

ROLLUP_COLUMNS = HOURLY.arrays()
EMOTION_COLUMNS = HOURLY_EMOTIONS.arrays()
BAND_COLUMNS = HOURLY_BANDS.arrays()



@lru_cache(maxsize=256)
def model_sha(model: str | None) -> str | None:
    """The sha256 in an interval's model JSON ({"name", "sha256"}), None when unknown."""
    return None if model is None else msgspec.json.decode(model).get("sha256")


@dataclass
class RollupDelta:
    intervals: int = 0
    numbers: list[float] = field(default_factory=lambda: [0, 0, 0, 0, 0.0])
    emotions: Counter = field(default_factory=Counter)
    bands: Counter = field(default_factory=Counter)  # (band, label) -> visits
    model: str | None = "?"  # rollup_key: "?" none added yet; '' when intervals of several models or groups
    day: int | None = None  # the local day of the hour

    def add(self, interval: Interval, sign: int) -> None:
        self.intervals += sign
        for i, value in enumerate(interval.numbers()):
            self.numbers[i] += sign * value
        for label, visits in interval.emotions:
            self.emotions[label] += sign * visits
        for band, counts in interval.by_band():
            for label, visits in counts:
                self.bands[(band, label)] += sign * visits
        key = rollup_key(model_sha(interval.model), interval.groups)
        self.model = key if self.model in ("?", key) else ""


def buckets_of(timezone: str, start: int) -> tuple[int, int]:
    """(hour bucket, day bucket) of an interval start in the store's zone (UTC: plain arithmetic)."""
    if timezone == UTC:
        return start - start % HOUR, start - start % DAY
    return rollup_buckets(timezone, start)


def relabel_days(tx: Tx, store: str, timezone: str, until: int | None = None) -> None:
    """Set the local `day` of a store's cells (starting at or before `until`, if given) in `timezone`."""
    bound, params = (" AND bucket <= ?", (store, until)) if until is not None else ("", (store,))
    for (bucket,) in tx.rows(f"SELECT DISTINCT bucket FROM hourly WHERE store = ?{bound}", params):
        tx.run("UPDATE hourly SET day = ? WHERE store = ? AND bucket = ?", (buckets_of(timezone, bucket)[1], store,
                                                                            bucket))


def add_to_rollups(hourly: dict, interval: Interval, old: Interval | None, timezone: str) -> None:
    """Move the deltas by an interval stored (and by the one it replaces, taken back)."""
    hour, day = buckets_of(timezone, interval.start)
    delta = hourly[(interval.store, interval.device, interval.zone, hour)]
    delta.day = day
    if old is not None:
        delta.add(old, -1)
    delta.add(interval, +1)


def write_rollups(tx: Tx, hourly: dict) -> None:
    tx.insert(HOURLY.name, ROLLUP_COLUMNS, [(*key, d.intervals, *d.numbers, d.model, d.day)
                                           for key, d in hourly.items()], _on_rollup_conflict(HOURLY.name))
    tx.insert(DIRTY_HOURS.name, DIRTY_HOURS.arrays(), sorted({(key[0], d.day, key[3]) for key, d in hourly.items()}),
              "ON CONFLICT (store, day, bucket) DO NOTHING")  # the upkeep seals their days again once settled
    tx.insert(HOURLY_EMOTIONS.name, EMOTION_COLUMNS,
              [(*key, label, n) for key, d in hourly.items() for label, n in d.emotions.items() if n],
              "ON CONFLICT (store, device, zone, bucket, label) DO UPDATE SET visits = hourly_emotions.visits + "
              "excluded.visits")
    tx.insert(HOURLY_BANDS.name, BAND_COLUMNS,
              [(*key, band, label, n) for key, d in hourly.items() for (band, label), n in d.bands.items() if n],
              "ON CONFLICT (store, device, zone, bucket, band, label) DO UPDATE SET visits = hourly_bands.visits + "
              "excluded.visits")


def _on_rollup_conflict(table: str) -> str:
    """Numbers add up; the model (and groups) stay while every interval summed has them, '' when not."""
    return f"ON CONFLICT ({', '.join(HOURLY.key)}) DO UPDATE SET " + ", ".join(
        f"{name} = {table}.{name} + excluded.{name}" for name in ("intervals", *(c.name for c in NUMBERS))) + (
        f", model = CASE WHEN COALESCE({table}.model, '?') = COALESCE(excluded.model, '?') THEN {table}.model "
        "ELSE '' END")



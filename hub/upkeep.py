"""The hub's upkeep, run every `[retention] upkeep_every_s` by `edgeemo hub serve` (and once by
`edgeemo hub upkeep`): seal the overview's released days, prune the raw intervals past retention,
keep PostgreSQL's monthly partitions ahead of the clock.

Sealing: `released_daily` (and `released_daily_emotions`) hold each device zone's released
numbers per local day (the sums of the cells `edgeemo.aggregates.Release` keeps with the hub's
k), so the overview and a long range by day or week read one row a day instead of 24 cells. The writer marks each hour it moves in
`dirty_hours`; once an hour has settled, its day is summed again from the cells. A change of the
hub's k re-seals everything. A view falls back to the cells when the seal is of another k (a
viewer's larger k) or the range ends inside a settled day.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edgeemo.aggregates import CELL_S, SETTLE_S, Release
from edgeemo.errors import first_line
from edgeemo.hub import partitions
from edgeemo.hub.db import Database, Tx

log = logging.getLogger(__name__)
SEALED_K = "released_k"  # hub_meta: the k released_daily was sealed with
_NUMBERS = "faces_seen, visits, positive, negative, dwell_s_total"
_SEAL = ("INSERT INTO released_daily (store, device, zone, day, model, " + _NUMBERS + ") SELECT store, device, zone, "
         "day, COALESCE(model, ''), sum(faces_seen), sum(visits), sum(positive), sum(negative), sum(dwell_s_total) "
         "FROM hourly WHERE {where} GROUP BY store, device, zone, day, COALESCE(model, '')")
_SEAL_EMOTIONS = ("INSERT INTO released_daily_emotions (store, device, zone, day, model, label, visits) SELECT "
                  "h.store, h.device, h.zone, h.day, COALESCE(h.model, ''), e.label, sum(e.visits) FROM hourly h "
                  "JOIN hourly_emotions e ON e.store = h.store AND e.device = h.device AND e.zone = h.zone AND "
                  "e.bucket = h.bucket WHERE {where} GROUP BY h.store, h.device, h.zone, h.day, "
                  "COALESCE(h.model, ''), e.label")
SEALED = ("released_daily", "released_daily_emotions")


@dataclass
class UpkeepResult:
    sealed_days: int = 0  # -1: everything re-sealed
    dropped_partitions: tuple[str, ...] = ()
    pruned_rows: int = 0
    made_partitions: tuple[str, ...] = ()


def sealed_k(tx: Tx) -> int | None:
    row = tx.one(f"SELECT value FROM hub_meta WHERE key = '{SEALED_K}'")
    return int(row[0]) if row else None


def settled_before(release: Release) -> int:
    """Hours starting at or before this are settled (k = 1 waits for nothing)."""
    return int(release.now) if release.min_visits <= 1 else int(release.now) - CELL_S - SETTLE_S


def seal(tx: Tx, k: int, now: float) -> int:
    """Bring the released days up to date: the days of settled dirty hours summed again from their released
    cells (every day, when the hub's k changed); returns the days sealed (-1: all)."""
    release = Release(k, now)
    rule, values = release.sql()
    cell_rule, _ = release.sql("h")
    horizon = settled_before(release)
    if sealed_k(tx) != k:
        for table in SEALED:
            tx.run(f"DELETE FROM {table}")
        tx.run(_SEAL.format(where=f"1 = 1{rule}"), values)
        tx.run(_SEAL_EMOTIONS.format(where=f"1 = 1{cell_rule}"), values)
        tx.run("DELETE FROM dirty_hours WHERE bucket <= ?", (horizon,))
        tx.run(f"INSERT INTO hub_meta (key, value) VALUES ('{SEALED_K}', ?) ON CONFLICT (key) DO UPDATE SET "
               "value = excluded.value", (str(k),))
        return -1
    days = tx.rows("SELECT DISTINCT store, day FROM dirty_hours WHERE bucket <= ?", (horizon,))
    for store, day in days:
        for table in SEALED:
            tx.run(f"DELETE FROM {table} WHERE store = ? AND day = ?", (store, day))
        tx.run(_SEAL.format(where=f"store = ? AND day = ?{rule}"), (store, day, *values))
        tx.run(_SEAL_EMOTIONS.format(where=f"h.store = ? AND h.day = ?{cell_rule}"), (store, day, *values))
    tx.run("DELETE FROM dirty_hours WHERE bucket <= ?", (horizon,))
    return len(days)


def reseal_store(tx: Tx, store: str, now: float) -> None:
    """Seal every day of one store again, now (its cells were re-cut: a change of time zone), with the k the
    released days hold; nothing before the first seal."""
    k = sealed_k(tx)
    if k is None:
        return
    release = Release(k, now)
    (rule, values), (cell_rule, _) = release.sql(), release.sql("h")
    for table in SEALED:
        tx.run(f"DELETE FROM {table} WHERE store = ?", (store,))
    tx.run(_SEAL.format(where=f"store = ?{rule}"), (store, *values))
    tx.run(_SEAL_EMOTIONS.format(where=f"h.store = ?{cell_rule}"), (store, *values))
    tx.run("DELETE FROM dirty_hours WHERE store = ? AND bucket <= ?", (store, settled_before(release)))


def sealed_until(tx: Tx, k: int, timezone_day_start: int, until: int, now: float) -> bool:
    """Whether the released days answer a range ending at `until` with this k: sealed with it, and the
    range ends at a local midnight (`timezone_day_start` of `until`) or reaches the hours not settled yet."""
    return sealed_k(tx) == k and (until == timezone_day_start or
                                  until >= settled_before(Release(k, now)) + CELL_S)


def prune(tx: Tx, raw_days: int, now: float) -> tuple[list[str], int]:
    """Drop raw intervals older than the retention: (partitions dropped, rows deleted)."""
    cutoff = int(now) - raw_days * 86400
    if tx.dialect == "postgresql":
        return partitions.drop_before(tx, cutoff), 0
    return [], tx.run("DELETE FROM intervals WHERE start < ?", (cutoff,))


def run_upkeep(database: Database, k: int, raw_days: int, now: float | None = None) -> UpkeepResult:
    """One round: partitions ahead, seal, prune; each in its own transaction (the ingest waits little)."""
    now = time.time() if now is None else now
    result = UpkeepResult()
    if database.dialect == "postgresql":
        with database.transaction(write=True) as tx:
            result.made_partitions = tuple(partitions.ensure_months(tx, now, now + partitions.AHEAD_MONTHS * 31 * 86400))
    with database.transaction(write=True) as tx:
        result.sealed_days = seal(tx, k, now)
    with database.transaction(write=True) as tx:
        dropped, result.pruned_rows = prune(tx, raw_days, now)
        result.dropped_partitions = tuple(dropped)
    return result


class Upkeep:
    """`run_upkeep` on a thread, every `every_s`; a failed round is logged and tried again next time."""

    def __init__(self, database: Database, k: int, raw_days: int, every_s: float) -> None:
        self.database, self.k, self.raw_days, self.every_s = database, k, raw_days, every_s
        self.stop_event = threading.Event()
        self.last: UpkeepResult | None = None
        self._thread = threading.Thread(target=self._loop, name="hub-upkeep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.last = run_upkeep(self.database, self.k, self.raw_days)
                if self.last.dropped_partitions or self.last.pruned_rows:
                    log.info("hub: retention dropped %s and deleted %d raw interval(s)",
                             ", ".join(self.last.dropped_partitions) or "no partition", self.last.pruned_rows)
            except Exception as exc:  # noqa: BLE001 - the upkeep must not stop the hub; it runs again
                log.error("hub: upkeep failed (%s); trying again in %g s", first_line(exc), self.every_s)
            self.stop_event.wait(self.every_s)

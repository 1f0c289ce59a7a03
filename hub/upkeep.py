"""The hub's upkeep, run every `[retention] upkeep_every_s` by `edgeemo hub serve` (and once by
`edgeemo hub upkeep`): seal the overview's released days, prune the raw intervals past retention,
keep PostgreSQL's monthly partitions ahead of the clock.

Sealing: `released_daily` (and `released_daily_emotions`) hold each device zone's released
numbers per local day (the sums of the cells `edgeemo.aggregates.Release` keeps with the hub's
k), so the overview and a long range by day or week read one row a day instead of 24 cells.
The writer marks each hour it moves in `dirty_hours`; once an hour has settled, its day is
summed again from the cells. A change of the
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
SEALED_AT = "released_at"  # hub_meta: when the last round sealed (readers fall back to the cells past SEAL_FRESH_S)
SEAL_FRESH_S = 900
PRUNE_MARGIN_S = 86400
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


def _seal_rows(tx: Tx, release: Release, where: str, params: tuple) -> None:
    """Sum the released cells matching `where` (over `hourly` as h) into the released days."""
    (rule, values), (cell_rule, _) = release.sql(), release.sql("h")
    tx.run(_SEAL.format(where=where.replace("h.", "") + rule), (*params, *values))
    tx.run(_SEAL_EMOTIONS.format(where=where + cell_rule), (*params, *values))


def _set_meta(tx: Tx, key: str, value: str) -> None:
    tx.run("INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
           (key, value))


def seal(database: Database, k: int, now: float) -> int:
    """Bring the released days up to date: the days of settled dirty hours summed again from their released
    cells (every day, when the hub's k changed); one store a transaction, so the ingest waits at most for
    one store's year. Returns the days sealed (-1: all)."""
    release = Release(k, now)
    horizon = settled_before(release)
    with database.transaction() as tx:
        everything = sealed_k(tx) != k
    if everything:  # readers use the cells until every store is sealed with this k
        with database.transaction(write=True) as tx:
            tx.run(f"DELETE FROM hub_meta WHERE key IN ('{SEALED_K}', '{SEALED_AT}')")
    work: dict[str, list[int] | None]  # store: its days to seal, or None for all of them
    with database.transaction() as tx:
        if everything:
            work = {store: None for (store,) in tx.rows("SELECT DISTINCT store FROM hourly")}
        else:
            dirty: dict[str, list[int]] = {}
            for store, day in tx.rows("SELECT DISTINCT store, day FROM dirty_hours WHERE bucket <= ?", (horizon,)):
                dirty.setdefault(store, []).append(day)
            work = dict(dirty)
    for store, days in work.items():
        with database.transaction(write=True) as tx:
            if days is None:
                for table in SEALED:
                    tx.run(f"DELETE FROM {table} WHERE store = ?", (store,))
                _seal_rows(tx, release, "h.store = ?", (store,))
            for day in days or ():
                for table in SEALED:
                    tx.run(f"DELETE FROM {table} WHERE store = ? AND day = ?", (store, day))
                _seal_rows(tx, release, "h.store = ? AND h.day = ?", (store, day))
            tx.run("DELETE FROM dirty_hours WHERE store = ? AND bucket <= ?", (store, horizon))
    with database.transaction(write=True) as tx:
        if everything:
            tx.run("DELETE FROM released_daily WHERE store NOT IN (SELECT DISTINCT store FROM hourly)")
            tx.run("DELETE FROM released_daily_emotions WHERE store NOT IN (SELECT DISTINCT store FROM hourly)")
            _set_meta(tx, SEALED_K, str(k))  # a store that came meanwhile keeps its dirty hours: next round
        _set_meta(tx, SEALED_AT, str(int(now)))
    return -1 if everything else sum(len(days or ()) for days in work.values())


def reseal_store(tx: Tx, store: str, now: float) -> None:
    """Seal every day of one store again, now (its cells were re-cut: a change of time zone), with the k the
    released days hold; nothing before the first seal."""
    k = sealed_k(tx)
    if k is None:
        return
    release = Release(k, now)
    for table in SEALED:
        tx.run(f"DELETE FROM {table} WHERE store = ?", (store,))
    _seal_rows(tx, release, "h.store = ?", (store,))
    tx.run("DELETE FROM dirty_hours WHERE store = ? AND bucket <= ?", (store, settled_before(release)))


def sealed_until(tx: Tx, k: int, timezone_day_start: int, until: int, now: float) -> bool:
    """Whether the released days answer a range ending at `until` with this k: sealed with it lately (an
    upkeep that stopped leaves the readers on the cells), and the range ends at a local midnight
    (`timezone_day_start` of `until`) or reaches the hours not settled yet."""
    row = tx.one(f"SELECT value FROM hub_meta WHERE key = '{SEALED_AT}'")
    if sealed_k(tx) != k or row is None or now - int(row[0]) > SEAL_FRESH_S:
        return False
    return until == timezone_day_start or until >= settled_before(Release(k, now)) + CELL_S


def prune(tx: Tx, raw_days: int, now: float) -> tuple[list[str], int]:
    """Drop raw intervals older than the retention and a day (the margin keeps a row the ingest accepted
    just now, while its batch waited for the writers' lock, from being pruned under it and then stored
    as new): (partitions dropped, rows deleted)."""
    cutoff = int(now) - raw_days * 86400 - PRUNE_MARGIN_S
    if tx.dialect == "postgresql":
        return partitions.drop_before(tx, cutoff)
    return [], tx.run("DELETE FROM intervals WHERE start < ?", (cutoff,))


def run_upkeep(database: Database, k: int, raw_days: int, now: float | None = None) -> UpkeepResult:
    """One round: partitions ahead, seal, prune; each in its own transaction (the ingest waits little)."""
    result = UpkeepResult()
    if now is None:  # the database's clock on PostgreSQL: a `hub upkeep` on another host seals by the same time
        now = time.time()
        if database.dialect == "postgresql":
            with database.transaction() as tx:
                now = float(tx.row("SELECT extract(epoch FROM clock_timestamp())")[0])
    if database.dialect == "postgresql":
        with database.transaction(write=True) as tx:
            result.made_partitions = tuple(partitions.ensure_months(tx, now, now + partitions.AHEAD_MONTHS * 31 * 86400))
    result.sealed_days = seal(database, k, now)
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

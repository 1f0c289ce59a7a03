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
from dataclasses import dataclass, field

from edgeemo.aggregates import CELL_S, SETTLE_S, Release
from edgeemo.errors import first_line
from edgeemo.hub.storage import partitions
from edgeemo.hub.storage.db import DATABASE_ERRORS, Database, Tx
from edgeemo.hub.storage.dead_letters import expire_dead_letters
from edgeemo.payload import printable
from edgeemo.wire import iso

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
_SEAL_BANDS = ("INSERT INTO released_daily_bands (store, device, zone, day, model, band, label, visits) SELECT "
               "h.store, h.device, h.zone, h.day, COALESCE(h.model, ''), b.band, b.label, sum(b.visits) FROM hourly h "
               "JOIN hourly_bands b ON b.store = h.store AND b.device = h.device AND b.zone = h.zone AND "
               "b.bucket = h.bucket WHERE {where} GROUP BY h.store, h.device, h.zone, h.day, "
               "COALESCE(h.model, ''), b.band, b.label")
SEALED = ("released_daily", "released_daily_emotions", "released_daily_bands")


@dataclass
class UpkeepResult:
    sealed_days: int = 0  # -1: everything re-sealed
    dropped_partitions: tuple[str, ...] = ()
    pruned_rows: int = 0
    made_partitions: tuple[str, ...] = ()
    expired_dead_letters: int = 0
    problems: list[str] = field(default_factory=list)  # what failed this round, one line each


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
    tx.run(_SEAL_BANDS.format(where=where + cell_rule), (*params, *values))


def _set_meta(tx: Tx, key: str, value: str) -> None:
    tx.run("INSERT INTO hub_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
           (key, value))


def seal(database: Database, k: int, now: float, problems: list[str] | None = None) -> int:
    """Bring the released days up to date: the days of settled dirty hours summed again from their released
    cells (every day, when the hub's k changed); one store a transaction, so the ingest waits at most for
    one store's year. A store the database refuses to seal (a cell it cannot sum) is sealed day by day,
    the days that fail left dirty and named in `problems`: one store never holds up the others. Returns
    the days sealed (-1: all)."""
    problems = [] if problems is None else problems
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
        try:
            _seal_store(database, release, store, days, horizon)
        except DATABASE_ERRORS as exc:
            _seal_by_day(database, release, store, days, horizon, exc, problems)
    with database.transaction(write=True) as tx:
        if everything:
            tx.run("DELETE FROM released_daily WHERE store NOT IN (SELECT DISTINCT store FROM hourly)")
            tx.run("DELETE FROM released_daily_emotions WHERE store NOT IN (SELECT DISTINCT store FROM hourly)")
            tx.run("DELETE FROM released_daily_bands WHERE store NOT IN (SELECT DISTINCT store FROM hourly)")
            _set_meta(tx, SEALED_K, str(k))  # a store that came meanwhile keeps its dirty hours: next round
        _set_meta(tx, SEALED_AT, str(int(now)))
    return -1 if everything else sum(len(days or ()) for days in work.values())


def _seal_store(database: Database, release: Release, store: str, days: list[int] | None, horizon: int) -> None:
    """One store's dirty days (every day: None) sealed in one transaction."""
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


def _seal_by_day(database: Database, release: Release, store: str, days: list[int] | None, horizon: int,
                 cause: Exception, problems: list[str]) -> None:
    """A store whose seal failed: each day on its own, the failing ones left dirty (and, on a full re-seal,
    unsealed: a long range then leaves them out rather than show another k's numbers)."""
    with database.transaction(write=True) as tx:
        tx.one("SELECT 1")  # the database does not answer at all: the round fails, not this store
        if days is None:
            for table in SEALED:
                tx.run(f"DELETE FROM {table} WHERE store = ?", (store,))
            tx.run("INSERT INTO dirty_hours (store, day, bucket) SELECT DISTINCT store, day, bucket FROM hourly "
                   "WHERE store = ? AND day IS NOT NULL ON CONFLICT (store, day, bucket) DO NOTHING", (store,))
            days = [day for (day,) in tx.rows("SELECT DISTINCT day FROM dirty_hours WHERE store = ?", (store,))]
    failed: list[int] = []
    for day in sorted(days):
        try:
            with database.transaction(write=True) as tx:
                for table in SEALED:
                    tx.run(f"DELETE FROM {table} WHERE store = ? AND day = ?", (store, day))
                _seal_rows(tx, release, "h.store = ? AND h.day = ?", (store, day))
                tx.run("DELETE FROM dirty_hours WHERE store = ? AND day = ? AND bucket <= ?", (store, day, horizon))
        except DATABASE_ERRORS as exc:
            failed.append(day)
            cause = exc
    if failed:
        problems.append(f"store {printable(store, 64)}: {len(failed)} day(s) not sealed, first {iso(failed[0])} "
                        f"({first_line(cause)[:200]})")


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
    """One round: partitions ahead, seal, prune, dead letters; each in its own transaction (the ingest waits
    little), and each tried whatever became of the others: a seal that fails does not stop the retention.
    What failed is in `problems` (the round raises only when the database does not answer at all)."""
    result = UpkeepResult()
    if now is None:  # the database's clock on PostgreSQL: a `hub upkeep` on another host seals by the same time
        now = time.time()
        if database.dialect == "postgresql":
            with database.transaction() as tx:
                now = float(tx.row("SELECT extract(epoch FROM clock_timestamp())")[0])

    def made() -> None:
        with database.transaction(write=True) as tx:
            result.made_partitions = tuple(partitions.ensure_months(tx, now, now + partitions.AHEAD_MONTHS * 31 * 86400))

    def sealed() -> None:
        result.sealed_days = seal(database, k, now, result.problems)

    def pruned() -> None:
        with database.transaction(write=True) as tx:
            dropped, result.pruned_rows = prune(tx, raw_days, now)
            result.dropped_partitions = tuple(dropped)

    def expired() -> None:
        with database.transaction(write=True) as tx:
            result.expired_dead_letters = expire_dead_letters(tx, now)

    phases = [("partitions", made)] if database.dialect == "postgresql" else []
    for name, phase in [*phases, ("sealing", sealed), ("retention", pruned), ("dead letters", expired)]:
        try:
            phase()
        except DATABASE_ERRORS as exc:
            result.problems.append(f"{name} failed ({first_line(exc)[:200]})")
    return result


class Upkeep:
    """`run_upkeep` on a thread, every `every_s`; a failed round is logged and tried again next time."""

    def __init__(self, database: Database, k: int, raw_days: int, every_s: float) -> None:
        self.database, self.k, self.raw_days, self.every_s = database, k, raw_days, every_s
        self.stop_event = threading.Event()
        self.last: UpkeepResult | None = None
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._loop, name="hub-upkeep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=30)

    @property
    def problem(self) -> str | None:
        """Why the last round failed or left work undone (None: it did it all)."""
        return self._problem

    def _loop(self) -> None:
        said = None
        while not self.stop_event.is_set():
            try:
                self.last = run_upkeep(self.database, self.k, self.raw_days)
                self._problem = "; ".join(self.last.problems) or None
                if self.last.dropped_partitions or self.last.pruned_rows:
                    log.info("hub: retention dropped %s and deleted %d raw interval(s)",
                             ", ".join(self.last.dropped_partitions) or "no partition", self.last.pruned_rows)
            except Exception as exc:  # noqa: BLE001 - the upkeep must not stop the hub; it runs again
                self._problem = f"the round failed ({first_line(exc)[:200]})"
            if self._problem and self._problem != said:  # said once, again only when it changes
                log.error("hub: upkeep: %s; trying again every %g s", self._problem, self.every_s)
            said = self._problem
            self.stop_event.wait(self.every_s)

"""Each store's time zone, and its roll-ups re-derived when the zone changes.

A store has one IANA zone (UTC until one is set). The ingest cuts the store's hourly
roll-ups at its local hours and days, so a view in local time reads whole buckets; setting a
zone re-derives the store's roll-ups from its intervals in the same transaction (the writers'
lock keeps the ingest out meanwhile), which is also what `rederive` does for a store whose
roll-ups are in doubt: running it twice gives the same rows.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from edgeemo.hub.localtime import UTC, TimeZoneError, zone
from edgeemo.hub.storage.db import Database, Tx
from edgeemo.hub.storage.rollups import RollupDelta, add_to_rollups, relabel_days, write_rollups
from edgeemo.hub.storage.schema import HOUR, INTERVAL_FIELDS, INTERVALS, interval_of
from edgeemo.hub.storage.upkeep import reseal_store

log = logging.getLogger(__name__)
WINDOW_S = 30 * 86400  # intervals read per query while re-deriving (memory stays bounded)


def store_zones(tx: Tx, stores: Iterable[str] | None = None) -> dict[str, str]:
    """{store: IANA zone} of the stores that have one set (the others are in UTC). A zone this host
    cannot read (set by a hub with other tz data) is taken as UTC with a warning, so one store's
    setting never stops the ingest or the pages of the others."""
    if stores is None:
        rows = tx.rows("SELECT store, timezone FROM stores")
    else:
        keys = sorted(set(stores))
        rows = tx.rows_by_keys("stores", "store, timezone", {"store": "text"}, [(s,) for s in keys]) if keys else []
    return {store: _usable(store, name) for store, name in rows}


def _usable(store: str, name: str) -> str:
    try:
        zone(name)
        return name
    except TimeZoneError as exc:
        _warn_once(store, str(exc))
        return UTC


@functools.lru_cache(maxsize=1024)
def _warn_once(store: str, why: str) -> None:
    log.warning("hub: store %s: %s; its views and roll-ups are in UTC until it is set again "
                "(edgeemo hub store set)", store, why)


def zone_of(tx: Tx, store: str) -> str:
    return store_zones(tx, [store]).get(store, UTC)


def list_store_zones(database: Database) -> list[dict]:
    """Every store the hub knows (from its devices or a zone set ahead of them) with its zone."""
    with database.transaction() as tx:
        known = {row[0] for row in tx.rows("SELECT DISTINCT store FROM devices")}
        zones = store_zones(tx)
    return [{"store": store, "timezone": zones.get(store, UTC)} for store in sorted(known | set(zones))]


def set_timezone(database: Database, store: str, name: str) -> int | None:
    """Set a store's zone and re-derive its roll-ups; returns the intervals re-read (None: it had that zone)."""
    zone(name)  # a TimeZoneError naming it, before anything changes
    with database.transaction(write=True) as tx:
        if zone_of(tx, store) == name and tx.one("SELECT 1 FROM stores WHERE store = ?", (store,)):
            return None
        tx.run("INSERT INTO stores (store, timezone, set_at) VALUES (?, ?, ?) ON CONFLICT (store) DO UPDATE SET "
               "timezone = excluded.timezone, set_at = excluded.set_at", (store, name, int(time.time())))
        return rebuild_rollups(tx, store, name)


def rederive(database: Database, stores: Iterable[str] | None = None) -> dict[str, int]:
    """Re-derive the roll-ups of these stores (all by default) from their intervals, in their zones."""
    with database.transaction() as tx:
        names = sorted(stores) if stores is not None else [
            row[0] for row in tx.rows("SELECT DISTINCT store FROM intervals ORDER BY store")]
    done = {}
    for store in names:  # one transaction a store: the ingest waits for one store at a time
        with database.transaction(write=True) as tx:
            done[store] = rebuild_rollups(tx, store, zone_of(tx, store))
    return done


def rebuild_rollups(tx: Tx, store: str, name: str) -> int:
    """Replace the store's roll-ups with the sums of its intervals cut at `name`'s local hours and days.
    Cells older than the raw intervals kept (`[retention] raw_days`) stay as they were cut: only the hours
    from the store's oldest interval on are cut again (the hour at that boundary may lose its pruned part)."""
    boundary = tx.row("SELECT min(start) FROM intervals WHERE store = ?", (store,))[0]
    if boundary is None:
        return 0
    for table in ("hourly", "hourly_emotions", "hourly_bands"):
        tx.run(f"DELETE FROM {table} WHERE store = ? AND bucket > ?", (store, boundary - HOUR))
    columns = INTERVALS.names(INTERVAL_FIELDS)
    read = 0
    for device, first, last in tx.rows("SELECT device, min(start), max(start) FROM intervals WHERE store = ? "
                                       "GROUP BY device", (store,)):
        hourly: dict[tuple, RollupDelta] = defaultdict(RollupDelta)
        for since in range(first, last + 1, WINDOW_S):
            for row in tx.rows(f"SELECT {columns} FROM intervals WHERE store = ? AND device = ? AND start >= ? "
                               "AND start < ?", (store, device, since, since + WINDOW_S)):
                add_to_rollups(hourly, interval_of(row), None, name)
                read += 1
        write_rollups(tx, hourly)
    relabel_days(tx, store, name, boundary - HOUR)  # the cells kept as cut: their day in the new zone
    reseal_store(tx, store, time.time())  # its released days, re-cut too
    return read

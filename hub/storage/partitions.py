"""PostgreSQL: the raw `intervals` table partitioned by month of `start`, so retention drops a month's
partition (a file unlinked) instead of deleting millions of rows (dead tuples, vacuum, bloat).

Native declarative partitioning, our own small job rather than pg_partman: the hub needs three
operations (make the months ahead, drop the months past, convert once) and would otherwise
depend on an extension every PostgreSQL it meets must have installed (`CREATE EXTENSION` needs a
superuser; managed databases offer different versions). A DEFAULT partition takes any row
outside the months made (an import of old data, a test's fixed date): correct, only slower to
prune. A database from before version 7 keeps its table as the first partition (no row copied).
SQLite keeps one table and deletes.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from edgeemo.hub.storage.db import Tx
from edgeemo.hub.storage.schema import INTERVALS

log = logging.getLogger(__name__)
AHEAD_MONTHS = 3  # months made ahead of the clock
DEFAULT = "intervals_default"


def month_start(timestamp: float) -> datetime:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return datetime(moment.year, moment.month, 1, tzinfo=timezone.utc)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=timezone.utc)


def partition_name(month: datetime) -> str:
    return f"intervals_{month:%Y%m}"


_BOUNDS = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


def _bound(text: str) -> float:
    text = text.strip("'")
    return float("-inf") if text == "MINVALUE" else float("inf") if text == "MAXVALUE" else float(text)


def partitions(tx: Tx) -> dict[str, tuple[float, float]]:
    """{name: (from, to)} of the range partitions of `intervals` (the default one aside), from the catalog:
    the months made here, and the table from before version 7 (MINVALUE up to its next month)."""
    found = {}
    for name, bound in tx.rows("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                               "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                               "WHERE p.relname = 'intervals'"):
        match = _BOUNDS.search(bound or "")
        if name != DEFAULT and match:
            found[name] = (_bound(match.group(1)), _bound(match.group(2)))
    return found


def ensure_months(tx: Tx, first: float, last: float) -> list[str]:
    """Make the monthly partitions from `first`'s month through `last`'s that no partition covers yet; a
    month whose rows are in the default partition already is left there (moving them would lock the
    table), with a warning."""
    made, have = [], partitions(tx).values()
    month = month_start(first)
    while month.timestamp() <= last:
        upper = next_month(month)
        low, high = int(month.timestamp()), int(upper.timestamp())
        if not any(a < high and low < b for a, b in have):
            if tx.one(f"SELECT 1 FROM {DEFAULT} WHERE start >= ? AND start < ? LIMIT 1", (low, high)):
                log.warning("hub: intervals of %s are in the default partition; leaving them there", f"{month:%Y-%m}")
            else:
                name = partition_name(month)
                tx.run(f"CREATE TABLE {name} PARTITION OF intervals FOR VALUES FROM ({low}) TO ({high})")
                made.append(name)
        month = upper
    return made


def drop_before(tx: Tx, cutoff: int) -> tuple[list[str], int]:
    """Drop the partitions wholly older than `cutoff`, and delete older rows from the default one:
    (partitions dropped, rows deleted)."""
    dropped = []
    for name, (_, high) in sorted(partitions(tx).items()):
        if high <= cutoff:
            tx.run(f"DROP TABLE {name}")
            dropped.append(name)
    return dropped, tx.run(f"DELETE FROM {DEFAULT} WHERE start < ?", (cutoff,))


def convert(tx: Tx, now: float) -> None:
    """Migration to version 7 on PostgreSQL: `intervals` becomes a partitioned table. The existing table is
    attached whole as its first partition (every start up to the next month), so no row is copied (a hub
    with years of raw rows upgrades in the time a check of the new bound takes); retention drops it whole
    once that month is past `raw_days`."""
    if tx.dialect != "postgresql":
        return
    latest = tx.row("SELECT max(start) FROM intervals")[0]
    first_month = next_month(month_start(max(now, latest))) if latest is not None else month_start(now)
    tx.run("ALTER TABLE intervals RENAME TO intervals_before_v7")
    tx.run("ALTER TABLE intervals_before_v7 RENAME CONSTRAINT intervals_pkey TO intervals_before_v7_pkey")
    tx.run("ALTER INDEX intervals_seq RENAME TO intervals_before_v7_seq")
    tx.run(INTERVALS.create(7) + " PARTITION BY RANGE (start)")
    if latest is None:  # a new database: nothing to keep
        tx.run("DROP TABLE intervals_before_v7")
    else:
        tx.run(f"ALTER TABLE intervals ATTACH PARTITION intervals_before_v7 FOR VALUES FROM (MINVALUE) "
               f"TO ({int(first_month.timestamp())})")
    tx.run(f"CREATE TABLE {DEFAULT} PARTITION OF intervals DEFAULT")
    tx.run("CREATE INDEX intervals_seq ON intervals (store, device, seq)")  # takes the old table's index over
    ensure_months(tx, first_month.timestamp(), now + AHEAD_MONTHS * 31 * 86400)

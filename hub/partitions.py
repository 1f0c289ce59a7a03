"""PostgreSQL: the raw `intervals` table partitioned by month of `start`, so retention drops a month's
partition (a file unlinked) instead of deleting millions of rows (dead tuples, vacuum, bloat).

Native declarative partitioning, our own small job rather than pg_partman: the hub needs three
operations (make the months ahead, drop the months past, convert once) and would otherwise
depend on an extension every PostgreSQL it meets must have installed (`CREATE EXTENSION` needs a
superuser; managed databases offer different versions). A DEFAULT partition takes any row
outside the months made (an import of old data, a test's fixed date): correct, only slower to
prune. SQLite keeps one table and deletes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from edgeemo.hub.db import Tx
from edgeemo.hub.schema import INTERVALS

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


def partitions(tx: Tx) -> dict[str, tuple[int, int]]:
    """{name: (from, to)} of the monthly partitions (the default one aside)."""
    found = {}
    for (name,) in tx.rows("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                           "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'intervals'"):
        if name != DEFAULT:
            month = datetime.strptime(name.removeprefix("intervals_"), "%Y%m").replace(tzinfo=timezone.utc)
            found[name] = (int(month.timestamp()), int(next_month(month).timestamp()))
    return found


def ensure_months(tx: Tx, first: float, last: float) -> list[str]:
    """Make the monthly partitions from `first`'s month through `last`'s; a month whose rows are in the
    default partition already is left there (moving them would lock the table), with a warning."""
    made, have = [], partitions(tx)
    month = month_start(first)
    while month.timestamp() <= last:
        name, upper = partition_name(month), next_month(month)
        if name not in have:
            low, high = int(month.timestamp()), int(upper.timestamp())
            if tx.one(f"SELECT 1 FROM {DEFAULT} WHERE start >= ? AND start < ? LIMIT 1", (low, high)):
                log.warning("hub: intervals of %s are in the default partition; leaving them there", f"{month:%Y-%m}")
            else:
                tx.run(f"CREATE TABLE {name} PARTITION OF intervals FOR VALUES FROM ({low}) TO ({high})")
                made.append(name)
        month = upper
    return made


def drop_before(tx: Tx, cutoff: int) -> list[str]:
    """Drop the monthly partitions wholly older than `cutoff`, and delete older rows from the default one."""
    dropped = []
    for name, (_, high) in sorted(partitions(tx).items()):
        if high <= cutoff:
            tx.run(f"DROP TABLE {name}")
            dropped.append(name)
    tx.run(f"DELETE FROM {DEFAULT} WHERE start < ?", (cutoff,))
    return dropped


def convert(tx: Tx, now: float) -> None:
    """Migration to version 7 on PostgreSQL: `intervals` becomes a partitioned table holding the same rows."""
    if tx.dialect != "postgresql":
        return
    tx.run("ALTER TABLE intervals RENAME TO intervals_unpartitioned")
    tx.run("ALTER TABLE intervals_unpartitioned RENAME CONSTRAINT intervals_pkey TO intervals_unpartitioned_pkey")
    tx.run("ALTER INDEX intervals_seq RENAME TO intervals_unpartitioned_seq")
    tx.run(INTERVALS.create(7) + " PARTITION BY RANGE (start)")
    tx.run(f"CREATE TABLE {DEFAULT} PARTITION OF intervals DEFAULT")
    tx.run("CREATE INDEX intervals_seq ON intervals (store, device, seq)")
    oldest = tx.one("SELECT min(start) FROM intervals_unpartitioned")[0]
    ensure_months(tx, min(oldest, now) if oldest is not None else now, now + AHEAD_MONTHS * 31 * 86400)
    names = INTERVALS.names()
    tx.run(f"INSERT INTO intervals ({names}) SELECT {names} FROM intervals_unpartitioned")
    tx.run("DROP TABLE intervals_unpartitioned")

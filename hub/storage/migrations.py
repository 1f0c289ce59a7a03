"""The hub's schema, versioned in the database itself (`hub_meta.schema_version`).

A hub opening an older database applies the missing steps in one transaction; a newer one
(written by a later edgeemo) is refused, since this code would misread it. The tables are
described once in `edgeemo.hub.storage.schema`; each step here creates them as they were at its
version or adds the columns its version introduced. Times are unix seconds (UTC); roll-up
buckets start at the store's local hours and days (UTC until version 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edgeemo.hub.storage.schema import (
    DAILY,
    DAILY_EMOTIONS,
    DEAD_LETTERS,
    DEVICES,
    DIRTY_HOURS,
    HOURLY,
    HOURLY_BANDS,
    HOURLY_EMOTIONS,
    INTERVALS,
    META,
    REJECTS,
    RELEASED_DAILY,
    RELEASED_DAILY_BANDS,
    RELEASED_DAILY_EMOTIONS,
    SESSIONS,
    STORES,
    USERS,
)

if TYPE_CHECKING:
    from edgeemo.hub.storage.db import Tx

STEP_1: Step = [
    META.create(1),
    INTERVALS.create(1),
    "CREATE INDEX intervals_seq ON intervals (store, device, seq)",
    HOURLY.create(1),
    "CREATE INDEX hourly_store ON hourly (store, bucket)",
    DAILY.create(1),
    "CREATE INDEX daily_bucket ON daily (bucket)",
    HOURLY_EMOTIONS.create(1),
    "CREATE INDEX hourly_emotions_store ON hourly_emotions (store, bucket)",
    DEVICES.create(1),
    REJECTS.create(1),
    USERS.create(1),
    SESSIONS.create(1),
]

# Version 2: how far each device's sequence numbers have been examined for gaps, so a check
# reads only the known gaps and what arrived above (version 1 re-read everything above the
# first gap). Existing devices start at 0: their first check reads their history once.
STEP_2: Step = DEVICES.added_in(2)

# Version 3 (payload version 3): each interval's model and each device's last one; the dead letters.
STEP_3: Step = [*INTERVALS.added_in(3), *DEVICES.added_in(3), DEAD_LETTERS.create(3)]

# Version 4 (numbers with their error): each roll-up row's model, each device's satisfaction groups.
# Rows from before it keep a NULL model: their estimates are the raw count, marked as such.
STEP_4: Step = [*HOURLY.added_in(4), *DAILY.added_in(4), *DEVICES.added_in(4)]

# Version 5 (each store's time zone): a store without a row stays in UTC, so its roll-ups (cut at UTC hours
# and days before) are already right; `edgeemo hub store set --timezone` re-derives them for another zone.
# The daily emotion roll-up (a long range's mix read from days, not hours), filled from the hourly one.
STEP_5: Step = [STORES.create(5), DAILY_EMOTIONS.create(5),
          ("INSERT INTO daily_emotions (store, device, zone, bucket, label, visits) SELECT store, device, zone, "
          "bucket - bucket % 86400, label, sum(visits) FROM hourly_emotions GROUP BY store, device, zone, "
          "bucket - bucket % 86400, label"),
          "CREATE INDEX daily_emotions_store ON daily_emotions (store, bucket)"]



def _local_days(tx: Tx) -> None:
    """The `day` of every hourly row of a store outside UTC (the UTC ones are set in SQL)."""
    from edgeemo.hub.localtime import UTC  # imported here: the database module imports this one
    from edgeemo.hub.storage.rollups import relabel_days
    from edgeemo.hub.storage.stores import store_zones

    for store, name in store_zones(tx).items():
        if name != UTC:
            relabel_days(tx, store, name)


# Version 6 (k-anonymity that survives differencing): every released number is summed from whole hourly cells
# of at least k visits, so each cell knows its local day (a long range sums by day in SQL) and the daily
# roll-ups, which summed the small cells in, are dropped.
STEP_6: Step = [*HOURLY.added_in(6), "UPDATE hourly SET day = bucket - bucket % 86400", _local_days,
          "CREATE INDEX hourly_bucket ON hourly (bucket)", "DROP TABLE daily", "DROP TABLE daily_emotions"]



def _partition_intervals(tx: Tx) -> None:
    import time

    from edgeemo.hub.storage.partitions import convert  # imported here: the database module imports this one

    convert(tx, time.time())


# Version 7 (data that lives for years): the overview's released days (sealed by the upkeep, hub/storage/upkeep.py; the
# first round seals them all) and the hours to seal again; on PostgreSQL the raw intervals partitioned by month.
STEP_7: Step = [RELEASED_DAILY.create(7), RELEASED_DAILY_EMOTIONS.create(7), DIRTY_HOURS.create(7),
          "CREATE INDEX dirty_hours_bucket ON dirty_hours (bucket)", "CREATE INDEX released_daily_day ON released_daily (day)",
          "CREATE INDEX released_daily_store ON released_daily (store, day)",
          "CREATE INDEX released_daily_emotions_store ON released_daily_emotions (store, day)", _partition_intervals]


def _widen(tx: Tx) -> None:
    for table in (HOURLY, HOURLY_EMOTIONS, RELEASED_DAILY, RELEASED_DAILY_EMOTIONS):
        tx.widen(table.name, table.widened_in(8))


# Version 8 (one hostile interval must not stop anyone): every summed count BIGINT (cells, their emotions, the
# released days), so a sum past 2^31 - 1 is stored, not an overflow that fails each later batch of its cell and
# the upkeep of every store. PostgreSQL rewrites these tables once; SQLite's INTEGER is 64-bit already.
STEP_8 = [_widen]

# Version 9 (payload version 4, a correction that follows the face size): each interval's visits by face-size
# band; each cell's and each released day's visits by band and label, what the corrected estimates read. Cells
# and days from before hold their emotions under band 'unsized' (corrected with the calibration of all sizes).
STEP_9 = [*INTERVALS.added_in(9), HOURLY_BANDS.create(9), RELEASED_DAILY_BANDS.create(9),
          "CREATE INDEX hourly_bands_store ON hourly_bands (store, bucket)",
          "CREATE INDEX released_daily_bands_store ON released_daily_bands (store, day)",
          ("INSERT INTO hourly_bands (store, device, zone, bucket, band, label, visits) SELECT store, device, zone, "
           "bucket, 'unsized', label, visits FROM hourly_emotions"),
          ("INSERT INTO released_daily_bands (store, device, zone, day, model, band, label, visits) SELECT store, "
           "device, zone, day, model, 'unsized', label, visits FROM released_daily_emotions")]

Step = Sequence[str | Callable[["Tx"], None]]  # a statement, or a function of the transaction
MIGRATIONS: list[Step] = [STEP_1, STEP_2, STEP_3, STEP_4, STEP_5, STEP_6, STEP_7, STEP_8, STEP_9]  # MIGRATIONS[i] takes a database from version i to i + 1


def latest_version() -> int:
    return len(MIGRATIONS)

"""What k-anonymity holds back of a range: the visits no released number includes, in cells (a device's zone
over one local hour) under k whose hour is over, and in cells not over and settled yet.

For admins only: these counts are what k hides from viewers (two ranges' counts subtracted would show a
small hour's visits), so the pages give them to the admin role alone and viewers only the reason.
"""

from __future__ import annotations

import time

from edgeemo.aggregates import CELL_S, SETTLE_S
from edgeemo.hub.localtime import UTC, bucket_start
from edgeemo.hub.storage.db import Database
from edgeemo.hub.storage.stores import zone_of


def held_back(database: Database, store: str | None, since: int, until: int, bucket: str, min_visits: int,
              zone: str | None = None, now: float | None = None) -> dict[str, int]:
    """{visits, under_k, not_over, min_visits} of a store's range (every store's: None), cut as its series is."""
    if min_visits <= 1:  # k = 1 releases every cell at once
        return {"visits": 0, "under_k": 0, "not_over": 0, "min_visits": min_visits}
    settled = int(time.time() if now is None else now) - CELL_S - SETTLE_S  # a cell starting later is not over
    with database.transaction() as tx:
        first = bucket_start(zone_of(tx, store) if store else UTC, since, "hour" if bucket == "hour" else "day")
        params: list[object] = [first, until]
        where, values = "bucket >= ? AND bucket < ?", [settled, settled, min_visits]
        if store is not None:
            where, params = f"store = ? AND {where}", [store, *params]
        if zone:
            where, params = f"{where} AND zone = ?", [*params, zone]
        row = tx.row("SELECT sum(CASE WHEN bucket > ? THEN visits ELSE 0 END), "
                     f"sum(CASE WHEN bucket <= ? AND visits < ? THEN visits ELSE 0 END) FROM hourly WHERE {where}",
                     [*values, *params])
    not_over, under_k = int(row[0] or 0), int(row[1] or 0)
    return {"visits": not_over + under_k, "under_k": under_k, "not_over": not_over, "min_visits": min_visits}

"""What the hub refused, for the admins' page: the counts per device and reason (the `rejects` table the
ingest keeps) beside the dead letters (`hub/storage/dead_letters.py`). Read-only; nothing here decides a refusal."""

from __future__ import annotations

from edgeemo.hub.reading.known import UnknownName, not_known
from edgeemo.hub.storage.db import Database
from edgeemo.hub.storage.dead_letters import list_dead_letters
from edgeemo.wire import iso

COLUMNS = ("store", "device", "reason", "count", "last_at", "last_error")


def list_refusals(database: Database) -> list[dict]:
    """Every (device, reason) refusal counter, the most recent first."""
    with database.transaction() as tx:
        rows = tx.rows(f"SELECT {', '.join(COLUMNS)} FROM rejects ORDER BY last_at DESC, store, device, reason")
    return [dict(zip(COLUMNS, row), count=int(row[3]), last_at=iso(row[4])) for row in rows]


def refusals_page(database: Database, device: str | None = None) -> dict:
    """The refusals and dead letters, of one device ("store/device") or all, with the devices that have any:
    a device with none is refused by name (a typo), as an unknown store is."""
    refusals, letters = list_refusals(database), list_dead_letters(database)
    devices = sorted({f"{row['store']}/{row['device']}" for row in [*refusals, *letters]})
    if device is not None:
        if device not in devices:
            raise UnknownName(not_known("device", device, devices, "the page without ?device=",
                                      "among the devices with refusals or dead letters"))
        refusals = [row for row in refusals if f"{row['store']}/{row['device']}" == device]
        letters = [row for row in letters if f"{row['store']}/{row['device']}" == device]
    by_reason: dict[str, int] = {}
    for row in refusals:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + row["count"]
    return {"device": device, "devices": devices, "refusals": refusals, "by_reason": dict(sorted(by_reason.items())),
            "dead_letters": letters}

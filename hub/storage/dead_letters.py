"""Dead letters: messages a hub could not store after retries, kept with why, for an admin to
look at, export and delete (`edgeemo hub dead-letters`, `/api/dead-letters`).

Bounded, since a device decides what it sends: at most PER_DEVICE distinct bodies a device and
MAX_LETTERS in all are kept (a body seen again only counts up); past either, the message is only
counted (`rejects`, reason `unstorable`). The upkeep deletes letters not seen for KEEP_DAYS.
"""

from __future__ import annotations

import re

from edgeemo.errors import EdgeemoError
from edgeemo.hub.storage.db import Database, Tx
from edgeemo.wire import iso

COLUMNS = ("store", "device", "digest", "topic", "reason", "error", "count", "first_at", "last_at")
MAX_LETTERS = 10_000  # at most 16 KB each (the payload limit, base64): a few hundred MB at worst
PER_DEVICE = 100
KEEP_DAYS = 30
DIGEST = re.compile(r"[0-9a-f]{6,64}")


def room_for(tx: Tx, store: str, device: str, digest: str) -> bool:
    """Whether a dead letter may be kept: its body is kept already (it counts up), or there is room."""
    if tx.one("SELECT 1 FROM dead_letters WHERE store = ? AND device = ? AND digest = ?", (store, device, digest)):
        return True
    mine = tx.row("SELECT count(*) FROM dead_letters WHERE store = ? AND device = ?", (store, device))[0]
    return mine < PER_DEVICE and tx.row("SELECT count(*) FROM dead_letters")[0] < MAX_LETTERS


def expire_dead_letters(tx: Tx, now: float) -> int:
    """Delete the letters not seen for KEEP_DAYS; returns how many."""
    return tx.run("DELETE FROM dead_letters WHERE last_at < ?", (int(now) - KEEP_DAYS * 86400,))


def list_dead_letters(database: Database, with_body: bool = False) -> list[dict]:
    """Every dead letter, newest first; `with_body` adds the message as received (base64)."""
    names = (*COLUMNS, "body") if with_body else COLUMNS
    with database.transaction() as tx:
        rows = tx.rows(f"SELECT {', '.join(names)} FROM dead_letters ORDER BY last_at DESC, store, device, digest")
    letters = [dict(zip(names, row)) for row in rows]
    for letter in letters:
        letter["first_at"], letter["last_at"] = iso(letter["first_at"]), iso(letter["last_at"])
    return letters


def delete_dead_letters(database: Database, digest: str | None = None) -> int:
    """Delete one dead letter (its digest, or the first 6 or more characters of it when they name one
    digest only) or, without one, all; returns how many rows went. Matched exactly: no wildcards."""
    with database.transaction(write=True) as tx:
        if digest is None:
            return tx.run("DELETE FROM dead_letters")
        digest = digest.lower()  # as pasted from anywhere; still no wildcard
        if not DIGEST.fullmatch(digest):
            raise EdgeemoError(f"dead-letters delete: {digest[:80]!r} is not a digest: give 6 to 64 of its "
                               "hexadecimal characters, as `edgeemo hub dead-letters list` shows (--all for all)")
        found = [d for (d,) in tx.rows("SELECT DISTINCT digest FROM dead_letters WHERE substr(digest, 1, ?) = ?",
                                       (len(digest), digest))]
        if len(found) > 1:
            raise EdgeemoError(f"dead-letters delete: {len(found)} dead letters start with {digest}: give more of "
                               "the digest (nothing deleted)")
        return tx.run("DELETE FROM dead_letters WHERE digest = ?", (found[0],)) if found else 0

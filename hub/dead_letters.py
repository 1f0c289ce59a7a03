"""Dead letters: messages a hub could not store after retries, kept with why, for an admin to
look at, export and delete (`edgeemo hub dead-letters`, `/api/dead-letters`)."""

from __future__ import annotations

from edgeemo.hub.db import Database
from edgeemo.wire import iso

COLUMNS = ("store", "device", "digest", "topic", "reason", "error", "count", "first_at", "last_at")


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
    """Delete one dead letter (by its digest, or a unique prefix of it) or, without one, all; returns how many."""
    with database.transaction(write=True) as tx:
        if digest is None:
            return tx.run("DELETE FROM dead_letters")
        return tx.run("DELETE FROM dead_letters WHERE digest LIKE ?", (digest.replace("%", "") + "%",))

"""`edgeemo hub backup --to FILE`: a consistent copy of an SQLite hub database while it ingests.

SQLite's online backup API copies every page in one step under a read snapshot (WAL mode lets the
ingest go on writing meanwhile), so the copy is the database as of one moment: roll-ups equal to
their intervals. PostgreSQL has its own tools (`pg_dump -Fc`, `pg_restore`; docs/hub-guide.md "Backup and
restore"): this command says so rather than doing a worse copy.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgeemo.errors import EdgeemoError
from edgeemo.hub.storage.db import Database


def backup_sqlite(database: Database, target: Path) -> int:
    """Copy the database to `target` (which must not exist); returns its size in bytes."""
    if database.dialect != "sqlite":
        raise EdgeemoError(f"{database.describe()}: back a PostgreSQL hub up with `pg_dump -Fc` and restore it with "
                           "`pg_restore` (docs/hub-guide.md, \"Backup and restore\")")
    if target.exists():
        raise EdgeemoError(f"{target}: exists already; choose a new file (a backup never overwrites one)")
    try:
        source = sqlite3.connect(str(database.path), timeout=30)
        copy = sqlite3.connect(target)
        with source, copy:
            source.backup(copy)  # all pages in one step: one snapshot
        problems = copy.execute("PRAGMA integrity_check").fetchone()[0]
        source.close()
        copy.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise EdgeemoError(f"{target}: the backup failed ({exc}); nothing was written") from None
    if problems != "ok":
        raise EdgeemoError(f"{target}: the copy fails SQLite's integrity check ({problems}); keep the original")
    return target.stat().st_size

"""What the device's database must not lose to a wall clock that lies or to a reset: the time old rows
may be pruned by, and the sequence numbers already handed out.

Pruning time: the wall clock labels rows, and a clock set wrong-ahead (by months) once deleted every
row as "old" as soon as its step was an hour old. The time pruning trusts is the wall clock, but never
more than an hour ahead of where the monotonic clock (which no one sets) has run since a moment the
wall clock was sane; that moment is kept in the database's meta with the boot's id, so a restart
within the boot keeps it. A wrong clock at boot is still believed: what guards unsent rows then is
the store, which never prunes a row the broker has not acknowledged.

Sequence numbers: a database that is reset (a corrupt one moved aside, one deleted by hand) started
again at 1, and the hub took the new life's numbers for old ones, missing its losses. The highest
number handed out is also kept beside the database (`<db>.seq`), written before the rows that use it
are committed, so a new database goes on from there and the hub's gap check covers the new life.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from edgeemo.payload import MAX_SEQ

log = logging.getLogger(__name__)
SLACK_S = 3600.0  # how far the wall clock may run ahead of the monotonic one (NTP slews, drift) before it is doubted
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot's id (Linux); '' where there is none: the anchor is then this process's."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


class PruneClock:
    """The wall time pruning may go by: the wall clock, held back to what the monotonic clock allows."""

    def __init__(self, anchor: dict | None = None) -> None:
        boot = boot_id()
        self.anchor = anchor if anchor and boot and anchor.get("boot") == boot else None
        self._warned = False

    def anchor_at(self, wall: float) -> dict:
        """Trust the wall clock as it reads now (it is sane): the anchor to keep in meta."""
        self.anchor = {"boot": boot_id(), "wall": wall, "monotonic": time.monotonic()}
        return self.anchor

    def now(self, wall: float) -> float:
        """The wall time to prune by."""
        if self.anchor is None:
            return wall
        trusted = self.anchor["wall"] + (time.monotonic() - self.anchor["monotonic"])
        if wall > trusted + SLACK_S:
            if not self._warned:
                log.warning("the wall clock is %.0f s ahead of the time the monotonic clock vouches for; "
                            "pruning goes by the latter", wall - trusted)
                self._warned = True
            return trusted + SLACK_S
        self._warned = False
        return wall

    @staticmethod
    def decode(text: str | None) -> dict | None:
        try:
            anchor = json.loads(text) if text else None
        except ValueError:
            return None
        ok = isinstance(anchor, dict) and all(isinstance(anchor.get(k), (int, float)) for k in ("wall", "monotonic"))
        return anchor if ok else None


class SeqMark:
    """The highest sequence number handed out, in a file beside the database (one line, written atomically)."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".seq")
        self._written = self.read()

    def read(self) -> int:
        try:
            value = int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0
        return min(max(value, 0), MAX_SEQ // 2)  # a damaged file cannot push the numbers past what a payload takes

    def reserve(self, seq: int) -> None:
        """Record that numbers up to `seq` are in use, before they are committed (OSError if it cannot)."""
        if seq <= self._written:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w") as handle:
            handle.write(f"{seq}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._written = seq


def highest_seq_of(path: Path) -> int:
    """The highest sequence number a (moved-aside, perhaps corrupt) database still tells, 0 if none."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            found = connection.execute(
                "SELECT max(COALESCE((SELECT max(seq) FROM aggregates), 0), "
                "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_seq'), 0))").fetchone()
    except sqlite3.Error:
        return 0
    return int(found[0] or 0)


def move_aside(path: Path) -> Path:
    """Rename a corrupt database (and its -wal, -shm) to `<name>.corrupt-<time>[-n]`, never deleting it;
    the new name. Its `<name>.seq` stays: the new database numbers on from it."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-shm")):  # twice in one second
        serial += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{target}{suffix}"))
    return target

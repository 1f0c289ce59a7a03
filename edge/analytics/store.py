"""The local analytics database: SQLite, WAL, one writer, batched commits, faults survived.

Only aggregates and visits (times, dwell, emotion shares) are stored: never a frame, crop,
embedding or track id. When the disk is full or the directory read-only, rows are held
in memory and written when the disk recovers; a corrupt database is moved aside (never
deleted) and a fresh one started.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import deque
from pathlib import Path

from edgeemo.aggregates import satisfaction_from_counts
from edgeemo.bands import UNSIZED
from edgeemo.edge.analytics.continuity import PruneClock, SeqMark, highest_seq_of, move_aside
from edgeemo.edge.analytics.intervals import Aggregate
from edgeemo.edge.analytics.schema import NewerDatabaseError, connect, migrate
from edgeemo.edge.analytics.visits import Visit
from edgeemo.wire import iso

log = logging.getLogger(__name__)

# A wall clock earlier than this is certainly wrong (a Pi without network boots at its last
# saved time, or at 1970): this edgeemo did not exist yet.
EARLIEST_SANE_TIME = 1_793_491_200.0  # 2026-11-01T00:00:00Z


def _stored_bands(text: str | None, emotions: dict) -> dict[str, dict[str, int]]:
    """A stored row's visits by band; a row written before bands were counted, or whose bands cannot be read
    back as counts (edited, corrupt), has its visits under `unsized` (no measured size)."""
    try:
        found = json.loads(text) if text else None
        if isinstance(found, dict) and all(isinstance(c, dict) and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in c.values()) for c in found.values()):
            return found
    except (ValueError, RecursionError):
        pass
    return {UNSIZED: emotions}


class AnalyticsStore:
    def __init__(self, path: Path, commit_every_s: float = 10.0, retention_days: float = 90.0,
                 max_pending_rows: int = 100_000, keep_unsent: bool = False) -> None:
        """`keep_unsent`: rows go out through an outbox, and retention never deletes one not yet sent."""
        self.path, self.commit_every_s, self.keep_unsent = Path(path), commit_every_s, keep_unsent
        self.retention_s = retention_days * 86400
        self.pending_aggregates: deque[Aggregate] = deque()
        self.pending_visits: deque[Visit] = deque()
        self.max_pending_rows = max_pending_rows
        self.dropped_rows = 0
        self.connection: sqlite3.Connection | None = None
        self.failing_since: float | None = None
        self.moved_aside: Path | None = None
        self._last_flush = time.monotonic()
        self._seq = 0  # the highest sequence number written (kept in meta too: it outlives pruned rows)
        self.meta: dict[str, str] = {}
        self._last_prune: float | None = None  # monotonic time of the last prune; None = never
        self._clock_jumped_at: float | None = None  # monotonic time of the last wall-clock step seen
        self._mark = SeqMark(self.path)  # the numbers handed out, beside the database: a reset does not reuse them
        self._prune_clock = PruneClock()
        self._open()

    # -- opening --------------------------------------------------------------------------
    def _open(self) -> bool:
        try:
            connection = connect(self.path)
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            try:
                migrate(connection, self.path)
            except NewerDatabaseError:
                connection.close()
                raise
            self._seq = max(self._seq, *connection.execute(
                "SELECT COALESCE(MAX(seq), 0), COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_seq'), 0) "
                "FROM aggregates").fetchone(), self._mark.read())
            for key, value in self.meta.items():
                connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            anchor = connection.execute("SELECT value FROM meta WHERE key = 'prune_anchor'").fetchone()
            self._prune_clock = PruneClock(PruneClock.decode(anchor[0] if anchor else None))
        except sqlite3.OperationalError as exc:
            self._failing(f"cannot open ({exc})")
            return False
        except sqlite3.DatabaseError as exc:
            try:
                self._move_aside(exc)
            except OSError as move_error:
                self._failing(f"corrupt ({exc}) and cannot be moved aside ({move_error})")
                return False
            return self._open()
        self.connection = connection
        self._anchor_prune_clock(time.time())
        return True

    def _anchor_prune_clock(self, now: float) -> None:
        """Keep, once a boot, a moment the wall clock was sane: pruning never runs ahead of it faster than
        the monotonic clock does (edgeemo.edge.analytics.continuity)."""
        if self._prune_clock.anchor is not None or self.connection is None or self.clock_doubt(now):
            return
        try:
            self.connection.execute("INSERT OR REPLACE INTO meta VALUES ('prune_anchor', ?)",
                                    (json.dumps(self._prune_clock.anchor_at(now)),))
        except sqlite3.Error as exc:
            log.warning("%s: cannot keep the pruning clock's anchor (%s)", self.path, exc)

    def _move_aside(self, cause: Exception) -> None:
        self._seq = max(self._seq, highest_seq_of(self.path))  # what the old file still tells, if anything
        self.moved_aside = move_aside(self.path)
        log.error("%s: corrupt database (%s); moved aside to %s, starting a new one", self.path, cause,
                  self.moved_aside)

    def _failing(self, reason: str) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.error("%s: %s; holding aggregates in memory and retrying every %.0f s",
                      self.path, reason, self.commit_every_s)
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def stored_meta(self) -> dict[str, object]:
        """What an earlier run wrote into meta (decoded); empty when the database cannot be read."""
        if self.connection is None:
            return {}
        try:
            return {key: json.loads(value) for key, value in self.connection.execute("SELECT key, value FROM meta")}
        except (sqlite3.Error, ValueError):
            return {}

    def set_meta(self, **values: object) -> None:
        """What readers of the database need to know about its rows (labels, satisfaction groups)."""
        self.meta.update({key: json.dumps(value) for key, value in values.items()})
        if self.connection is not None:
            try:
                with self.connection:
                    for key, value in self.meta.items():
                        self.connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            except sqlite3.Error as exc:
                self._failing(f"cannot write ({exc})")

    # -- writing --------------------------------------------------------------------------
    def add_aggregate(self, aggregate: Aggregate) -> None:
        self.pending_aggregates.append(aggregate)
        self._bound_pending()

    def add_visit(self, visit: Visit) -> None:
        self.pending_visits.append(visit)
        self._bound_pending()

    def _bound_pending(self) -> None:
        while len(self.pending_aggregates) + len(self.pending_visits) > self.max_pending_rows:
            (self.pending_visits or self.pending_aggregates).popleft()
            self.dropped_rows += 1
            if self.dropped_rows == 1:
                log.error("%s: unwritable for too long; dropping the oldest held rows", self.path)

    @property
    def pending(self) -> int:
        return len(self.pending_aggregates) + len(self.pending_visits)

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.commit_every_s:
            self.flush()

    def flush(self) -> bool:
        """Write everything held in one transaction; on failure keep it for the next try."""
        self._last_flush = time.monotonic()
        if self.connection is None and not self._open():
            return False
        if not self.pending:
            return True
        assert self.connection is not None
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            seq = self._seq
            for aggregate in self.pending_aggregates:
                seq = self._write_aggregate(aggregate, seq)
            self.connection.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(seq),))
            self._mark.reserve(seq)  # before the commit: a reset database never hands these out again
            self.connection.executemany(
                "INSERT INTO visits(start, end, dwell_s, dominant, shares, zone, face_px) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(v.start, v.end, v.dwell_s, v.dominant, json.dumps(v.shares), v.zone, v.face_px)
                 for v in self.pending_visits],
            )
            self.connection.execute("COMMIT")
            self._seq = seq
        except (sqlite3.Error, OSError) as exc:
            try:
                self.connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._failing(f"cannot write ({exc})")
            return False
        if self.failing_since is not None:
            log.warning("%s: writable again; wrote %d held rows", self.path, self.pending)
            self.failing_since = None
        self.pending_aggregates.clear()
        self.pending_visits.clear()
        self._prune_now_and_then()
        return True

    def _write_aggregate(self, aggregate: Aggregate, last_seq: int) -> int:
        """Insert, or add to the row of the same interval and zone (a restart within the interval, or
        after a clock step); returns the highest sequence number now written.

        The number belongs to the row: it is given when the row is first written, from the
        database's own count, and a row that changes keeps it (and is sent again under it). So a
        restart or a clock step never draws a number that then goes unused: no gap a hub waits for."""
        assert self.connection is not None
        emotions = {label: aggregate.visits_by_emotion.get(label, 0) for label in aggregate.labels}
        bands = {band: dict(counts) for band, counts in aggregate.visits_by_band.items()}
        faces, dwell = len(aggregate.face_ids), aggregate.dwell_s_total
        row = self.connection.execute(
            "SELECT faces_seen, emotions, dwell_s_total, seq, bands FROM aggregates WHERE start = ? AND zone = ?",
            (aggregate.start, aggregate.zone),
        ).fetchone()
        seq = row[3] if row is not None and row[3] is not None else last_seq + 1
        if row is not None:
            faces += row[0]
            dwell += row[2]
            earlier = json.loads(row[1])
            for label, count in earlier.items():
                emotions[label] = emotions.get(label, 0) + count
            for band, counts in _stored_bands(row[4], earlier).items():
                merged = bands.setdefault(band, {})
                for label, count in counts.items():
                    merged[label] = merged.get(label, 0) + count
        self.connection.execute(  # sent = 0: new, or changed since it was sent (the outbox sends it again)
            "INSERT OR REPLACE INTO aggregates(start, zone, length_s, faces_seen, visits, emotions, satisfaction, "
            "dwell_s_total, labels, seq, groups, sent, model, bands) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (aggregate.start, aggregate.zone, aggregate.length_s, faces, sum(emotions.values()), json.dumps(emotions),
             satisfaction_from_counts(emotions, aggregate.groups), dwell, json.dumps(list(aggregate.labels)), seq,
             json.dumps(aggregate.groups.as_dict()), json.dumps(aggregate.model) if aggregate.model else None,
             json.dumps(bands)),
        )
        return max(last_seq, seq)

    # -- the outbox: rows to publish, acknowledged ones, re-send requests ---------------------
    def unsent(self, limit: int, skip: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, dict]]:
        """Up to `limit` (seq, row) pairs not yet acknowledged by the broker, oldest first."""
        if self.connection is None:
            return []
        try:
            rows = self.connection.execute(
                "SELECT seq, start, zone, length_s, faces_seen, visits, emotions, satisfaction, dwell_s_total, labels, "
                "groups, model, bands FROM aggregates WHERE sent = 0 AND seq IS NOT NULL ORDER BY seq LIMIT ?",
                (limit + len(skip),)).fetchall()
        except sqlite3.Error as exc:
            log.warning("%s: cannot read the outbox (%s)", self.path, exc)
            return []
        names = ("seq", "start", "zone", "length_s", "faces_seen", "visits", "emotions", "satisfaction",
                 "dwell_s_total", "labels", "groups", "model", "bands")
        return [(row[0], dict(zip(names, row))) for row in rows if row[0] not in skip][:limit]

    def mark_sent(self, seqs: list[int], sent: bool = True) -> int:
        """Record the broker's acknowledgements (or, with sent=False, a consumer's re-send request)."""
        if self.connection is None or not seqs:
            return 0
        try:
            with self.connection:
                return self.connection.executemany("UPDATE aggregates SET sent = ? WHERE seq = ?",
                                                   [(int(sent), seq) for seq in seqs]).rowcount
        except sqlite3.Error as exc:
            log.warning("%s: cannot update the outbox (%s); it is retried", self.path, exc)
            return 0

    def _prune_now_and_then(self) -> None:
        # monotonic() starts near zero at boot, so "never" is None, not 0.0
        if self._last_prune is not None and time.monotonic() - self._last_prune < 3600:
            return
        self._last_prune = time.monotonic()
        self._anchor_prune_clock(time.time())
        now = self._prune_clock.now(time.time())  # never further ahead than the monotonic clock vouches for
        doubt = self.clock_doubt(now)
        if doubt:
            log.warning("%s: retention pruning skipped this hour: %s", self.path, doubt)
            return
        self.prune(now)

    def clock_jumped(self, _jump_s: float = 0.0) -> None:
        """The wall clock just stepped: no pruning by it for an hour."""
        self._clock_jumped_at = time.monotonic()

    def clock_doubt(self, now: float) -> str | None:
        """Why the wall clock cannot be trusted to delete old rows now, or None when it can."""
        if now < EARLIEST_SANE_TIME:
            return f"the wall clock says {iso(now)}, before this edgeemo was released (not yet set by NTP?)"
        if self._clock_jumped_at is not None and time.monotonic() - self._clock_jumped_at < 3600:
            return "the wall clock stepped less than an hour ago"
        if self.connection is not None:
            try:
                newest = self.connection.execute("SELECT MAX(start + length_s) FROM aggregates").fetchone()[0]
            except sqlite3.Error:
                newest = None
            if newest is not None and newest > now + 60:
                return f"the wall clock ({iso(now)}) is behind the newest stored interval ({iso(newest)})"
        return None

    def prune(self, now: float) -> int:
        """Delete rows older than the retention period, never one the outbox has still to send (whatever a
        wall clock says); returns how many went."""
        if self.connection is None:
            return 0
        cutoff = now - self.retention_s
        try:
            with self.connection:
                removed = self.connection.execute("DELETE FROM aggregates WHERE start < ? AND (sent = 1 OR ? = 0)",
                                                  (cutoff, int(self.keep_unsent))).rowcount
                removed += self.connection.execute("DELETE FROM visits WHERE end < ?", (cutoff,)).rowcount
        except sqlite3.Error as exc:
            log.warning("%s: retention pruning failed (%s)", self.path, exc)
            return 0
        if removed:
            log.info("%s: pruned %d rows older than %.0f days", self.path, removed, self.retention_s / 86400)
        return removed

    def close(self) -> None:
        """Final flush; rows that still cannot be written go to the log (journald) as JSON."""
        if not self.flush():
            log.error("%s: still unwritable at exit; the %d held rows follow as JSON lines", self.path, self.pending)
            for aggregate in self.pending_aggregates:
                self._seq += 1  # the number it would have had; the journal line is all that is left of it
                log.error("unwritten aggregate %s", json.dumps(aggregate.payload("", "", self._seq)))
            for visit in self.pending_visits:
                log.error("unwritten visit %s", json.dumps({
                    "start": visit.start, "end": visit.end, "dominant": visit.dominant, "shares": visit.shares,
                    "zone": visit.zone}))
        if self.connection is not None:
            self.connection.close()
            self.connection = None

"""Storing what the MQTT worker took: a batch in one transaction, held through a database outage,
and split when the database refuses it while it answers, until the one message it cannot store
is alone; that one is retried, then kept as a dead letter and acknowledged, and the rest stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edgeemo.errors import first_line
from edgeemo.hub.config import IngestSection
from edgeemo.hub.ingest.messages import Interval, Rejected
from edgeemo.hub.ingest.writer import keep_dead_letter, store_messages
from edgeemo.hub.storage.db import Database
from edgeemo.payload import printable

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    received: int = 0
    new: int = 0
    changed: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    flood: int = 0
    dead_letters: int = 0
    resend_requests: int = 0
    open_gaps: int = 0
    last_commit_at: float | None = None
    oldest_waiting_s: float = 0.0  # age of the oldest message not yet acknowledged
    connected: bool = False
    subscribed: bool = False  # the broker acknowledged the subscriptions of this connection
    db_errors: int = 0
    failure: str | None = None  # why the worker stopped, if it did
    gap_problem: str | None = None  # why the last gap check or re-send round failed (None: it ran)

    def as_dict(self) -> dict:
        return dict(self.__dict__, rejected=dict(self.rejected))


class LogBudget:
    """At most one line per key every `every_s`, and `most` lines in all in that time: a device that sends
    poison by the thousand gets a line now and then, saying how many were held back, not a flood of ERRORs."""

    def __init__(self, every_s: float = 600.0, most: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.most, self.clock = every_s, most, clock
        self._last: dict[object, float] = {}
        self._held: dict[object, int] = {}
        self._window: list[float] = []

    def allow(self, key: object) -> int | None:
        """None: stay quiet (counted); else how many lines of this key were held back since the last one."""
        now = self.clock()
        self._window = [t for t in self._window if now - t < self.every_s]
        last = self._last.get(key)
        if (last is not None and now - last < self.every_s) or len(self._window) >= self.most:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) > 100_000:  # keys of long ago: forgotten
            self._last = {k: t for k, t in self._last.items() if now - t < self.every_s}
        self._last[key] = now
        self._window.append(now)
        return self._held.pop(key, 0)


@dataclass
class Item:
    """One received message, read: an interval, a refusal or a device's availability."""

    message: mqtt.MQTTMessage
    arrived: float  # monotonic
    store: str = ""
    device: str = ""
    interval: Interval | None = None
    rejected: Rejected | None = None
    online: bool | None = None


class BatchStore:
    def __init__(self, database: Database, rules: IngestSection, stats: IngestStats, ack: Callable[[Item], object],
                 wait: Callable[[float], bool], log_once: Callable[[str, str, str, str], None]) -> None:
        """`ack` acknowledges a stored item; `wait(seconds)` waits, True when the hub is stopping."""
        self.database, self.rules, self.stats = database, rules, stats
        self.ack, self.wait, self.log_once = ack, wait, log_once
        self.in_hand_since: float | None = None  # arrival of the oldest message of the batch being stored
        self.log_budget = LogBudget()
        self._last_error = ""

    def commit(self, items: list[Item]) -> bool:
        """Store these items in one transaction and acknowledge them; False when the database refused."""
        intervals = [item.interval for item in items if item.interval is not None]
        rejects = [item.rejected for item in items if item.rejected is not None]
        availability = [(item.store, item.device, item.online) for item in items if item.online is not None]
        try:
            result = store_messages(self.database, intervals, rejects, availability,
                                    max_seq_jump=self.rules.max_seq_jump)
        except Exception as exc:  # noqa: BLE001 - any database failure: hold the items, never crash
            self.stats.db_errors += 1
            self._last_error = first_line(exc)
            return False
        for item in items:
            self.ack(item)
        self.stats.received += len(items) - len(availability)
        self.stats.new += result.new
        self.stats.changed += result.changed
        self.stats.duplicates += result.duplicates
        self.stats.last_commit_at = time.time()
        for reject in [*rejects, *result.refused]:
            self.stats.rejected[reject.reason] = self.stats.rejected.get(reject.reason, 0) + 1
            self.log_once(reject.store, reject.device, reject.reason, reject.error)
        return True

    def store(self, batch: list[Item]) -> None:
        """Store a batch; hold it through a database outage; isolate what the database refuses."""
        try:
            if self.commit(batch):
                return
            while not self._database_answers():  # an outage: nothing is acknowledged until it is stored
                log.error("hub: cannot write to %s (%s); holding %d message(s) unacknowledged, retrying",
                          self.database.describe(), self._last_error, len(batch))
                if self.wait(5.0):
                    return  # exit without acknowledging: the broker delivers them again
                if self.commit(batch):
                    return
            self._isolate(batch)  # the database answers, yet refused the batch: something in it is poison
        finally:
            self.in_hand_since = None

    def _database_answers(self) -> bool:
        try:
            with self.database.transaction(write=True) as tx:
                tx.one("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - the probe's only question is "does it answer"
            return False

    def _isolate(self, items: list[Item]) -> None:
        """Halve until the message the database refuses is alone; retry it, then keep it as a dead letter."""
        if len(items) > 1:
            middle = len(items) // 2
            for half in (items[:middle], items[middle:]):
                if not self.commit(half):
                    self._isolate(half)
            return
        item = items[0]
        for _ in range(self.rules.max_attempts - 1):
            if self.wait(0.2) or self.commit(items):
                return
        device = (printable(item.store, 64), printable(item.device, 64))
        try:
            kept = keep_dead_letter(self.database, *device, item.message.topic, item.message.payload,
                                    self._last_error)
        except Exception as exc:  # noqa: BLE001 - not even the dead letter fits: leave it unacknowledged
            if self.log_budget.allow(("cannot keep", device)) is not None:
                log.error("hub: cannot keep a dead letter from %s/%s (%s)", *device, first_line(exc))
            return
        self.ack(item)
        self.stats.dead_letters += 1
        held = self.log_budget.allow(device)
        if held is not None:
            log.error("hub: a message from %s/%s could not be stored after %d attempts (%s); %s%s", *device,
                      self.rules.max_attempts, self._last_error,
                      "kept as a dead letter (edgeemo hub dead-letters list)" if kept else
                      "counted, not kept: the device's or the hub's dead letters are full",
                      f"; {held} more from it since the last such line" if held else "")

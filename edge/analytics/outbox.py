"""The device's outbox: every aggregate in the local database reaches the broker, acknowledged.

Rows are published from SQLite, oldest sequence number first, at a bounded rate, and marked
sent only when the broker acknowledges them (QoS 1 PUBACK). Rows a broker outage or a
restart left unsent simply go out later; a row that changes after it was sent (a restart
within its interval adds to it) is sent again under the same key; a consumer that finds a
gap in the sequence numbers asks for rows again on the device's `resend` topic. Everything
here runs on the frame loop's thread, the database's one writer, from `pump()`.
"""

from __future__ import annotations

import logging
import queue
import time

from edgeemo.edge.analytics.mqtt import MqttPublisher
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.payload_build import payload_from_row

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, store: AnalyticsStore, publisher: MqttPublisher, max_per_s: float = 20.0,
                 max_in_flight: int = 100) -> None:
        self.store, self.publisher = store, publisher
        self.max_per_s, self.max_in_flight = max_per_s, max_in_flight
        self.in_flight: dict[int, int] = {}  # mid -> seq, published and not yet acknowledged
        self.sent = self.resent = 0
        self.unsendable = 0  # rows that cannot be a payload (hand-edited, corrupt): skipped, never a crash
        self._budget, self._refilled = 0.0, time.monotonic()
        self._disconnects = publisher.disconnects

    def pump(self) -> None:
        """Record acknowledgements and re-send requests, then publish what the rate allows."""
        acked = []
        while True:
            try:
                acked_mid = self.publisher.acks.get_nowait()
            except queue.Empty:
                break
            if acked_mid in self.in_flight:
                acked.append(self.in_flight.pop(acked_mid))
        if acked:
            self.sent += self.store.mark_sent(acked)
        while True:
            try:
                seqs = self.publisher.resend_requests.get_nowait()
            except queue.Empty:
                break
            self.resent += self.store.mark_sent(seqs, sent=False)
            log.info("outbox: a consumer asked for %d interval(s) again", len(seqs))
        if self.publisher.disconnects != self._disconnects:  # acks for those will not come: send again
            self._disconnects = self.publisher.disconnects
            self.in_flight.clear()
        now = time.monotonic()
        self._budget = min(self.max_per_s, self._budget + (now - self._refilled) * self.max_per_s)
        self._refilled = now
        room = min(int(self._budget), self.max_in_flight - len(self.in_flight))
        if room <= 0 or not self.publisher.connected:
            return
        for seq, row in self.store.unsent(room, skip=set(self.in_flight.values())):
            try:
                payload = payload_from_row(row, self.publisher.store_id, self.publisher.device_id)
            except (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
                # a row this device cannot have written (edited by hand, a disk fault): never sent, never a crash
                log.error("outbox: interval %s cannot be sent (%s); it stays in the database, unsent and skipped",
                          seq, str(exc)[:120])
                self.store.mark_sent([seq])
                self.unsendable += 1
                continue
            mid = self.publisher.publish(payload)
            if mid is None:
                break
            self.in_flight[mid] = seq
            self._budget -= 1

    def drain(self, timeout_s: float = 5.0) -> None:
        """At exit: a few more rounds so the last intervals are acknowledged; the rest wait for the next start."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.publisher.connected:
            self.pump()
            if not self.in_flight and not self.store.unsent(1):
                return
            time.sleep(0.05)

"""The hub's MQTT side: a persistent MQTT 5 session on a shared subscription, with every
message acknowledged only after the transaction that stored it has committed.

paho's network thread only queues messages (`manual_ack=True`); one worker thread takes them
in batches, validates, writes, commits, then sends the PUBACKs. A hub that dies mid-batch
has acknowledged nothing of it, so the broker delivers it again (to this hub's session, or
to another hub of the share group) and the idempotent upsert absorbs what was stored twice.
Availability (retained, so not shared) comes to every hub on a plain subscription.
The worker also runs the gap check and sends the re-send requests it finds due.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeemo.errors import first_line
from edgeemo.hub.config import HubConfig
from edgeemo.hub.db import Database
from edgeemo.hub.gaps import check_gaps, due_requests
from edgeemo.hub.ingest import Interval, Rejected, parse_message, store_messages
from edgeemo.wire import AGGREGATES, AVAILABILITY, ONLINE, RESEND, device_topic, hub_subscriptions, split_topic

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    received: int = 0
    new: int = 0
    changed: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    resend_requests: int = 0
    open_gaps: int = 0
    last_commit_at: float | None = None
    connected: bool = False
    db_errors: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__, rejected=dict(self.rejected))


class MqttIngest:
    def __init__(self, config: HubConfig, database: Database) -> None:
        self.config, self.database = config, database
        self.mqtt = config.mqtt
        self.prefix = self.mqtt.topic_prefix.rstrip("/")
        self.stats = IngestStats()
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.stop_event = threading.Event()
        self._logged: set[tuple[str, str, str]] = set()  # (store, device, reason) already logged
        self._worker = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        url = urlsplit(self.mqtt.url)
        self.host, self.port = url.hostname, url.port or (8883 if url.scheme == "mqtts" else 1883)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.mqtt.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password)
        if url.scheme == "mqtts":
            client.tls_set(ca_certs=str(self.mqtt.ca_file) if self.mqtt.ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = lambda c, u, message: self.inbox.put(message)
        self.client = client

    # -- connection ----------------------------------------------------------------------------
    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.mqtt.session_expiry_s
        properties.ReceiveMaximum = min(65535, 2 * self.mqtt.batch_size)  # un-acked messages the broker may send
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        self._worker.start()
        log.info("hub: ingesting from mqtt://%s:%d (%s)", self.host, self.port,
                 ", ".join(hub_subscriptions(self.prefix, self.mqtt.share_group)))

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    properties: object) -> None:
        if reason.is_failure:
            log.warning("hub: the broker refused the connection (%s): check [mqtt] username/password", reason)
            return
        self.stats.connected = True
        client.subscribe([(topic, 1) for topic in hub_subscriptions(self.prefix, self.mqtt.share_group)])
        log.info("hub: connected to the broker (session %s)", "resumed" if flags.session_present else "new")

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                       properties: object) -> None:
        self.stats.connected = False
        if not self.stop_event.is_set():
            log.warning("hub: lost the broker (%s); reconnecting, un-acknowledged messages come again", reason)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand (stored and acknowledged), then disconnect."""
        self.stop_event.set()
        self._worker.join(timeout=timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    # -- the worker ----------------------------------------------------------------------------
    def _take_batch(self) -> list[mqtt.MQTTMessage]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + 0.05  # gather a little more: one commit per batch
        while len(batch) < self.mqtt.batch_size:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
        return batch

    def _work(self) -> None:
        next_gap_check = time.monotonic() + self.config.gaps.check_every_s
        while not (self.stop_event.is_set() and self.inbox.empty()):
            batch = self._take_batch()
            if batch:
                self._store(batch)
            if time.monotonic() >= next_gap_check:
                next_gap_check = time.monotonic() + self.config.gaps.check_every_s
                self._gaps()

    def _store(self, batch: list[mqtt.MQTTMessage]) -> None:
        intervals: list[Interval] = []
        rejects: list[Rejected] = []
        availability: list[tuple[str, str, bool]] = []
        for message in batch:
            parts = split_topic(self.prefix, message.topic)
            if parts is None or parts[2] not in (AGGREGATES, AVAILABILITY):
                continue
            store, device, kind = parts
            if kind == AVAILABILITY:
                availability.append((store, device, message.payload == ONLINE))
                continue
            parsed = parse_message(store, device, message.payload, self.mqtt.max_payload_bytes)
            (intervals if isinstance(parsed, Interval) else rejects).append(parsed)
        while True:  # nothing is acknowledged until it is stored; a database outage is waited out
            try:
                result = store_messages(self.database, intervals, rejects, availability)
                break
            except Exception as exc:  # noqa: BLE001 - any database failure: hold the batch, never crash
                self.stats.db_errors += 1
                log.error("hub: cannot write to %s (%s); holding %d message(s) unacknowledged, retrying",
                          self.database.describe(), first_line(exc), len(batch))
                if self.stop_event.wait(5.0):
                    return  # exit without acknowledging: the broker delivers them again
        for message in batch:
            self.client.ack(message.mid, message.qos)
        self.stats.received += len(batch) - len(availability)
        self.stats.new += result.new
        self.stats.changed += result.changed
        self.stats.duplicates += result.duplicates
        self.stats.last_commit_at = time.time()
        for reject in rejects:
            self.stats.rejected[reject.reason] = self.stats.rejected.get(reject.reason, 0) + 1
            key = (reject.store, reject.device, reject.reason)
            if key not in self._logged:  # once per device and reason; the count keeps going in the database
                self._logged.add(key)
                log.warning("hub: refused a payload from %s/%s (%s: %s); counting further ones quietly",
                            reject.store, reject.device, reject.reason, reject.error)

    def _gaps(self) -> None:
        try:
            self.stats.open_gaps = check_gaps(self.database, first_request_after_s=self.config.gaps.first_request_after_s)
            requests = due_requests(self.database, max_backoff_s=self.config.gaps.max_backoff_s,
                                    base_s=max(1.0, self.config.gaps.first_request_after_s))
        except Exception as exc:  # noqa: BLE001 - a failed check is retried, ingest goes on
            log.error("hub: gap check failed (%s); trying again later", first_line(exc))
            return
        for request in requests:
            self.client.publish(device_topic(self.prefix, request.store, request.device, RESEND),
                                json.dumps(request.body), qos=1)
            self.stats.resend_requests += 1
            log.info("hub: asked %s/%s to re-send intervals %d..%d", request.store, request.device,
                     request.body["from"], request.body["to"])

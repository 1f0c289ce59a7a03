"""The hub's MQTT side: a persistent session on a shared subscription, every message acknowledged
only after the transaction that stored it (or counted its refusal) has committed.

paho's network thread only queues messages (`manual_ack=True`), after each device's budget
(`edgeemo.hub.ingest.flood`); one worker thread takes them in batches, parses, writes, commits, then
sends the acknowledgements. A hub that dies mid-batch has acknowledged nothing of it, so the
broker delivers it again and the idempotent upsert absorbs what was stored twice.

Nothing a device sends can stop the worker: parsing never raises, and storing
(`edgeemo.hub.ingest.batches`) holds a batch through a database outage and splits one the database
refuses until the message it cannot store is found, kept as a dead letter and acknowledged. Should the worker stop anyway, `on_failure` is called
once (`hub serve` then exits non-zero for systemd to restart it). The worker also runs the gap
check, sends the re-send requests due, and feeds the systemd watchdog while ingest progresses.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from edgeemo.errors import first_line
from edgeemo.hub.config import HubConfig
from edgeemo.hub.ingest.batches import BatchStore, IngestStats, Item
from edgeemo.hub.ingest.flood import DeviceBudget
from edgeemo.hub.ingest.gaps import check_gaps, due_requests
from edgeemo.hub.ingest.messages import Interval, Rejected, parse_message
from edgeemo.hub.ingest.writer import add_reject_counts
from edgeemo.hub.storage.db import Database
from edgeemo.payload import printable
from edgeemo.sdnotify import ServiceNotifier
from edgeemo.wire import (
    AGGREGATES,
    AVAILABILITY,
    NAME_RULE,
    ONLINE,
    RESEND,
    device_topic,
    hub_subscriptions,
    is_name,
    split_topic,
)

log = logging.getLogger(__name__)


class MqttIngest:
    def __init__(self, config: HubConfig, database: Database, notifier: ServiceNotifier | None = None,
                 on_failure: Callable[[str], None] = lambda why: None) -> None:
        self.config, self.database, self.mqtt, self.rules = config, database, config.mqtt, config.ingest
        self.time_rules = config.ingest.time_rules(config.retention)
        self.prefix = self.mqtt.topic_prefix.rstrip("/")
        self.stats = IngestStats()
        self.notifier, self.on_failure = notifier or ServiceNotifier({}), on_failure
        self.inbox: queue.Queue[tuple[float, mqtt.MQTTMessage]] = queue.Queue()
        self.budget = DeviceBudget(config.ingest.device_rate_per_s, config.ingest.device_burst)
        self.stop_event = threading.Event()
        self._flood: dict[tuple[str, str], int] = {}  # messages acknowledged unread, per device, not yet counted
        self._flood_lock = threading.Lock()
        self._logged: set[tuple[str, str, str]] = set()  # (store, device, reason) already logged
        self._worker = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        url = urlsplit(str(self.mqtt.url))  # set: the hub ingests only when [mqtt] url is
        self.host = url.hostname or ""  # the config refuses a URL without a host
        self.port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        if self.mqtt.protocol == "5":
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.mqtt.client_id,
                                 protocol=mqtt.MQTTv5, manual_ack=True)
        else:  # a persistent 3.1.1 session: no per-message properties to build
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.mqtt.client_id,
                                 protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password)
        if url.scheme == "mqtts":
            client.tls_set(ca_certs=str(self.mqtt.ca_file) if self.mqtt.ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self.client = client
        self.batches = BatchStore(database, self.rules, self.stats,
                                  ack=lambda item: client.ack(item.message.mid, item.message.qos),
                                  wait=self._wait_alive, log_once=self._log_once)

    # -- connection (paho's thread) --------------------------------------------------------------
    def start(self) -> None:
        if self.mqtt.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.mqtt.session_expiry_s
            properties.ReceiveMaximum = min(65535, 2 * self.mqtt.batch_size)  # un-acked messages the broker may send
            self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        else:
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._worker.start()
        log.info("hub: ingesting from mqtt://%s:%d (MQTT %s; %s)", self.host, self.port, self.mqtt.protocol,
                 ", ".join(hub_subscriptions(self.prefix, self.mqtt.share_group)))

    def _on_connect(self, client: mqtt.Client, userdata: object, flags, reason, properties: object) -> None:
        if reason.is_failure:
            log.warning("hub: the broker refused the connection (%s): check [mqtt] username/password", reason)
            return
        self.stats.connected = True
        client.subscribe([(topic, 1) for topic in hub_subscriptions(self.prefix, self.mqtt.share_group)])
        log.info("hub: connected to the broker (session %s)", "resumed" if flags.session_present else "new")

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons, properties: object) -> None:
        refused = [code for code in reasons if code.is_failure]
        if refused:
            log.error("hub: the broker refused a subscription (%s): check the hub's ACL", refused[0])
        self.stats.subscribed = not refused

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags, reason, properties: object) -> None:
        self.stats.connected = self.stats.subscribed = False
        if not self.stop_event.is_set():
            log.warning("hub: lost the broker (%s); reconnecting, un-acknowledged messages come again", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        parts = split_topic(self.prefix, message.topic)
        if parts is not None and parts[2] == AGGREGATES and not self.budget.take(parts[:2], now):
            client.ack(message.mid, message.qos)  # over budget: not read, not stored; counted by the worker
            with self._flood_lock:
                self._flood[parts[:2]] = self._flood.get(parts[:2], 0) + 1
            self.stats.flood += 1
            self._log_once(parts[0], parts[1], "flood", f"more than {self.rules.device_burst} messages at once or "
                           f"{self.rules.device_rate_per_s:g}/s on average")
            return
        self.inbox.put((now, message))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand (stored and acknowledged), then disconnect."""
        self.stop_event.set()
        self._worker.join(timeout=timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    # -- progress --------------------------------------------------------------------------------
    def waiting_since(self) -> float | None:
        """Monotonic arrival of the oldest message not yet acknowledged (None: nothing waits)."""
        with self.inbox.mutex:
            head = self.inbox.queue[0][0] if self.inbox.queue else None
        held = self.batches.in_hand_since
        return min(t for t in (head, held) if t is not None) if head is not None or held is not None else None

    def stalled(self) -> bool:
        since = self.waiting_since()
        self.stats.oldest_waiting_s = 0.0 if since is None else round(time.monotonic() - since, 1)
        return self.stats.failure is not None or self.stats.oldest_waiting_s > self.rules.stall_after_s

    # -- the worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - whatever stops the worker must be said, once, and acted on
            self.stats.failure = f"{type(exc).__name__}: {first_line(exc)}"
            log.critical("hub: the ingest worker stopped (%s); ingest is down", self.stats.failure)
            self.on_failure(self.stats.failure)

    def _work(self) -> None:
        next_gap_check = time.monotonic() + self.config.gaps.check_every_s
        while not (self.stop_event.is_set() and self.inbox.empty()):
            batch = self._take_batch()
            if batch:
                self.batches.store(batch)
            if self._flood:
                self._count_flood()
            if not self.stalled():
                self.notifier.watchdog()  # fed only while nothing waits too long: a stuck ingest starves it
            if time.monotonic() >= next_gap_check:
                next_gap_check = time.monotonic() + self.config.gaps.check_every_s
                self._gaps()

    def _take_batch(self) -> list[Item]:
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
        self.batches.in_hand_since = batch[0][0]
        return [self._read(arrived, message) for arrived, message in batch]

    def _read(self, arrived: float, message: mqtt.MQTTMessage) -> Item:
        item = Item(message, arrived)
        parts = split_topic(self.prefix, message.topic)
        if parts is None or parts[2] not in (AGGREGATES, AVAILABILITY):
            return item  # not ours (a wildcard overlap): acknowledged, nothing stored
        item.store, item.device, kind = parts
        if kind == AVAILABILITY:
            if not (is_name(item.store) and is_name(item.device)):  # the names a payload could carry, no others
                item.rejected = Rejected(item.store, item.device, "invalid", "an availability topic whose store or "
                                         f"device name breaks the name rule ({NAME_RULE})")
            else:
                item.online = message.payload == ONLINE
            return item
        parsed = parse_message(item.store, item.device, message.payload, self.mqtt.max_payload_bytes, time.time(),
                               self.time_rules)
        if isinstance(parsed, Interval):
            item.interval = parsed
        else:
            item.rejected = parsed
        return item

    def _wait_alive(self, seconds: float) -> bool:
        """Wait (True when stopped meanwhile), feeding the watchdog until the batch has waited too long:
        an outage shorter than [ingest] stall_after_s is ridden out, a longer one restarts the hub."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self.stalled():
                self.notifier.watchdog()
            if self.stop_event.wait(min(left, 1.0)):
                return True
        return False

    def _count_flood(self) -> None:
        """Flood is noticed on paho's thread; the database learns it here, in the worker's transaction."""
        with self._flood_lock:
            flood, self._flood = self._flood, {}
        error = "acknowledged unread: over the device's [ingest] budget"
        try:
            with self.database.transaction(write=True) as tx:
                add_reject_counts(tx, {(*device, "flood"): [n, error] for device, n in flood.items()}, int(time.time()))
        except Exception:  # noqa: BLE001 - counted next time
            with self._flood_lock:
                for device, n in flood.items():
                    self._flood[device] = self._flood.get(device, 0) + n
            return
        self.stats.rejected["flood"] = self.stats.rejected.get("flood", 0) + sum(flood.values())

    def _log_once(self, store: str, device: str, reason: str, error: str) -> None:
        key = (store, device, reason)
        if key not in self._logged and len(self._logged) < 100_000:  # once per device and reason
            self._logged.add(key)
            log.warning("hub: refused a payload from %s/%s (%s: %s); counting further ones quietly",
                        printable(store, 64), printable(device, 64), reason, printable(error))

    def _gaps(self) -> None:
        try:
            self.stats.open_gaps = check_gaps(self.database, first_request_after_s=self.config.gaps.first_request_after_s,
                                              max_seq_jump=self.rules.max_seq_jump)
            requests = due_requests(self.database, max_backoff_s=self.config.gaps.max_backoff_s,
                                    base_s=max(1.0, self.config.gaps.first_request_after_s))
        except Exception as exc:  # noqa: BLE001 - a failed check is retried, ingest goes on
            problem = first_line(exc)[:200]
            if problem != self.stats.gap_problem:  # said once, again when it changes; health says it meanwhile
                log.error("hub: gap check failed (%s); trying again every %g s", problem, self.config.gaps.check_every_s)
            self.stats.gap_problem = problem
            return
        self.stats.gap_problem = None
        for request in requests:
            self.client.publish(device_topic(self.prefix, request.store, request.device, RESEND),
                                json.dumps(request.body), qos=1)
            self.stats.resend_requests += 1
            log.info("hub: asked %s/%s to re-send intervals %d..%d", request.store, request.device,
                     request.body["from"], request.body["to"])

"""MQTT publishing of per-interval aggregates (paho-mqtt), off by default.

Topics under `<topic_prefix>/<store_id>/<device_id>/`: `aggregates` (one JSON object per
interval, valid against edge/schemas/aggregate.schema.json) and `availability` ("online",
retained; the broker publishes the retained last will "offline" if the device vanishes).
The client connects in the background and reconnects by itself; a broker that is down
never stalls the frame loop, and QoS 1 messages wait in paho's queue until it is back.
"""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt

from edgeemo.edge.analytics import Aggregate
from edgeemo.edge.config import MqttConfig

log = logging.getLogger(__name__)
MAX_QUEUED = 10_000


def topics(config: MqttConfig, store_id: str, device_id: str) -> tuple[str, str]:
    base = f"{config.topic_prefix.rstrip('/')}/{store_id}/{device_id}"
    return f"{base}/aggregates", f"{base}/availability"


class MqttPublisher:
    def __init__(self, config: MqttConfig, store_id: str, device_id: str) -> None:
        self.config, self.store_id, self.device_id = config, store_id, device_id
        self.aggregate_topic, self.availability_topic = topics(config, store_id, device_id)
        self.published = 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgeemo-{store_id}-{device_id}")
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set()
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        # While the broker is away, paho queues QoS 1 messages in memory: bounded (a day of
        # per-minute intervals for a few zones); every row stays in the device's SQLite anyway.
        client.max_queued_messages_set(MAX_QUEUED)
        self.client = client
        self._down_logged = False
        self._full_logged = False
        self.dropped = 0

    def start(self) -> None:
        try:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ValueError) as exc:  # a bad host name fails here, not in the loop
            log.error("mqtt %s:%d: %s; aggregates stay local", self.config.host, self.config.port, exc)
        self.client.loop_start()

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._down_logged:  # once per outage: paho retries every few seconds
            self._down_logged = True
            log.error("mqtt %s:%d: cannot connect (broker down or unreachable?); retrying in the background, "
                      "aggregates stay in the local database", self.config.host, self.config.port)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    properties: object) -> None:
        if reason.is_failure:
            log.error("mqtt %s:%d: connection refused (%s)", self.config.host, self.config.port, reason)
            return
        self._down_logged = False
        log.info("mqtt %s:%d: connected", self.config.host, self.config.port)
        client.publish(self.availability_topic, "online", qos=1, retain=True)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                       properties: object) -> None:
        if reason.is_failure:
            log.warning("mqtt %s:%d: disconnected (%s); reconnecting", self.config.host, self.config.port, reason)

    def add_aggregate(self, aggregate: Aggregate) -> None:
        payload = json.dumps(aggregate.payload(self.store_id, self.device_id), separators=(",", ":"))
        info = self.client.publish(self.aggregate_topic, payload, qos=self.config.qos)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            if not self._full_logged:
                self._full_logged = True
                log.error("mqtt: %d messages already wait for the broker; newer intervals are not queued "
                          "(they stay in the local database)", MAX_QUEUED)
            return
        self._full_logged = False
        self.published += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Say goodbye: the retained "offline" replaces the last will, then disconnect."""
        if self.client.is_connected():
            info = self.client.publish(self.availability_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                log.warning("mqtt: could not publish offline before exit")
        self.client.disconnect()
        self.client.loop_stop()

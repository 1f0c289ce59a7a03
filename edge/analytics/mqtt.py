"""MQTT connection of a device (paho-mqtt), off by default: what the outbox publishes through.

Its topics, their payloads and the re-send requests it answers are the wire contract
(`edgeemo.wire`). The client connects in the background and reconnects by itself; a broker that is down never
stalls the frame loop. Acknowledgements and re-send requests arrive on paho's thread and are
handed to the loop's thread through queues (the database has one writer).
"""

from __future__ import annotations

import json
import logging
import queue

import paho.mqtt.client as mqtt
from pydantic import Field

from edgeemo.tomlconfig import Section
from edgeemo.wire import (
    AGGREGATES,
    AVAILABILITY,
    OFFLINE,
    ONLINE,
    RESEND,
    TOPIC_PREFIX_PATTERN,
    device_topic,
    parse_resend,
)

log = logging.getLogger(__name__)
MAX_QUEUED = 10_000  # paho's own queue, a safety net: the outbox publishes only while connected


class MqttConfig(Section):
    """`[mqtt]`: the broker the outbox publishes to (off by default)."""

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("edgeemo", pattern=TOPIC_PREFIX_PATTERN, max_length=128,
                              description="topic levels of letters, digits, _ . - joined by /; no + or #")
    username: str | None = None
    password: str | None = None
    tls: bool = False
    qos: int = Field(1, ge=0, le=2)
    keepalive_s: int = Field(60, ge=5, le=3600)
    max_publish_per_s: float = Field(20.0, gt=0, le=10_000, description="outbox rate: a backlog after an "
                                     "outage goes out at most this fast, oldest first")


def client_id(config: MqttConfig, store_id: str, device_id: str) -> str:
    """The device's MQTT client id: its login when it has one (the deploy's broker sets each client's id to
    its login, `use_username_as_clientid`, so no login can take another's), else one from its names."""
    return config.username or f"edgeemo-{store_id}-{device_id}"


class MqttPublisher:
    def __init__(self, config: MqttConfig, store_id: str, device_id: str) -> None:
        self.config, self.store_id, self.device_id = config, store_id, device_id
        self.aggregate_topic, self.availability_topic, self.resend_topic = (
            device_topic(config.topic_prefix, store_id, device_id, kind) for kind in (AGGREGATES, AVAILABILITY, RESEND))
        self.acks: queue.SimpleQueue[int] = queue.SimpleQueue()  # mids the broker acknowledged
        self.resend_requests: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self.disconnects = 0  # the outbox forgets what was in flight when this changes
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id(config, store_id, device_id))
        client.suppress_exceptions = True  # a callback's error is logged by paho; its network thread goes on
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set()
        client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = lambda client, userdata, mid, reason, properties: self.acks.put(mid)
        client.on_message = self._on_message
        self.client = client
        self._down_logged = False
        self._connected = False  # set by the broker's CONNACK, cleared by a disconnect
        self._ignored = 0  # re-send requests that were no such thing

    def start(self) -> None:
        try:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ValueError) as exc:  # a bad host name fails here, not in the loop
            log.error("mqtt %s:%d: %s; aggregates stay local", self.config.host, self.config.port, exc)
        self.client.loop_start()

    @property
    def connected(self) -> bool:
        """Connected, and paho's network thread alive to deliver (a dead thread left is_connected() True)."""
        thread = getattr(self.client, "_thread", None)
        return self._connected and self.client.is_connected() and thread is not None and thread.is_alive()

    def publish(self, payload: dict) -> int | None:
        """Publish one aggregate (QoS from the config); its mid, or None if it could not be queued."""
        info = self.client.publish(self.aggregate_topic, json.dumps(payload, separators=(",", ":")),
                                   qos=self.config.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        if self.config.qos == 0:  # no acknowledgement will come: sent is as good as it gets
            self.acks.put(info.mid)
        return info.mid

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._down_logged:  # once per outage: paho retries every few seconds
            self._down_logged = True
            log.error("mqtt %s:%d: cannot connect (broker down or unreachable?); retrying in the background, "
                      "aggregates wait in the local database", self.config.host, self.config.port)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    properties: object) -> None:
        if reason.is_failure:
            log.error("mqtt %s:%d: connection refused (%s)", self.config.host, self.config.port, reason)
            return
        self._down_logged = False
        self._connected = True
        log.info("mqtt %s:%d: connected", self.config.host, self.config.port)
        # subscribed before "online": the broker handles one client's packets in order, so whoever
        # sees "online" can ask for a re-send and be heard
        client.subscribe(self.resend_topic, qos=1)
        client.publish(self.availability_topic, ONLINE, qos=1, retain=True)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                       properties: object) -> None:
        self._connected = False
        self.disconnects += 1
        if reason.is_failure:
            log.warning("mqtt %s:%d: disconnected (%s); reconnecting", self.config.host, self.config.port, reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        """A re-send request, or a warning: whatever the body, this returns (an exception here ended paho's
        network thread, and with it every publish, while `connected` still said True)."""
        try:
            self.resend_requests.put(parse_resend(bytes(message.payload)))
        except Exception as exc:  # noqa: BLE001 - any body, any error: ignored with a warning, never raised
            if self._ignored < 10 or self._ignored % 1000 == 0:
                log.warning("mqtt: ignored a re-send request on %s (%s; %d so far)", message.topic,
                            str(exc)[:120], self._ignored + 1)
            self._ignored += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Say goodbye: the retained "offline" replaces the last will, then disconnect."""
        if self.client.is_connected():
            info = self.client.publish(self.availability_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError):
                log.warning("mqtt: could not publish offline before exit")
        self.client.disconnect()
        self.client.loop_stop()

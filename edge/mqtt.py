"""MQTT connection of a device (paho-mqtt), off by default: what the outbox publishes through.

Topics under `<topic_prefix>/<store_id>/<device_id>/`:
- `aggregates`: one JSON object per interval and zone (edgeemo/schemas/aggregate.schema.json),
  published by `edgeemo.edge.outbox` from the local database, QoS 1;
- `availability`: "online" (retained); the broker publishes the retained last will "offline"
  if the device vanishes;
- `resend` (subscribed): a consumer that found a gap in the sequence numbers asks for rows
  again with `{"seq": [5, 6]}` or `{"from": 5, "to": 9}`.
The client connects in the background and reconnects by itself; a broker that is down never
stalls the frame loop. Acknowledgements and re-send requests arrive on paho's thread and are
handed to the loop's thread through queues (the database has one writer).
"""

from __future__ import annotations

import json
import logging
import queue

import paho.mqtt.client as mqtt

from edgeemo.edge.config import MqttConfig

log = logging.getLogger(__name__)
MAX_QUEUED = 10_000  # paho's own queue, a safety net: the outbox publishes only while connected
MAX_RESEND = 10_000  # sequence numbers one re-send request may name


def topic_base(config: MqttConfig, store_id: str, device_id: str) -> str:
    return f"{config.topic_prefix.rstrip('/')}/{store_id}/{device_id}"


def parse_resend(payload: bytes) -> list[int]:
    """The sequence numbers a re-send request names; ValueError for anything else."""
    request = json.loads(payload)
    if isinstance(request, dict) and isinstance(request.get("seq"), list):
        seqs = request["seq"]
    elif isinstance(request, dict) and isinstance(request.get("from"), int) and isinstance(request.get("to"), int):
        if not 0 <= request["to"] - request["from"] < MAX_RESEND:
            raise ValueError(f"range {request['from']}..{request['to']} is empty or longer than {MAX_RESEND}")
        seqs = list(range(request["from"], request["to"] + 1))
    else:
        raise ValueError('expected {"seq": [...]} or {"from": N, "to": M}')  # noqa: TRY004 - a bad message, not a bug
    if len(seqs) > MAX_RESEND or not all(isinstance(s, int) and not isinstance(s, bool) for s in seqs):
        raise ValueError(f"seq must be a list of at most {MAX_RESEND} integers")
    return seqs


class MqttPublisher:
    def __init__(self, config: MqttConfig, store_id: str, device_id: str) -> None:
        self.config, self.store_id, self.device_id = config, store_id, device_id
        base = topic_base(config, store_id, device_id)
        self.aggregate_topic, self.availability_topic, self.resend_topic = (
            f"{base}/aggregates", f"{base}/availability", f"{base}/resend")
        self.acks: queue.SimpleQueue[int] = queue.SimpleQueue()  # mids the broker acknowledged
        self.resend_requests: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self.disconnects = 0  # the outbox forgets what was in flight when this changes
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edgeemo-{store_id}-{device_id}")
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set()
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = lambda client, userdata, mid, reason, properties: self.acks.put(mid)
        client.on_message = self._on_message
        self.client = client
        self._down_logged = False

    def start(self) -> None:
        try:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ValueError) as exc:  # a bad host name fails here, not in the loop
            log.error("mqtt %s:%d: %s; aggregates stay local", self.config.host, self.config.port, exc)
        self.client.loop_start()

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

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
        log.info("mqtt %s:%d: connected", self.config.host, self.config.port)
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        client.subscribe(self.resend_topic, qos=1)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                       properties: object) -> None:
        self.disconnects += 1
        if reason.is_failure:
            log.warning("mqtt %s:%d: disconnected (%s); reconnecting", self.config.host, self.config.port, reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            self.resend_requests.put(parse_resend(message.payload))
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("mqtt: ignored a re-send request on %s (%s)", message.topic, str(exc)[:120])

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

"""Availability topics keep the names payloads keep (issue 34, F15): on a broker without the deploy's
ACL, a topic named stores and devices the payload rules forbid (5,000 characters, U+202E, `$SYS`)."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from edgeemo.hub.config import HubConfig, MqttSection
from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
from edgeemo.hub.storage.db import open_database

HOSTILE_NAMES = [("x" * 5000, "d1"), ("s1", "cam\u202egnp.exe"), ("$SYS", "broker"), ("s1", "a b"), ("s\u00e9", "d1"),
                 ("s1", "d1\u0000"), ("", "d1")]


def message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    found = mqtt.MQTTMessage(mid=1, topic=topic.encode())
    found.payload = payload
    return found


def test_availability_topics_keep_the_name_rule(hub_url: str) -> None:
    database = open_database(hub_url)
    hub = MqttIngest(HubConfig(db=hub_url, mqtt=MqttSection(url="mqtt://127.0.0.1:9")), database)
    acked = []
    hub.batches.ack = acked.append
    try:
        items = [hub._read(0.0, message(f"edgeemo/{store}/{device}/availability", b"online"))
                 for store, device in [*HOSTILE_NAMES, ("s1", "d1")]]
        hub.batches.store(items)
        assert len(acked) == len(items)  # refused, counted and acknowledged: none left to come again
        with database.transaction() as tx:
            assert tx.rows("SELECT store, device, online FROM devices") == [("s1", "d1", 1)]
            refused = tx.rows("SELECT store, device, count FROM rejects WHERE reason = 'invalid'")
        assert sum(n for *_, n in refused) == len(HOSTILE_NAMES)
        assert all(len(store) <= 64 and len(device) <= 64 and "\u202e" not in device and "\x00" not in device
                   for store, device, _ in refused)
    finally:
        database.close()

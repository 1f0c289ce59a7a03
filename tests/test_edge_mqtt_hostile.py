"""The device's MQTT side against hostile re-send requests (issue 34, F12): a body nested 200,000 deep
raised RecursionError in paho's callback, ended its network thread, and `connected` still read True."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from edgeemo.edge.analytics.mqtt import MqttConfig, MqttPublisher, client_id
from tests.conftest import wait_for

HOSTILE = [b"[" * 200_000 + b"]" * 200_000, b'{"seq":' * 100_000 + b"1" + b"}" * 100_000, b"\xff\xfe",
           b'{"from": 1, "to": 99999999999}', b'{"seq": [1, "x"]}', b"null", b"x" * 1_000_000, b'{"from": 1e999}']


def test_a_hostile_resend_request_neither_kills_the_thread_nor_lies_about_the_connection(broker: int,
                                                                                         caplog) -> None:
    publisher = MqttPublisher(MqttConfig(enabled=True, host="127.0.0.1", port=broker), "s1", "d1")
    seen: list[bytes] = []
    attacker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    attacker.on_message = lambda client, userdata, message: seen.append(message.payload)
    attacker.connect("127.0.0.1", broker)
    attacker.subscribe(publisher.availability_topic, qos=1)
    attacker.loop_start()
    try:
        publisher.start()
        # "online" comes after the device's subscription to its re-send topic (one client's packets in order)
        wait_for(lambda: b"online" in seen and publisher.connected, 30, "the device online")
        for body in HOSTILE:
            attacker.publish(publisher.resend_topic, body, qos=1).wait_for_publish(30)
        attacker.publish(publisher.resend_topic, b'{"seq": [5, 6]}', qos=1).wait_for_publish(30)
        wait_for(lambda: not publisher.resend_requests.empty(), 60, "the one real request after the hostile ones")
        assert publisher.resend_requests.get() == [5, 6] and publisher.connected  # the thread lived through them
        assert publisher.publish({"probe": 1}) is not None
        publisher.client.loop_stop()  # the network thread ends (as an exception once ended it)
        assert not publisher.connected  # said, though the socket is still open
    finally:
        attacker.loop_stop()
        attacker.disconnect()
        publisher.close()
    assert not [r for r in caplog.records if r.exc_info]


def test_a_device_with_a_login_connects_with_it_as_its_client_id() -> None:
    """The deploy's broker makes each client's id its login (use_username_as_clientid): the device says so."""
    assert client_id(MqttConfig(username="store-7-pi-1", password="x" * 12), "store-7", "pi-1") == "store-7-pi-1"
    assert client_id(MqttConfig(), "store-7", "pi-1") == "edgeemo-store-7-pi-1"

"""Ending a hub's session on the broker (`edgeemo hub retire`), for a hub taken out of a shared group.

A hub's session is persistent so that a restart loses nothing; in a shared subscription, though, the
broker goes on giving a stopped hub's session its share of the fleet's messages until the session
expires (MQTT 5: `[mqtt] session_expiry_s`; 3.1.1: the broker's `persistent_client_expiration`).
A hub retired for good connects once more with its own login and client id and a clean start, which
ends the session and its share at once; what it had queued comes back through gap repair.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from edgeemo.errors import EdgeemoError
from edgeemo.hub.config import MqttSection


def end_session(section: MqttSection, timeout_s: float = 30.0) -> None:
    """Connect as the hub with a clean start (and, on MQTT 5, no expiry), then disconnect: the broker
    drops the hub's session and its subscriptions. EdgeemoError when the broker does not accept it."""
    if not section.url:
        raise EdgeemoError("hub retire: no [mqtt] url in the config: which broker holds the session?")
    url = urlsplit(section.url)
    accepted = threading.Event()
    answer: list[str] = []

    def on_connect(client: mqtt.Client, userdata: object, flags, reason, properties: object) -> None:
        answer.append(str(reason))
        if not reason.is_failure:
            accepted.set()
        client.disconnect()

    version = mqtt.MQTTv5 if section.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=section.client_id, protocol=version,
                         clean_session=None if version == mqtt.MQTTv5 else True)
    if section.username:
        client.username_pw_set(section.username, section.password)
    if url.scheme == "mqtts":
        client.tls_set(ca_certs=str(section.ca_file) if section.ca_file else None)
    client.on_connect = on_connect
    host = url.hostname or "localhost"
    try:
        if version == mqtt.MQTTv5:
            client.connect(host, url.port or 1883, keepalive=30, clean_start=True)  # expiry 0: ends at disconnect
        else:
            client.connect(host, url.port or (8883 if url.scheme == "mqtts" else 1883), keepalive=30)
    except OSError as exc:
        raise EdgeemoError(f"hub retire: cannot reach {section.url} ({exc})") from None
    client.loop_start()
    answered = accepted.wait(timeout_s) or bool(answer)
    client.loop_stop()
    if not accepted.is_set():
        raise EdgeemoError(f"hub retire: the broker at {section.url} " + (f"refused the login ({answer[0]})" if
                           answered else f"did not answer within {timeout_s:g} s") + "; the session is unchanged")

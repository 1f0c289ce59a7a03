"""The fleet end to end against real servers on loopback: the shipped broker configuration
(TLS, password file, per-device ACL), the hub's MQTT ingest (refused payloads counted, gaps
repaired by asking the device), and nothing lost between a device's SQLite and the hub's
databases across a two-minute broker outage with a device restart in the middle."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.bench.servers import ROOT_STAYS_ROOT, Mosquitto
from edgeemo.hub.config import GapsSection, HubConfig, MqttSection
from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
from edgeemo.hub.storage.db import open_database
from edgeemo.labels import FERPLUS_LABELS
from edgeemo.payload_build import build_payload
from tests.conftest import (
    CLIP,
    MOSQUITTO,
    REPO,
    db_rows,
    device_config,
    free_port,
    new_postgres_database,
    recent_day,
    start_cli,
    wait_for,
)

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
TEMPLATES = REPO / "deploy" / "roles" / "hub" / "templates"
LABELS = FERPLUS_LABELS
T0 = recent_day() + 10 * 3600  # 10:00 UTC two days ago: inside the hub's retention whenever this runs


def payload(store: str, device: str, seq: int, visits: int = 1) -> dict:
    return build_payload(store_id=store, device_id=device, zone="all", seq=seq, start=T0 + 60 * seq, length_s=60,
                         labels=LABELS, faces_seen=visits, visits_by_emotion={"happy": visits},
                         groups=DEFAULT_GROUPS, dwell_s_total=4.0 * visits, model=None)


def subscribe(client: mqtt.Client, topic: str) -> None:
    """Subscribe and wait for the broker's SUBACK: after it, the broker routes `topic` to the client."""
    acked = threading.Event()
    client.on_subscribe = lambda c, u, mid, reasons, p: acked.set()
    client.subscribe(topic, qos=1)
    assert acked.wait(60), f"no SUBACK for {topic}"


def connect(port: int, user: str | None = None, password: str | None = None, ca: Path | None = None,
            v5: bool = True) -> tuple[mqtt.Client, list]:
    """A connected MQTT client and the list its messages arrive in."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    received: list = []
    client.on_message = lambda c, u, m: received.append((m.topic, m.payload))
    if user:
        client.username_pw_set(user, password)
    if ca:
        client.tls_set(ca_certs=str(ca))
    answered, outcome = threading.Event(), []
    client.on_connect = lambda c, u, f, reason, p: (outcome.append(not reason.is_failure), answered.set())
    client.on_disconnect = lambda c, u, f, reason, p: (outcome.append(False), answered.set())
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not answered.wait(10) or not outcome[0]:
        client.loop_stop()
        raise ConnectionRefusedError(f"{user} was not let in")
    client.on_disconnect = None
    return client, received


# -- the shipped broker configuration ------------------------------------------------------------
def render_broker(folder: Path, devices: dict[str, dict]) -> tuple[Mosquitto, int, Path]:
    """deploy/roles/hub's mosquitto templates rendered for `devices`, run for real: (broker, TLS port, CA)."""
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    tls_port, local_port = free_port(), free_port()
    context = {
        "ansible_managed": "rendered by tests/test_hub_fleet.py", "hub_mqtt_username": "edgeemo-hub",
        "hub_mqtt_password": "hub-password-1", "hub_mqtt_topic_prefix": "edgeemo",
        "hub_device_group": "stores", "groups": {"stores": list(devices)}, "hostvars": devices,
        "hub_mosquitto_dir": str(folder), "hub_mosquitto_state": str(folder),
        "hub_mqtt_tls_port": tls_port, "hub_mqtt_local_port": local_port,
        "hub_tls_certfile": str(cert), "hub_tls_keyfile": str(key), "hub_tls_cafile": str(cert),
        "hub_mqtt_extra_logins": [], "hub_mqtt_persistent_expiration": "1h",
    }
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                      trim_blocks=True)  # as Ansible renders templates
    for template, name in (("mosquitto-acl.j2", "edgeemo.acl"), ("mosquitto-passwd.j2", "edgeemo.passwd")):
        (folder / name).write_text(env.get_template(template).render(context))
    subprocess.run(["mosquitto_passwd", "-U", str(folder / "edgeemo.passwd")], check=True)
    config = env.get_template("mosquitto-edgeemo.conf.j2").render(context) + ROOT_STAYS_ROOT
    broker = Mosquitto(folder, local_port)
    broker.config.write_text(config)  # the shipped file as it is, both listeners
    return broker.start(), tls_port, cert


def test_the_fleet_broker_keeps_each_device_under_its_own_topics(tmp_path: Path) -> None:
    devices = {"pi-a": {"edgeemo_store_id": "s1", "edgeemo_device_id": "pi-a", "edgeemo_mqtt_username": "s1-pi-a",
                        "edgeemo_mqtt_password": "device-a-password"},
               "pi-b": {"edgeemo_store_id": "s1", "edgeemo_device_id": "pi-b", "edgeemo_mqtt_username": "s1-pi-b",
                        "edgeemo_mqtt_password": "device-b-password"}}
    broker, tls_port, ca = render_broker(tmp_path, devices)
    try:
        hub, seen = connect(broker.port, "edgeemo-hub", "hub-password-1")
        subscribe(hub, "$share/edgeemo-hub/edgeemo/+/+/aggregates")
        subscribe(hub, "edgeemo/+/+/availability")
        device, requests = connect(tls_port, "s1-pi-a", "device-a-password", ca=ca)  # devices come over TLS
        subscribe(device, "edgeemo/s1/pi-a/resend")
        hub.publish("edgeemo/s1/pi-a/resend", b'{"seq": [1]}', qos=1)  # the hub may ask any device
        codes: dict[int, int] = {}
        device.on_publish = lambda c, u, mid, reason, p: codes.__setitem__(mid, reason.value)
        own = device.publish("edgeemo/s1/pi-a/aggregates", json.dumps(payload("s1", "pi-a", 1)), qos=1)
        wait_for(lambda: requests, 60, "the re-send request at the device")
        assert requests == [("edgeemo/s1/pi-a/resend", b'{"seq": [1]}')]
        other = device.publish("edgeemo/s1/pi-b/aggregates", json.dumps(payload("s1", "pi-b", 1)), qos=1)
        forged = device.publish("edgeemo/s1/pi-b/resend", b'{"seq": [1]}', qos=1)
        wait_for(lambda: len(codes) == 3, 60, "the broker's answers to three publishes")
        assert codes[own.mid] == 0  # success
        assert codes[other.mid] == 135 and codes[forged.mid] == 135  # "Not authorized": refused by the ACL
        wait_for(lambda: seen, 60, "pi-a's interval at the hub")
        # what the broker refused was never routed: one round trip later, the hub still has only pi-a's
        subscribe(hub, "edgeemo/+/+/nothing")
        assert [topic for topic, _ in seen] == ["edgeemo/s1/pi-a/aggregates"]  # nothing of pi-b's reached the hub
        for user, password, port in (("s1-pi-a", "wrong-password", tls_port), (None, None, broker.port)):
            with pytest.raises(ConnectionRefusedError):
                connect(port, user, password, ca=ca if port == tls_port else None)
        with pytest.raises((ConnectionRefusedError, OSError)):  # the devices' listener speaks TLS only
            connect(tls_port, "s1-pi-a", "device-a-password")
        for client in (hub, device):
            client.loop_stop()
            client.disconnect()
    finally:
        broker.stop()


# -- the hub's ingest over MQTT ------------------------------------------------------------------
def test_the_hub_counts_refused_payloads_and_asks_for_missing_intervals(hub_url: str, tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    broker = Mosquitto(tmp_path, extra="max_queued_messages 0\nmax_inflight_messages 0\n").start()
    database = open_database(hub_url)
    config = HubConfig(db=hub_url, mqtt=MqttSection(url=broker.url, client_id="edgeemo-hub-test", batch_size=50),
                       gaps=GapsSection(check_every_s=0.3, first_request_after_s=0.5))
    hub = MqttIngest(config, database)
    caplog.set_level(logging.INFO, logger="edgeemo.hub")
    try:
        hub.start()
        wait_for(lambda: hub.stats.subscribed, 60, "the broker's SUBACK to the hub")
        # a simulated device (paho), answering re-send requests from its own rows
        device, requests = connect(broker.port)
        device.subscribe("edgeemo/s1/d1/resend", qos=1)
        topic = "edgeemo/s1/d1/aggregates"
        good = {seq: json.dumps(payload("s1", "d1", seq)) for seq in (1, 2, 3, 4, 5)}
        for body in (good[1], good[2], good[2], b"{oops", b"[1, 2]", json.dumps({**payload("s1", "d1", 9), "visits": 3}),
                     json.dumps(payload("s1", "d1", 9)) + " " * 20_000, good[5], b"{also not json",
                     json.dumps(payload("s1", "someone-else", 7))):
            device.publish(topic, body, qos=1)
        device.publish("edgeemo/s1/d1/availability", "online", qos=1, retain=True)
        wait_for(lambda: requests, 60, "a re-send request")
        assert json.loads(requests[0][1]) == {"from": 3, "to": 4}  # the gap between 2 and 5
        for seq in (3, 4):
            device.publish(topic, good[seq], qos=1)
        wait_for(lambda: hub.stats.new >= 5 and not hub.stats.open_gaps, 60, "the gap to close")
        device.loop_stop()
        device.disconnect()
    finally:
        hub.stop()
        broker.stop()
    assert (hub.stats.new, hub.stats.duplicates, hub.stats.open_gaps) == (5, 1, 0)
    assert hub.stats.rejected == {"malformed": 2, "invalid": 2, "oversized": 1, "foreign": 1}
    with database.transaction() as tx:
        assert sorted(r[0] for r in tx.rows("SELECT seq FROM intervals")) == [1, 2, 3, 4, 5]
        assert dict(tx.rows("SELECT reason, count FROM rejects")) == hub.stats.rejected
        assert tx.one("SELECT online, gaps FROM devices WHERE device = 'd1'") == (1, "[]")
    database.close()
    warnings = [r.getMessage() for r in caplog.records if "refused a payload" in r.getMessage()]
    assert len(warnings) == 4  # once per device and reason, however many came
    assert any("s1/d1 (malformed" in w for w in warnings) and any("got `array`" in w for w in warnings)
    assert any("asked s1/d1 to re-send intervals 3..4" in r.getMessage() for r in caplog.records)


# -- nothing lost between a device's SQLite and the hub ------------------------------------------
@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~100 s of video: the sample shopper, then 3.2 s of empty scene, thirteen times."""
    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
    for _ in range(13):
        for image in frames + [np.full_like(frames[0], 128)] * 80:
            writer.write(image)
    writer.release()
    return path


class HubServe:
    """`edgeemo hub serve` as the service runs it, on one database, in its own share group."""

    def __init__(self, folder: Path, name: str, db: str, broker_port: int) -> None:
        self.name, self.db = name, db
        config = folder / f"{name}.toml"
        config.write_text(f'db = "{db}"\n[mqtt]\nurl = "mqtt://127.0.0.1:{broker_port}"\nclient_id = "hub-{name}"\n'
                          f'share_group = "group-{name}"\n[gaps]\ncheck_every_s = 2\nfirst_request_after_s = 5\n')
        self.log = folder / f"{name}.log"
        self.process = start_cli("hub", "serve", "--create", "--config", str(config), "--listen",
                                 f"127.0.0.1:{free_port()}", log=self.log)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        def seen() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            return text in self.log.read_text()

        wait_for(seen, timeout, f"{text!r} in the {self.name} hub's log")

    def intervals(self) -> dict[tuple, tuple]:
        database = open_database(self.db)
        try:
            with database.transaction() as tx:
                rows = tx.rows("SELECT zone, start, seq, faces_seen, visits, emotions FROM intervals "
                               "WHERE store = 'store-7' AND device = 'pi-1'")
        finally:
            database.close()
        return {(zone, start): (seq, faces, visits, {k: v for k, v in json.loads(e).items() if v})
                for zone, start, seq, faces, visits, e in rows}

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return self.log.read_text()


def _device(folder: Path, db: Path, clip: Path, port: int) -> subprocess.Popen:
    config = device_config(folder / "device.toml", mqtt_port=port, store={"bucket_s": 10, "commit_every_s": 1.0},
                           source={"realtime": True})
    return start_cli("run", "--source", str(clip), "--config", str(config), "--db", str(db), log=folder / "device.log")


def _device_rows(db: Path) -> dict[tuple, tuple]:
    rows = db_rows(db, "SELECT zone, start, seq, faces_seen, visits, emotions FROM aggregates")
    return {(zone, int(start)): (seq, faces, visits, {k: v for k, v in json.loads(e).items() if v})
            for zone, start, seq, faces, visits, e in rows}


@pytest.mark.slow
def test_nothing_is_lost_across_a_two_minute_broker_outage_and_a_device_restart(
        tmp_path: Path, long_clip: Path, postgres_cluster) -> None:
    port, device_db = free_port(), tmp_path / "device.db"
    fleet = "persistence true\npersistence_location {}/\nmax_queued_messages 0\nmax_inflight_messages 0\n"
    broker = Mosquitto(tmp_path, port, extra=fleet.format(tmp_path)).start()
    hubs = [HubServe(tmp_path, "sqlite", str(tmp_path / "hub.db"), port),
            HubServe(tmp_path, "postgresql", new_postgres_database(postgres_cluster), port)]
    device = None
    try:
        for hub in hubs:
            hub.wait_for("connected to the broker")
        device = _device(tmp_path, device_db, long_clip, port)
        time.sleep(20)
        broker.stop()  # the broker goes away for two minutes (it keeps the hubs' sessions on disk)
        outage = time.monotonic()
        time.sleep(60)
        device.send_signal(signal.SIGTERM)  # the device restarts in the middle of the outage
        assert device.wait(timeout=60) == 0
        device = _device(tmp_path, device_db, long_clip, port)
        time.sleep(max(0.0, 120 - (time.monotonic() - outage)))
        broker = Mosquitto(tmp_path, port, extra=fleet.format(tmp_path)).start()
        assert device.wait(timeout=180) == 0, (tmp_path / "device.log").read_text()[-2000:]
        stored = _device_rows(device_db)
        deadline = time.monotonic() + 90
        while any(hub.intervals() != stored for hub in hubs) and time.monotonic() < deadline:
            time.sleep(1)
        unsent = db_rows(device_db, "SELECT count(*) FROM aggregates WHERE sent = 0")[0][0]
    finally:
        if device is not None and device.poll() is None:
            device.kill()
        logs = [hub.stop() for hub in hubs]
        broker.stop()
    device_log = (tmp_path / "device.log").read_text()
    assert "cannot connect (broker down or unreachable?)" in device_log or "broker" in device_log
    print(f"device: {len(stored)} intervals ({sum(v[2] for v in stored.values())} visits); "
          + "; ".join(f"hub on {hub.name}: {len(hub.intervals())} intervals" for hub in hubs))
    assert len(stored) >= 15 and unsent == 0
    for hub, log in zip(hubs, logs):
        assert hub.intervals() == stored, log[-3000:]  # every interval, with the device's values

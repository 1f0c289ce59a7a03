"""The broker exactly as the deploy writes it (deploy/roles/hub/templates: config, logins, ACL, the hub's
hub.toml), run on loopback (issue 34, F3, F5): a device login cannot take the hub's or another device's
client id, and a hub that leaves a shared group stops taking its share once its session ends (at the
deploy's expiry, or at once with `edgeemo hub retire`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import jinja2
import paho.mqtt.client as mqtt
import pytest

from edgeemo.hub.bench.servers import ROOT_STAYS_ROOT, free_port
from tests.conftest import MOSQUITTO, REPO, recent_day, run_cli, wait_for

TEMPLATES = REPO / "deploy" / "roles" / "hub" / "templates"
SECRET = "s3cret-password-42"
DEVICES = {"cam-a": ("store-1", "pi-a"), "cam-b": ("store-1", "pi-b")}  # login: (store, device)


def render(name: str, **variables) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True)  # as Ansible's template module
    environment.filters["to_json"] = json.dumps
    return environment.from_string((TEMPLATES / name).read_text()).render(ansible_managed="test", **variables)


class DeployBroker:
    """mosquitto started from the deploy's templates, rendered with test paths, ports and logins (as root,
    one line more: mosquitto would drop to its own user, which cannot read a test's files)."""

    def __init__(self, folder: Path, extra_logins: list[dict] | None = None, session_expiry_s: int = 3600) -> None:
        if MOSQUITTO is None or shutil.which("openssl") is None:
            pytest.skip("mosquitto and openssl are needed (make test installs them)")
        self.folder, self.port, self.session_expiry_s = folder, free_port(), session_expiry_s
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hub",
                        "-keyout", str(folder / "server.key"), "-out", str(folder / "server.crt")], check=True,
                       capture_output=True)
        self.vars = {
            "hub_mosquitto_dir": str(folder), "hub_mosquitto_state": str(folder / "state"),
            "hub_mqtt_tls_port": free_port(), "hub_mqtt_local_port": self.port,
            "hub_tls_certfile": str(folder / "server.crt"), "hub_tls_keyfile": str(folder / "server.key"),
            "hub_tls_cafile": str(folder / "server.crt"), "hub_mqtt_topic_prefix": "edgeemo",
            "hub_mqtt_username": "edgeemo-hub", "hub_mqtt_password": SECRET, "hub_device_group": "stores",
            "hub_mqtt_extra_logins": extra_logins or [], "hub_mqtt_persistent_expiration": "1h",
            "hub_mqtt_session_expiry_s": session_expiry_s, "hub_trusted_proxies": [],
            "groups": {"stores": list(DEVICES)}, "hostvars": {
                login: {"edgeemo_store_id": store, "edgeemo_device_id": device, "edgeemo_mqtt_username": login}
                for login, (store, device) in DEVICES.items()},
        }
        (folder / "state").mkdir()
        passwords = {login: SECRET for login in DEVICES}
        passwd = render("mosquitto-passwd.j2", **{**self.vars, "hostvars": {
            login: {**host, "edgeemo_mqtt_password": passwords[login]} for login, host in self.vars["hostvars"].items()}})
        (folder / "edgeemo.passwd").write_text(passwd)
        subprocess.run(["mosquitto_passwd", "-U", str(folder / "edgeemo.passwd")], check=True)  # as the deploy does
        (folder / "edgeemo.acl").write_text(render("mosquitto-acl.j2", **self.vars))
        self.config = folder / "edgeemo.conf"
        self.config.write_text(render("mosquitto-edgeemo.conf.j2", **self.vars) + ROOT_STAYS_ROOT)
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        wait_for(lambda: self.answers(), 30, "the deploy's broker")

    def answers(self) -> bool:
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            assert self.process.poll() is None, self.process.communicate()[0][-2000:]
            return False

    def hub_toml(self, path: Path, db: str, username: str = "edgeemo-hub") -> Path:
        text = render("hub.toml.j2", **{**self.vars, "hub_db_url": db, "hub_mqtt_username": username,
                                        "hub_listen": "127.0.0.1:0", "hub_min_visits": 1, "hub_stale_after_s": 900,
                                        "hub_raw_days": 90, "inventory_hostname": "hub"})
        path.write_text(text)
        return path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Client:
    """A paho client that counts its connections and disconnections."""

    def __init__(self, port: int, login: str, client_id: str, version: int = mqtt.MQTTv311,
                 ca_file: Path | None = None) -> None:
        self.connects, self.disconnects, self.refused = 0, 0, []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
        self.client.username_pw_set(login, SECRET)
        if ca_file is not None:  # a device: the TLS listener (the certificate names "hub", not 127.0.0.1)
            self.client.tls_set(ca_certs=str(ca_file))
            self.client.tls_insecure_set(True)
        self.client.on_connect = self._connected
        self.client.on_disconnect = lambda *args: setattr(self, "disconnects", self.disconnects + 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(lambda: self.connects or self.refused, 30, f"{login}'s CONNACK")

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
        else:
            self.connects += 1

    def round_trip(self, topic: str) -> None:
        """A QoS 1 publish acknowledged on this connection: the broker still serves it."""
        self.client.publish(topic, b"probe", qos=1).wait_for_publish(30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path):
    found = DeployBroker(tmp_path)
    yield found
    found.stop()


def test_a_device_login_cannot_take_the_hub_s_or_another_device_s_client_id(broker: DeployBroker) -> None:
    """F3: reconnecting as edgeemo-hub-1 every 2 s kept the hub connected in 1 of 14 samples; a device could
    knock another off the same way. The broker now gives every client its login as its id."""
    text = broker.config.read_text().splitlines()
    listeners = [i for i, line in enumerate(text) if line.startswith("listener ")]
    settings = [i for i, line in enumerate(text) if line == "use_username_as_clientid true"]
    # one on each listener (a listener's option: above the first, mosquitto 2.0 opens a default one on 1883)
    assert len(settings) == len(listeners) == 2 and listeners[0] < settings[0] < listeners[1] < settings[1]
    tls_port, ca = broker.vars["hub_mqtt_tls_port"], Path(broker.vars["hub_tls_cafile"])
    hub = Client(broker.port, "edgeemo-hub", "edgeemo-hub-1", mqtt.MQTTv5)
    victim = Client(tls_port, "cam-b", "edgeemo-store-1-pi-b", ca_file=ca)
    attackers = []
    try:
        assert hub.connects == 1 and victim.connects == 1
        for stolen in ("edgeemo-hub-1", "edgeemo-hub", "edgeemo-store-1-pi-b", "cam-b"):
            for port in (tls_port, broker.port):  # a device's own listener, and the hub's
                attackers.append(Client(port, "cam-a", stolen, ca_file=ca if port == tls_port else None))
                hub.round_trip("edgeemo/store-1/pi-a/resend")  # the hub's own connection still answers ...
                victim.round_trip("edgeemo/store-1/pi-b/aggregates")
        assert hub.disconnects == 0 and victim.disconnects == 0  # ... and was never dropped
        assert hub.connects == 1 and victim.connects == 1
    finally:
        for client in [hub, victim, *attackers]:
            client.close()


def test_the_old_broker_config_let_a_device_take_the_hub_s_id(broker: DeployBroker, tmp_path: Path) -> None:
    """The same attack on the config without use_username_as_clientid: the test above can fail."""
    broker.stop()
    broker.config.write_text(broker.config.read_text().replace("use_username_as_clientid true", ""))
    broker.process = subprocess.Popen([MOSQUITTO, "-c", str(broker.config)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
    wait_for(broker.answers, 30, "the broker without the setting")
    hub = Client(broker.port, "edgeemo-hub", "edgeemo-hub-1", mqtt.MQTTv5)
    attacker = Client(broker.port, "cam-a", "edgeemo-hub-1")
    try:
        wait_for(lambda: hub.disconnects >= 1, 30, "the hub knocked off")
    finally:
        hub.client.reconnect_delay_set(60, 60)
        attacker.close()
        hub.close()


def _publish_round(device: mqtt.Client, first_seq: int, count: int) -> None:
    from tests.test_hub_hostile import payload_of

    live = recent_day(1)
    for seq in range(first_seq, first_seq + count):
        device.publish("edgeemo/store-1/pi-a/aggregates", payload_of("pi-a", seq, minute=seq, store="store-1",
                                                                      t0=live), qos=1).wait_for_publish(30)


@pytest.mark.slow
@pytest.mark.parametrize("leave", ["session expiry", "hub retire"])
def test_a_hub_that_leaves_a_shared_group_stops_taking_its_share(tmp_path: Path, leave: str) -> None:
    """F5: with a shared subscription and persistent sessions, a stopped hub's session kept its share: the
    other hub stored 50 of 100 messages and said ok."""
    from edgeemo.hub.config import load_config
    from edgeemo.hub.ingest.mqtt_ingest import MqttIngest
    from edgeemo.hub.storage.db import open_database

    second = {"username": "edgeemo-hub-2", "password": SECRET}
    broker = DeployBroker(tmp_path, extra_logins=[second], session_expiry_s=2 if leave == "session expiry" else 3600)
    hubs = []
    try:
        for name in ("edgeemo-hub", "edgeemo-hub-2"):
            config = load_config(broker.hub_toml(tmp_path / f"{name}.toml", str(tmp_path / f"{name}.db"), name))
            assert config.mqtt.protocol == "5" and config.mqtt.client_id == name
            hubs.append(MqttIngest(config, open_database(config.db)))
            hubs[-1].start()
        wait_for(lambda: all(hub.stats.subscribed for hub in hubs), 60, "both hubs subscribed")
        device = Client(broker.port, "cam-a", "cam-a").client
        _publish_round(device, 1, 20)
        wait_for(lambda: sum(hub.stats.new for hub in hubs) == 20, 60, "the first round, split")
        assert all(hub.stats.new for hub in hubs)  # both took a share
        hubs[1].stop()  # the second hub leaves, its session still held by the broker
        if leave == "hub retire":
            done = run_cli("hub", "retire", "--config", str(tmp_path / "edgeemo-hub-2.toml"), timeout=60)
            assert done.returncode == 0 and "ended the session" in done.stdout, done.stderr
        taken = hubs[0].stats.new
        seq = 21

        def a_round_all_to_the_first_hub() -> bool:  # a round published, then all of it stored by hub 1
            nonlocal seq, taken
            _publish_round(device, seq, 10)
            seq += 10
            deadline = time.monotonic() + 10
            while hubs[0].stats.new < taken + 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            whole, taken = hubs[0].stats.new == taken + 10, hubs[0].stats.new
            return whole

        wait_for(a_round_all_to_the_first_hub, 120, "a round stored whole by the hub that stayed", every=0)
        if leave == "hub retire":
            assert seq == 31  # the very first round after retire
        device.loop_stop()
        device.disconnect()
    finally:
        for hub in hubs:
            hub.stop()
            hub.database.close()
        broker.stop()

"""The device outbox against a real mosquitto: every interval in the device's SQLite reaches the
broker, across a broker outage while running and a device restart while the broker is down, and
a consumer's re-send request is answered from the database."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edgeemo.wire import parse_resend
from tests.conftest import (
    CLIP,
    Subscriber,
    db_rows,
    device_config,
    free_port,
    start_cli,
    start_mosquitto,
    valid_payload,
)

TOPIC = "edgeemo/store-7/pi-1"


def _device(folder: Path, port: int, db: Path, source: Path, realtime: bool = False) -> subprocess.Popen:
    config = device_config(folder / "edgeemo.toml", mqtt_port=port, store={"bucket_s": 10, "commit_every_s": 1.0},
                           source={"realtime": realtime})
    return start_cli("run", "--source", str(source), "--config", str(config), "--db", str(db))


def _stored(db: Path) -> dict[int, dict]:
    rows = db_rows(db, "SELECT seq, zone, start, visits, faces_seen, emotions, sent FROM aggregates")
    return {seq: {"zone": zone, "start": start, "visits": visits, "faces_seen": faces, "emotions": json.loads(e),
                  "sent": sent} for seq, zone, start, visits, faces, e, sent in rows}


def _received(messages: list[tuple[str, str, bool]]) -> dict[int, dict]:
    payloads = [json.loads(body) for topic, body, _ in messages if topic.endswith("/aggregates")]
    return {valid_payload(p).seq: p for p in payloads}


@pytest.mark.slow
def test_nothing_is_lost_across_an_outage_and_a_restart_while_the_broker_is_down(
        tmp_path: Path, three_visits_clip: Path) -> None:
    port, db = free_port(), tmp_path / "device.db"
    messages: list[tuple[str, str, bool]] = []  # all that reached a subscriber, across broker restarts
    broker = start_mosquitto(tmp_path, port)
    subscriber = Subscriber(port, f"{TOPIC}/aggregates")
    try:
        # run 1 (23 s of video in real time): the broker goes away for 8 s in the middle
        device = _device(tmp_path, port, db, three_visits_clip, realtime=True)
        time.sleep(6)
        broker.terminate()
        broker.wait(timeout=10)
        messages += subscriber.close()
        time.sleep(8)
        broker = start_mosquitto(tmp_path, port)
        subscriber = Subscriber(port, f"{TOPIC}/aggregates")
        assert device.wait(timeout=120) == 0, device.stdout.read()
        # run 2: the broker is down when the device starts and while it runs
        broker.terminate()
        broker.wait(timeout=10)
        messages += subscriber.close()
        second = _device(tmp_path, port, db, CLIP)
        output = second.communicate(timeout=120)[0]
        assert second.returncode == 0, output
        assert "cannot connect (broker down or unreachable?)" in output
        assert any(not row["sent"] for row in _stored(db).values())  # waiting in the database
        # run 3: the broker is back; the backlog goes out first
        broker = start_mosquitto(tmp_path, port)
        subscriber = Subscriber(port, f"{TOPIC}/aggregates")
        third = _device(tmp_path, port, db, CLIP)
        assert third.wait(timeout=120) == 0, third.stdout.read()
        messages += subscriber.take(2.0)
    finally:
        messages += subscriber.close()
        broker.terminate()
        broker.wait(timeout=10)
    stored = _stored(db)
    received = _received(messages)  # by seq; a row sent twice (changed by a restart) keeps its last version
    assert set(received) == set(stored) and all(row["sent"] for row in stored.values())
    print(f"{len(stored)} intervals in the device's database, {len(received)} received after the outages")
    for seq, row in stored.items():  # every interval, with the values the device holds
        payload = received[seq]
        assert (payload["zone"], payload["visits"], payload["faces_seen"]) == (row["zone"], row["visits"],
                                                                               row["faces_seen"])
        assert {k: v for k, v in payload["emotions"].items() if v} == {k: v for k, v in row["emotions"].items() if v}
    assert sum(row["visits"] for row in stored.values()) == 5  # 3 shoppers, then 1, then 1


@pytest.mark.slow  # a real run of the clip against a real broker, ~27 s; in make test-all (CI), out of the fast suite so it stays under 8 minutes
def test_a_resend_request_is_answered_from_the_database(tmp_path: Path, broker: int, three_visits_clip: Path) -> None:
    db = tmp_path / "device.db"
    first = _device(tmp_path, broker, db, CLIP)
    assert first.wait(timeout=120) == 0
    wanted = set(_stored(db))
    assert wanted and all(row["sent"] for row in _stored(db).values())
    subscriber = Subscriber(broker, f"{TOPIC}/#")
    device = _device(tmp_path, broker, db, three_visits_clip, realtime=True)  # 23 s: time to ask
    try:
        subscriber.until(lambda seen: any(t.endswith("/availability") and b == "online" for t, b, _ in seen))
        # the device subscribes to its resend topic before it says "online": the broker has the subscription
        hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        hub.connect("127.0.0.1", broker)
        hub.loop_start()
        hub.publish(f"{TOPIC}/resend", json.dumps({"seq": sorted(wanted)}), qos=1).wait_for_publish(5)
        hub.publish(f"{TOPIC}/resend", "not json", qos=1).wait_for_publish(5)  # ignored, logged
        hub.loop_stop()
        hub.disconnect()
        messages = subscriber.until(lambda seen: wanted <= set(_received(seen)), timeout=30)
    finally:
        device.wait(timeout=120)
        subscriber.close()
    assert wanted <= set(_received(messages))
    output = device.stdout.read()
    assert device.returncode == 0 and "ignored a re-send request" in output
    assert f"a consumer asked for {len(wanted)} interval(s) again" in output


@pytest.mark.parametrize("body, seqs", [
    (b'{"seq": [3, 5]}', [3, 5]), (b'{"from": 2, "to": 4}', [2, 3, 4])])
def test_resend_requests_parse(body: bytes, seqs: list[int]) -> None:
    assert parse_resend(body) == seqs


@pytest.mark.parametrize("body", [b"[]", b'{"seq": ["x"]}', b'{"from": 5, "to": 1}', b'{"from": 0, "to": 99999999}',
                                  b'{"seq": [true]}', b"\xff"])
def test_bad_resend_requests_are_refused(body: bytes) -> None:
    with pytest.raises((ValueError, UnicodeDecodeError)):
        parse_resend(body)


def test_a_row_migrated_from_version_1_is_sent_with_version_1s_labels_and_groups(tmp_path: Path) -> None:
    from edgeemo.payload_build import payload_from_row

    row = {"seq": 4, "start": 1.8e9, "zone": "all", "length_s": 60, "faces_seen": 1, "visits": 1,
           "emotions": '{"sad": 1}', "satisfaction": -1.0, "dwell_s_total": 5.0, "labels": None, "groups": None}
    payload = payload_from_row(row, "s", "d")
    report = valid_payload(payload)
    assert len(report.labels) == 7 and dict(report.emotions)["sad"] == 1 and report.model is None
    assert payload["satisfaction_index"] == row["satisfaction"]  # what version 1 stored

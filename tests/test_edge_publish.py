"""MQTT against a real mosquitto on loopback, and Prometheus /metrics of a running `edgeemo run`."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from edgeemo.aggregates import PayloadError, validate_payload
from tests.conftest import CLIP, REPO, Subscriber, device_config, free_port, run_cli, start_cli, wait_for

SCHEMA = json.loads((REPO / "edgeemo" / "schemas" / "aggregate.schema.json").read_text())


def test_aggregates_arrive_valid_against_the_schema_with_availability(tmp_path: Path, broker: int,
                                                                        three_visits_clip: Path) -> None:
    subscriber = Subscriber(broker, "edgeemo/store-7/pi-1/#")
    try:
        done = run_cli("run", "--source", str(three_visits_clip), "--db", str(tmp_path / "e.db"),
                       "--config", str(device_config(tmp_path / "edgeemo.toml", mqtt_port=broker)), timeout=300)
        assert done.returncode == 0, done.stderr
        messages = subscriber.until(lambda seen: any(m[1] == "offline" for m in seen), timeout=30)
    finally:
        subscriber.close()
    availability = [payload for topic, payload, _ in messages if topic.endswith("/availability")]
    assert availability[0] == "online" and availability[-1] == "offline"
    aggregates = [json.loads(payload) for topic, payload, _ in messages if topic.endswith("/aggregates")]
    assert aggregates, messages
    for payload in aggregates:
        jsonschema.validate(payload, SCHEMA)
        validate_payload(payload)
        assert payload["store_id"] == "store-7" and payload["device_id"] == "pi-1"
        assert sum(payload["emotions"].values()) == payload["visits"]
    assert sum(payload["visits"] for payload in aggregates) == 3


def test_the_broker_publishes_the_last_will_when_the_device_dies(tmp_path: Path, broker: int) -> None:
    subscriber = Subscriber(broker, "edgeemo/store-7/pi-1/availability")
    config = device_config(tmp_path / "edgeemo.toml", mqtt_port=broker, source={"realtime": True})
    process = start_cli("run", "--source", str(CLIP), "--db", str(tmp_path / "e.db"), "--config", str(config),
                        stdout=subprocess.DEVNULL)
    try:
        subscriber.until(lambda seen: seen[-1][1] == "online")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        messages = subscriber.until(lambda seen: seen[-1][1] == "offline", timeout=30)
    finally:
        process.kill()
        subscriber.close()
    assert messages[-1][1] == "offline"


def test_the_schema_rejects_what_it_should() -> None:
    good = {"schema_version": 2, "store_id": "s", "device_id": "d", "zone": "door", "seq": 7,
            "start": "2026-11-22T10:00:00Z", "end": "2026-11-22T10:01:00Z", "labels": ["angry", "happy", "sad"],
            "faces_seen": 2, "visits": 1, "emotions": {"angry": 0, "happy": 1, "sad": 0}, "satisfaction_index": 1.0,
            "satisfaction_groups": {"positive": ["happy"], "negative": ["angry", "sad"]}, "mean_dwell_s": 4.2}
    assert validate_payload(good) == good
    for bad, why in (({**good, "track_id": 5}, r"must not contain {.track_id.} properties"),
                     ({**good, "satisfaction_index": 2}, "satisfaction_index"),
                     ({**good, "zone": "a/b"}, "zone"),
                     ({**good, "emotions": {"smug": 1}}, "'smug' is not among"),
                     ({**good, "satisfaction_groups": {"positive": ["joy"], "negative": []}}, "'joy'"),
                     ({**good, "emotions": {"happy": 2}}, "sum to 2"),
                     ({**good, "schema_version": 3}, "schema_version 3"),
                     ([1, 2], "not an object")):
        with pytest.raises(PayloadError, match=why):
            validate_payload(bad)


def test_version_1_payloads_are_still_accepted_as_zone_all_with_the_seven_labels() -> None:
    old = {"schema_version": 1, "store_id": "s", "device_id": "d", "start": "2026-11-22T10:00:00Z",
           "end": "2026-11-22T10:01:00Z", "faces_seen": 2, "visits": 1, "emotions": {"happy": 1},
           "satisfaction_index": 1.0, "mean_dwell_s": 4.2}
    current = validate_payload(old)
    assert current["schema_version"] == 2 and current["zone"] == "all" and len(current["labels"]) == 7
    with pytest.raises(PayloadError):
        validate_payload({**old, "emotions": {"contempt": 1}})  # version 1 knew seven labels


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


def _sample(text: str, name: str) -> float:
    """The sum of a metric's samples over all its label values (StopIteration when it has none)."""
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith((name + " ", name + "{"))]
    if not values:
        raise StopIteration(name)
    return sum(values)


def _scrape_when(port: int, enough) -> str | None:
    """The metrics text once `enough(text)` holds; None while the server is not up or not there yet."""
    try:
        text = _scrape(port)
        return text if enough(text) else None
    except (OSError, StopIteration):
        return None


def test_prometheus_metrics_of_a_running_loop(tmp_path: Path, three_visits_clip: Path) -> None:
    port = free_port()
    config = device_config(tmp_path / "edgeemo.toml", source={"realtime": True},
                           prometheus={"enabled": True, "port": port})
    process = start_cli("run", "--source", str(three_visits_clip), "--db", str(tmp_path / "e.db"),  # 23 s of clip
                        "--config", str(config), stdout=subprocess.DEVNULL)
    try:
        text = wait_for(lambda: _scrape_when(port, lambda t: _sample(t, "edgeemo_faces_total") > 10), 120,
                        "more than 10 faces on /metrics")
        assert _sample(text, "edgeemo_frames_total") >= _sample(text, "edgeemo_faces_total") > 10
        assert _sample(text, "edgeemo_camera_up") == 1.0
        assert _sample(text, "edgeemo_inference_seconds_count") > 0
        assert 'edgeemo_model_info{accelerator="cpu"' in text and 'file="ferplus_cnn_int8.tflite"' in text
    finally:
        process.terminate()
        process.wait(timeout=30)

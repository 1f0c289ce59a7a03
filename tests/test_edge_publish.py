"""MQTT against a real mosquitto on loopback, and Prometheus /metrics of a running `edgeemo run`."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import jsonschema

from tests.conftest import (
    CLIP,
    REPO,
    Subscriber,
    device_config,
    free_port,
    run_cli,
    start_cli,
    valid_payload,
    wait_for,
)

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
        jsonschema.validate(payload, SCHEMA)  # the published JSON Schema and the hub's parser agree on it
        report = valid_payload(payload)
        assert report.version == 4 and report.model is not None and report.model.name == "ferplus_cnn_int8.tflite"
        assert sum(n for _, counts in report.bands for _, n in counts) == report.visits  # every visit has its band
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

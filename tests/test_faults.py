"""Faults that used to end in a traceback, wrong data or the wrong exit code: each is one clear line now."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from edgeemo.edge.analytics.store import AnalyticsStore
from tests.conftest import CLIP, REPO, ReadOnlyDir, device_config, free_port, recent_day, run_cli

INT8 = REPO / "models" / "fer_cnn_int8.tflite"
FLOAT = REPO / "models" / "fer_cnn.keras"


def _one_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture
def latin1_sidecar_model(tmp_path: Path) -> Path:
    model = tmp_path / "m" / INT8.name
    model.parent.mkdir()
    shutil.copyfile(INT8, model)
    text = INT8.with_suffix(".json").read_text().replace('"stage": "convert"', '"stage": "convert", "by": "Jürgen"')
    model.with_suffix(".json").write_bytes(text.encode("latin-1"))
    return model


@pytest.mark.parametrize("command", ["run", "install", "drift"])
def test_a_sidecar_that_is_not_utf8_is_one_line(tmp_path: Path, latin1_sidecar_model: Path, command: str) -> None:
    args = {"run": ["run", "--source", str(CLIP), "--model", str(latin1_sidecar_model), "--db", str(tmp_path / "e.db")],
            "install": ["model", "--root", str(tmp_path / "root"), "install", str(latin1_sidecar_model)],
            "drift": ["drift", "--float", str(latin1_sidecar_model), "--int8", str(latin1_sidecar_model),
                      "--data", str(REPO / "samples" / "faces")]}[command]
    assert "not UTF-8" in _one_line(run_cli(*args))


def test_report_into_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    assert run_cli("run", "--source", str(CLIP), "--db", str(db)).returncode == 0
    out = tmp_path / "ro"
    out.mkdir()
    with ReadOnlyDir(out):
        line = _one_line(run_cli("report", "--db", str(db), "--out", str(out), "--min-visits", "1"))
    assert str(out) in line and "cannot write" in line


def test_report_skips_impossible_timestamps(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    AnalyticsStore(db).close()
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("INSERT INTO visits(start, end, dwell_s, dominant, shares) VALUES "
                           "(1e300, 1e300, 5, 'happy', '{}'), (1.8e9, 1.8e9 + 5, 5, 'sad', '{}')")
    done = run_cli("report", "--db", str(db), "--out", str(tmp_path / "r"), "--min-visits", "1")
    assert done.returncode == 0, done.stderr
    assert "skipped 1 visit(s) with impossible times" in done.stdout + done.stderr
    assert json.loads((tmp_path / "r" / "report.json").read_text())["visits"] == 1


def test_report_since_after_until_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    AnalyticsStore(db).close()
    line = _one_line(run_cli("report", "--db", str(db), "--out", str(tmp_path / "r"), "--since", "2026-12-01",
                             "--until", "2026-11-01"))
    assert "is not before --until" in line


@pytest.mark.parametrize("target", ["folder", "/dev/zero"])
def test_a_database_path_that_is_not_a_file_exits_78(tmp_path: Path, target: str) -> None:
    db = tmp_path if target == "folder" else Path(target)
    line = _one_line(run_cli("run", "--source", str(CLIP), "--db", str(db), "--max-frames", "5"), code=78)
    assert str(db) in line


def test_a_negative_frame_count_is_refused() -> None:
    done = run_cli("run", "--source", str(CLIP), "--max-frames", "-5")
    assert done.returncode == 2 and "-5 must be at least 1" in done.stderr


@pytest.mark.parametrize("command", ["bench", "calibrate"])
def test_an_output_under_a_file_fails_before_the_work(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = {"bench": ["bench", "--source", str(CLIP), "--out", str(blocker / "b")],
            "calibrate": ["calibrate", "--data", str(REPO / "samples" / "faces"), "--out", str(blocker / "c.npz")]}
    started = time.monotonic()
    line = _one_line(run_cli(*args[command]))
    assert "--out" in line and "cannot write there" in line
    assert time.monotonic() - started < 20  # no benchmark passes, no dataset loading first


def test_two_corruptions_in_one_second_keep_both_copies(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    for index in range(2):
        db.write_bytes(b"<html>%d</html>" % index * 100)
        AnalyticsStore(db).close()
    asides = sorted(tmp_path.glob("a.db.corrupt-*"))
    assert len(asides) == 2 and {p.read_bytes()[:7] for p in asides} == {b"<html>0", b"<html>1"}


def test_python_m_edgeemo_works_from_the_checkout_root_when_the_folder_shadows_the_package() -> None:
    # -S: no site-packages, so only the checkout's edgeemo/ folder can answer `import edgeemo`
    done = subprocess.run([sys.executable, "-S", "-m", "edgeemo", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "calibrate" in done.stdout, done.stderr


def test_a_stream_that_accepts_and_never_answers_gives_up_in_bounded_time(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in range(8)], daemon=True).start()
    config = tmp_path / "edgeemo.toml"
    config.write_text("[source]\nopen_timeout_s = 2.0\n")
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/stream"
    started = time.monotonic()
    line = _one_line(run_cli("run", "--source", url, "--config", str(config), "--db", str(tmp_path / "e.db")))
    assert time.monotonic() - started < 20  # OpenCV's own default blocks about 30 s: past WatchdogSec=30
    assert url in line and "cannot open" in line
    listener.close()


def test_a_broker_that_is_down_at_start_is_logged_once(tmp_path: Path) -> None:
    config = device_config(tmp_path / "edgeemo.toml", mqtt_port=free_port(), source={"realtime": True})
    done = run_cli("run", "--source", str(CLIP), "--config", str(config), "--db", str(tmp_path / "e.db"))
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("cannot connect (broker down or unreachable?)") == 1


def test_device_health_reads_the_pi_sysfs_files_and_skips_them_elsewhere(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from edgeemo.edge.service.health import DeviceHealth

    # stand-ins for a Pi's sysfs files (this machine has neither): 48.3 °C, under-voltage since boot
    (tmp_path / "temp").write_text("48312\n")
    (tmp_path / "throttled").write_text("50000\n")
    registry = CollectorRegistry()
    registry.register(DeviceHealth(tmp_path / "temp", tmp_path / "throttled"))
    text = generate_latest(registry).decode()
    assert "edgeemo_soc_temperature_celsius 48.312" in text
    assert 'edgeemo_throttled{flag="under_voltage_since_boot"} 1.0' in text
    assert 'edgeemo_throttled{flag="throttled_since_boot"} 1.0' in text
    assert 'edgeemo_throttled{flag="under_voltage_now"} 0.0' in text
    registry = CollectorRegistry()
    registry.register(DeviceHealth(tmp_path / "none", tmp_path / "nothing"))
    assert "edgeemo_soc" not in generate_latest(registry).decode()


def test_picamera2_that_fails_to_import_for_any_reason_is_one_line(tmp_path: Path) -> None:
    # A stand-in for Raspberry Pi OS's picamera2 when the venv's numpy is not the system's
    # (the real failure is in simplejpeg, which picamera2 imports): not ImportError, but ValueError.
    fake = tmp_path / "fakes" / "picamera2"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ValueError("numpy.dtype size changed, may indicate binary '
                                      'incompatibility. Expected 96 from C header, got 88 from PyObject")\n')
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "fakes")}
    done = run_cli("run", "--source", "picamera", "--db", str(tmp_path / "e.db"), timeout=120, env=env)
    line = _one_line(done)
    assert "picamera2 is installed but fails to import (ValueError: numpy.dtype size changed" in line
    assert "numpy" in line.split("fails to import")[1]


def test_nothing_piles_up_in_memory_while_the_broker_is_away(tmp_path: Path) -> None:
    from collections import Counter

    from edgeemo.edge.analytics.intervals import Aggregate
    from edgeemo.edge.analytics.mqtt import MqttConfig, MqttPublisher
    from edgeemo.edge.analytics.outbox import Outbox
    from edgeemo.labels import LABELS

    store = AnalyticsStore(tmp_path / "a.db")
    first = recent_day()  # inside the store's retention: flush() prunes what is past it
    for minute in range(500):
        store.add_aggregate(Aggregate(float(first + 60 * minute), 60, LABELS, visits_by_emotion=Counter(happy=1)))
    store.flush()
    publisher = MqttPublisher(MqttConfig(enabled=True, host="127.0.0.1", port=free_port()), "s", "d")
    publisher.start()
    handed: list[dict] = []
    real_publish = publisher.publish
    publisher.publish = lambda payload: handed.append(payload) or real_publish(payload)
    outbox = Outbox(store, publisher, max_per_s=1000)
    for _ in range(20):
        outbox.pump()
        time.sleep(0.01)
    # the intervals wait in the database, not in paho's memory: nothing was handed to the client
    assert handed == [] and not outbox.in_flight
    assert len(store.unsent(1000)) == 500
    publisher.close()
    store.close()


def test_realtime_playback_is_paced_by_the_monotonic_clock(monkeypatch) -> None:
    from edgeemo.edge.capture.files import VideoFileSource

    source = VideoFileSource(CLIP, realtime=True)
    source.open()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 3600)  # NTP steps the wall clock back an hour
    started = time.monotonic()
    for _ in range(10):
        assert source.read() is not None
    source.close()
    assert time.monotonic() - started < 2.0  # 10 frames at 25 fps: 0.4 s, not an hour

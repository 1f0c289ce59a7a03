"""Shared fixtures and helpers: tiny synthetic FER datasets, the edgeemo command as a user runs it,
device configs, ports, waiting for a condition, real servers (mosquitto, PostgreSQL) on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.labels import LABELS

REPO = Path(__file__).resolve().parent.parent
FER_ROOT = REPO.parent / "shared" / "data" / "fer2013"
CLIP = REPO / "samples" / "clip.mp4"  # rendered by edgeemo simulate: one shopper, happy (samples/README.md)
# real footage of one face at night (third-party, not redistributed): what the detector tests read it from
REAL_CLIP = REPO.parent / "shared" / "data" / "media" / "test.mp4"
CLIP_TRUTH = json.loads((REPO / "samples" / "clip.truth.json").read_text())  # its frames, the shopper's boxes
CLIP_FRAMES = CLIP_TRUTH["frames"]
CLIP_IN_VIEW_S = CLIP_TRUTH["shoppers"][0]["in_view_s"]  # [first, last] second the face is wholly in view
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synthetic_face(label: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A 'face' whose class is a bright bar at a class-specific row: learnable, not random."""
    face = rng.integers(0, 60, (size, size), dtype=np.uint8)
    row = 3 + label * (size - 6) // len(LABELS)
    face[row : row + 4, 4 : size - 4] = 220
    return face


def write_folder_dataset(root: Path, per_class: int = 6, seed: int = 0, ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for index, label in enumerate(LABELS):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / label / f"{label}_{i}{ext}"), synthetic_face(index, rng))
    return root


@pytest.fixture
def folder_dataset(tmp_path: Path) -> Path:
    return write_folder_dataset(tmp_path / "faces")


def real_clip() -> Path:
    """The real clip the detection annotations were made on; skips the test where ../shared is absent."""
    if not REAL_CLIP.is_file():
        pytest.skip(f"the real clip is not at {REAL_CLIP}")
    return REAL_CLIP


@pytest.fixture(scope="session")
def fer_root() -> Path:
    if not (FER_ROOT / "train").is_dir() or not (FER_ROOT / "test").is_dir():
        pytest.skip(f"FER-2013 not found at {FER_ROOT}")
    return FER_ROOT


def run_cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m edgeemo ...` as a user would, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "edgeemo", *args], check=False, capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env=env,
    )


def start_cli(*args: str, log: Path | None = None, **popen: object) -> subprocess.Popen:
    """`python -m edgeemo ...` in the background; its output (text) goes to `log` (appended) or a pipe."""
    output = {"stdout": log.open("a"), "stderr": subprocess.STDOUT} if log is not None else {
        "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    return subprocess.Popen([sys.executable, "-m", "edgeemo", *args], cwd=REPO, text=True,
                            **{**output, **popen})  # type: ignore[arg-type]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def device_config(path: Path, *, store_id: str = "store-7", device_id: str = "pi-1", mqtt_port: int | None = None,
                  **sections: dict[str, object]) -> Path:
    """A device's edgeemo.toml at `path`: store and device names, [mqtt] on 127.0.0.1:`mqtt_port` when
    given, and any other tables as keyword arguments (`source={"realtime": True}`)."""
    if mqtt_port is not None:
        sections = {**sections, "mqtt": {"enabled": True, "host": "127.0.0.1", "port": mqtt_port,
                                         **sections.get("mqtt", {})}}
    lines = [f"store_id = {_toml_value(store_id)}", f"device_id = {_toml_value(device_id)}"]
    for table, values in sections.items():
        lines += [f"[{table}]", *(f"{key} = {_toml_value(value)}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(predicate, timeout: float = 60, what: str = "the condition", every: float = 0.1):
    """Poll `predicate` until it returns something truthy (returned); fail naming `what` after `timeout`.
    Timeouts are generous: they bound a hang, they are not what a test measures."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def recent_day(days_ago: int = 2) -> int:
    """00:00 UTC `days_ago` days back. Data sent live to a hub or stored on a device must start here, not
    at a fixed date: the hub refuses, and the device prunes, what is older than their retention (90 days),
    so a fixed 2026 date fails every such test from a day in 2027 on."""
    return (int(time.time()) // 86400 - days_ago) * 86400


def free_port() -> int:
    from edgeemo.hub.bench.servers import free_port as free

    return free()


class ReadOnlyDir:
    """Make a directory unwritable even for root: chmod for users, the immutable attribute for root."""

    def __init__(self, path: Path) -> None:
        self.path, self.immutable = path, False

    def __enter__(self) -> Path:
        self.path.chmod(0o555)
        if os.access(self.path, os.W_OK):  # root ignores modes
            done = subprocess.run(["chattr", "+i", str(self.path)], capture_output=True, check=False)
            self.immutable = done.returncode == 0
            if not self.immutable:
                self.path.chmod(0o755)
                pytest.skip("cannot make a directory read-only here (root without chattr +i)")
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.immutable:
            subprocess.run(["chattr", "-i", str(self.path)], check=True)
        self.path.chmod(0o755)


@pytest.fixture(scope="session")
def three_visits_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample clip three times, with 80 frames of empty scene between: three shoppers."""
    capture = cv2.VideoCapture(str(CLIP))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    path = tmp_path_factory.mktemp("clips") / "three_visits.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    empty = np.full_like(frames[0], 128)
    for _ in range(3):
        for image in frames + [empty] * 80:
            writer.write(image)
    writer.release()
    return path


def padded_model_copy(folder: Path, tag: str) -> Path:
    """A second valid model release: the bundled int8 model with bytes appended after the
    flatbuffer (which the runtime ignores) and a sidecar re-hashed for it."""
    import hashlib
    import json

    source = REPO / "models" / "fer_cnn_int8.tflite"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / source.name
    model.write_bytes(source.read_bytes() + tag.encode().ljust(16, b"\0"))
    sidecar = json.loads(source.with_suffix(".json").read_text())
    sidecar["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    model.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
    return model


def db_rows(db: Path, sql: str) -> list[tuple]:
    """Query an analytics database and close it again (an open handle would pin a mount)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql).fetchall()


# -- a real mosquitto on loopback ------------------------------------------------------------
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")


def start_mosquitto(folder: Path, port: int, extra: str = "", anonymous: bool = True) -> subprocess.Popen:
    """mosquitto listening on 127.0.0.1:`port`, answering before this returns."""
    from edgeemo.hub.bench.servers import Mosquitto, ServerError

    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (make test installs Debian's mosquitto package)")
    try:
        return Mosquitto(folder, port, extra, anonymous).start().process
    except ServerError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def broker(tmp_path: Path):
    port = free_port()
    process = start_mosquitto(tmp_path, port)
    yield port
    process.terminate()
    process.wait(timeout=10)


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        import queue

        import paho.mqtt.client as mqtt

        self.messages: queue.Queue[tuple[str, str, bool]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload.decode(), m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def until(self, predicate, timeout: float = 60) -> list[tuple[str, str, bool]]:
        import queue

        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                seen.append(self.messages.get(timeout=0.2))
            except queue.Empty:
                continue
            if predicate(seen):
                return seen
        pytest.fail(f"timed out; received {seen}")

    def take(self, seconds: float) -> list[tuple[str, str, bool]]:
        """Everything that arrives in the next `seconds`."""
        import queue

        seen, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.messages.get(timeout=min(left, 0.2)))
            except queue.Empty:
                continue
        return seen

    def close(self) -> list[tuple[str, str, bool]]:
        """Stop; returns what arrived and was not yet taken by `until`."""
        import queue

        self.client.loop_stop()
        self.client.disconnect()
        left = []
        while True:
            try:
                left.append(self.messages.get_nowait())
            except queue.Empty:
                return left


# -- the fleet hub's databases: SQLite and a throwaway PostgreSQL cluster ----------------------
@pytest.fixture(scope="session")
def postgres_cluster():
    """One PostgreSQL cluster for the session (initdb in a temporary folder, as `postgres` under root)."""
    from edgeemo.hub.bench.servers import Postgres, ServerError

    try:
        cluster = Postgres(settings={"fsync": "off"}).start()
    except ServerError as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    yield cluster
    cluster.stop()


def new_postgres_database(cluster) -> str:
    """A fresh database in the session's cluster; its URL."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The fleet database URL, once per engine: every test using it runs on both."""
    if request.param == "sqlite":
        return str(tmp_path / "hub.db")
    return new_postgres_database(request.getfixturevalue("postgres_cluster"))


# -- payloads ----------------------------------------------------------------------------------
def valid_payload(payload: dict | bytes, now: float | None = None):
    """The report a payload parses to (edgeemo.payload), failing the test on a refusal. Without
    `now`, any time is accepted: the test is about the payload's shape, not the hub's clock."""
    import json

    from edgeemo.payload import IntervalReport, TimeRules, parse_payload

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    rules = TimeRules(float("-inf"), float("inf")) if now is None else TimeRules()
    report = parse_payload(body, time.time() if now is None else now, rules)
    assert isinstance(report, IntervalReport), report
    return report

"""sd_notify from the runtime, received on a datagram socket the test owns (as systemd would)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.capture.frame import Frame
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import open_edge_model
from edgeemo.edge.loop import LoopParts, run_loop
from edgeemo.edge.vision.haar import HaarDetector
from edgeemo.sdnotify import ServiceNotifier
from tests.conftest import CLIP, REPO


class Listener:
    """systemd's side: a datagram socket collecting (time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def messages(self, prefix: str) -> list[float]:
        return [at for at, text in self.received if any(line.startswith(prefix) for line in text.splitlines())]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def test_ready_then_repeated_watchdog_from_a_real_run(tmp_path: Path) -> None:
    listener = Listener(tmp_path / "notify.sock")
    config = tmp_path / "edgeemo.toml"
    config.write_text("[source]\nrealtime = true\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "edgeemo", "run", "--source", str(CLIP), "--db", str(tmp_path / "e.db"),
             "--config", str(config)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        time.sleep(0.2)
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    ready, pings, stopping = listener.messages("READY=1"), listener.messages("WATCHDOG=1"), listener.messages("STOPPING=1")
    assert len(ready) == 1 and len(stopping) == 1
    assert ready[0] < pings[0] and pings[-1] < stopping[0]
    assert len(pings) >= 8  # 4.6 s of clip, a ping every 0.2 s (half the interval)
    gaps = np.diff(pings)
    assert gaps.max() < 0.4  # never a whole watchdog interval without a ping while frames flow


class StallingCamera:
    """FAKE camera hardware that delivers frames, then hangs in read() (a wedged driver)."""

    live, name = True, "stalling-fake-camera"

    def __init__(self, frames_before_stall: int) -> None:
        self.left, self.index, self.released = frames_before_stall, 0, threading.Event()
        self.stalled_at: float | None = None

    def open(self) -> None: ...

    def read(self) -> Frame | None:
        if self.left == 0:
            self.stalled_at = time.monotonic()
            self.released.wait()
            return None
        self.left -= 1
        self.index += 1
        time.sleep(0.02)
        return Frame(np.full((120, 160), 90, np.uint8), time.time(), self.index)

    def close(self) -> None: ...


def test_a_stalled_frame_loop_stops_the_watchdog_within_one_interval(tmp_path: Path) -> None:
    interval = 0.4
    listener = Listener(tmp_path / "notify.sock")
    notifier = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": str(int(interval * 1e6))})
    config = RunConfig()
    model = open_edge_model(None)
    camera = StallingCamera(frames_before_stall=50)  # ~1 s of frames
    parts = LoopParts(camera, HaarDetector(config.detector), model.classifier, model.labels,
                      Analytics(model.labels, 60, 3.0, []), config, threading.Event(), heartbeat=notifier.watchdog)
    loop = threading.Thread(target=run_loop, args=(parts,), daemon=True)
    try:
        loop.start()
        time.sleep(1.0 + 3 * interval)  # frames, then three intervals of stall
        camera.released.set()
        loop.join(timeout=10)
    finally:
        listener.close()
        notifier.close()
    pings = listener.messages("WATCHDOG=1")
    assert camera.stalled_at is not None and len(pings) >= 3
    print(f"watchdog: {len(pings)} pings before the stall; last one {camera.stalled_at - pings[-1]:.3f} s before it; "
          f"none during the {3 * interval:.1f} s stall (interval {interval} s)")
    assert pings[-1] <= camera.stalled_at  # nothing after the loop hung…
    assert camera.stalled_at - pings[-1] < interval  # …and the last ping came within one interval of it
    # systemd would fire: no ping for the rest of the stall, longer than the interval
    assert listener.received[-1][0] == pings[-1]


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = ServiceNotifier({})
    assert not notifier.enabled
    notifier.ready()
    notifier.watchdog()


def test_abstract_socket_addresses_are_supported() -> None:
    name = f"edgeemo-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        server.bind("\0" + name)
    except OSError:
        pytest.skip("no abstract unix sockets here")
    server.settimeout(2)
    notifier = ServiceNotifier({"NOTIFY_SOCKET": "@" + name})
    notifier.ready("hello")
    assert server.recv(100) == b"READY=1\nSTATUS=hello"
    notifier.close()
    server.close()

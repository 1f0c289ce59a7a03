"""sd_notify from the runtime, received on a datagram socket the test owns (as systemd would)."""

from __future__ import annotations

import os
import socket
import struct
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
from tests.conftest import device_config, run_cli, wait_for

SO_TIMESTAMPNS = 35  # Linux (x86 and arm64): the kernel stamps each datagram when it is sent


class Listener:
    """systemd's side: a datagram socket collecting (send time, message). The kernel stamps each
    datagram as the sender sends it (SO_TIMESTAMPNS, the wall clock), so a listener thread that a
    busy machine schedules late does not move the times the test compares."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(path))
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.socket.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _, _ = self.socket.recvmsg(4096, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            stamps = [struct.unpack("qq", raw[:16]) for level, kind, raw in ancillary
                      if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS)]
            self.received.append((stamps[0][0] + stamps[0][1] / 1e9 if stamps else time.time(), data.decode()))

    def messages(self, prefix: str) -> list[float]:
        return [at for at, text in self.received if any(line.startswith(prefix) for line in text.splitlines())]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.mark.slow  # a real run with a 4 s watchdog, ~24 s; the fake-clock tests stay fast; in make test-all (CI), out of the fast suite so it stays under 8 minutes
def test_ready_then_repeated_watchdog_from_a_real_run(tmp_path: Path, three_visits_clip: Path) -> None:
    interval = 4.0  # pings every 2 s: a busy CI machine's stalls stay far below one interval
    listener = Listener(tmp_path / "notify.sock")
    config = device_config(tmp_path / "edgeemo.toml", source={"realtime": True})
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": str(int(interval * 1e6))}
    try:
        done = run_cli("run", "--source", str(three_visits_clip), "--db", str(tmp_path / "e.db"),  # 23 s of clip
                       "--config", str(config), timeout=300, env=env)
        wait_for(lambda: listener.messages("STOPPING=1"), 10, "STOPPING=1")
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    ready, pings, stopping = listener.messages("READY=1"), listener.messages("WATCHDOG=1"), listener.messages("STOPPING=1")
    assert len(ready) == 1 and len(stopping) == 1
    assert ready[0] < pings[0] and pings[-1] < stopping[0]
    assert len(pings) >= 8  # 23 s of clip, a ping every 2 s (half the interval) while frames flow
    gaps = np.diff(pings)
    print(f"watchdog: {len(pings)} pings, longest gap {gaps.max():.3f} s (interval {interval} s)")
    assert gaps.max() < interval  # never a whole watchdog interval without a ping while frames flow


class FakeClock:
    """A monotonic clock that only the fake camera moves: the watchdog's timing, without the host's."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StallingCamera:
    """FAKE camera hardware that delivers frames 20 ms apart on a fake clock, then hangs in read()
    (a wedged driver)."""

    live, name = True, "stalling-fake-camera"

    def __init__(self, frames_before_stall: int, clock: FakeClock, notifier: ServiceNotifier) -> None:
        self.left, self.index, self.clock, self.notifier = frames_before_stall, 0, clock, notifier
        self.released, self.stalled = threading.Event(), threading.Event()
        self.pings_before_stall = 0

    def open(self) -> None: ...

    def read(self) -> Frame | None:
        if self.left == 0:
            self.pings_before_stall = self.notifier.watchdog_pings
            self.stalled.set()
            self.released.wait()
            return None
        self.left -= 1
        self.index += 1
        self.clock.now += 0.02
        return Frame(np.full((120, 160), 90, np.uint8), self.clock.now, self.index)

    def close(self) -> None: ...


def test_a_stalled_frame_loop_stops_the_watchdog_within_one_interval(tmp_path: Path) -> None:
    interval = 0.4
    clock = FakeClock()
    listener = Listener(tmp_path / "notify.sock")
    notifier = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
                                "WATCHDOG_USEC": str(int(interval * 1e6))}, clock=clock)
    config = RunConfig()
    model = open_edge_model(None)
    camera = StallingCamera(50, clock, notifier)  # 1 s of frames on the fake clock
    parts = LoopParts(camera, HaarDetector(config.detector), model.classifier, model.labels,
                      Analytics(model.labels, 60, 3.0, []), config, threading.Event(), heartbeat=notifier.watchdog)
    loop = threading.Thread(target=run_loop, args=(parts,), daemon=True)
    try:
        loop.start()
        assert camera.stalled.wait(timeout=120), "the loop never reached the stall"
        stall_at = clock.now
        wait_for(lambda: len(listener.messages("WATCHDOG=1")) >= camera.pings_before_stall, 30,
                 "the pings sent before the stall")
        time.sleep(3 * interval)  # three intervals of stall: any ping now would come from elsewhere than the loop
        received = len(listener.messages("WATCHDOG=1"))
        camera.released.set()
        loop.join(timeout=30)
    finally:
        listener.close()
        notifier.close()
    print(f"watchdog: {camera.pings_before_stall} pings before the stall, the last {stall_at - notifier.last_ping:.2f} s "
          f"(fake clock) before it; none during the stall (interval {interval} s)")
    assert camera.pings_before_stall >= 4  # 1 s of frames, a ping every 0.2 s
    assert stall_at - notifier.last_ping < interval  # pings kept coming until the loop hung…
    assert received == camera.pings_before_stall  # …and none came while it hung: systemd would fire


def test_without_notify_socket_nothing_is_sent(tmp_path: Path) -> None:
    listener = Listener(tmp_path / "notify.sock")
    try:
        quiet = ServiceNotifier({"WATCHDOG_USEC": "400000"})  # systemd's socket variable is missing
        assert not quiet.enabled
        for call in (quiet.ready, quiet.watchdog, quiet.stopping, lambda: quiet.status("x")):
            call()
        elsewhere = ServiceNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000",
                                     "WATCHDOG_PID": str(os.getpid() + 1)})  # the watchdog is another process's
        elsewhere.watchdog()
        elsewhere.ready("marker")  # proves the socket works: only this may arrive
        wait_for(lambda: listener.received, 10, "the READY marker")
        time.sleep(0.2)
    finally:
        listener.close()
    assert [text for _, text in listener.received] == ["READY=1\nSTATUS=marker"]
    assert quiet.watchdog_pings == 0 and elsewhere.watchdog_pings == 0


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

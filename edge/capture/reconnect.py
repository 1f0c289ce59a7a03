"""A live source that survives its camera: reopened with backoff when it fails or goes stale."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from edgeemo.edge.capture.frame import Frame, Source, SourceConfig, SourceError

log = logging.getLogger(__name__)


def _fingerprint(gray: np.ndarray) -> bytes:
    """A cheap identity of a frame: a sparse pixel sample; identical frames share it."""
    return gray[::16, ::16].tobytes()


class ReconnectingSource:
    """Wraps a live source: reopens it with exponential backoff when it fails or goes stale.

    Stale = `stale_frames` identical frames in a row (a frozen driver or stream). Waiting
    happens on `stop`, so SIGTERM interrupts a backoff at once. `on_state(up)` reports the
    camera going up or down (the Prometheus gauge). `keepalive()` is called every few
    seconds while reconnecting: an unplugged camera is handled here, in-process, and only a
    read that hangs starves the systemd watchdog.
    """

    live = True

    def __init__(self, inner: Source, config: SourceConfig, stop: threading.Event,
                 on_state: Callable[[bool], None] = lambda up: None,
                 keepalive: Callable[[], None] = lambda: None) -> None:
        self.inner, self.name, self.config, self.stop = inner, inner.name, config, stop
        self.on_state, self.keepalive = on_state, keepalive
        self.reconnects = 0
        self._backoff = config.reconnect_initial_s
        self._last_print: bytes | None = None
        self._repeats = 0
        self._open = False

    def open(self) -> None:
        """The first open must succeed: a run that never had a camera is a configuration problem."""
        self.inner.open()
        self._open = True
        self.on_state(True)

    def _reconnect(self, reason: str) -> None:
        self.on_state(False)
        self.inner.close()
        self._open = False
        while not self.stop.is_set():
            log.warning("%s: %s; reconnecting in %.1f s", self.name, reason, self._backoff)
            if self._wait(self._backoff):
                return
            self._backoff = min(self._backoff * 2, self.config.reconnect_max_s)
            try:
                self.inner.open()
            except SourceError as exc:
                reason = str(exc)
                continue
            self.reconnects += 1
            self._open, self._repeats, self._last_print = True, 0, None
            self.on_state(True)
            log.info("%s: reconnected", self.name)
            return

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` (True if stopped meanwhile), calling keepalive every 5 s."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.keepalive()
            if self.stop.wait(min(left, 5.0)):
                return True
        self.keepalive()
        return self.stop.is_set()

    def read(self) -> Frame | None:
        while not self.stop.is_set():
            if not self._open:
                self._reconnect("camera is closed")
                continue
            try:
                frame = self.inner.read()
            except SourceError as exc:
                self._reconnect(str(exc))
                continue
            if frame is None:
                self._reconnect("stream ended")
                continue
            fingerprint = _fingerprint(frame.gray)
            self._repeats = self._repeats + 1 if fingerprint == self._last_print else 0
            self._last_print = fingerprint
            if self._repeats + 1 >= self.config.stale_frames:
                self._reconnect(f"stale: the same frame {self._repeats + 1} times")
                continue
            self._backoff = self.config.reconnect_initial_s
            return frame
        return None

    def close(self) -> None:
        self.inner.close()
        self._open = False

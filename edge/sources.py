"""Frame sources behind one interface: picamera2, an OpenCV device or URL, a video file, images.

A source yields `Frame`s (a gray image for detection and classification, the colour image
when there is one, a timestamp). File sources end when exhausted; live sources are wrapped
in `ReconnectingSource`, which reopens them with backoff when they fail or go stale.
Timestamps of files are media time from the run's start, so a clip replays the same way
however fast the machine is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edgeemo.edge.config import SourceConfig
from edgeemo.errors import EdgeemoError, first_line
from edgeemo.preprocess import to_gray

log = logging.getLogger(__name__)
try:  # OpenCV's own C++ warnings (e.g. probing a missing camera) would repeat our one-line errors
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:  # pragma: no cover - builds without cv2.utils.logging
    pass

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".tif", ".tiff"}


class SourceError(EdgeemoError):
    """The source cannot deliver frames (unplugged camera, dropped stream, unreadable file)."""


@dataclass
class Frame:
    """One frame. `clock` measures durations (seconds on a monotonic clock, or media time for
    files); `timestamp` is the wall clock (unix seconds) and only labels rows: a Pi has no
    real-time clock, and NTP may step the wall clock by hours while a shopper is in view."""

    gray: np.ndarray
    timestamp: float
    index: int
    color: np.ndarray | None = None
    clock: float | None = None  # None: the timestamp doubles as the clock (tests, simple sources)

    @property
    def seconds(self) -> float:
        return self.clock if self.clock is not None else self.timestamp


class Source(Protocol):
    name: str
    live: bool

    def open(self) -> None: ...

    def read(self) -> Frame | None:
        """The next frame; None when a file source is exhausted. Raises SourceError on failure."""

    def close(self) -> None: ...


class VideoFileSource:
    """A video file, decoded by OpenCV, timestamped by media time."""

    live = False

    def __init__(self, path: Path, realtime: bool = False) -> None:
        self.path, self.name, self.realtime = path, str(path), realtime
        self._capture: cv2.VideoCapture | None = None
        self._index = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: video file not found")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise SourceError(f"{self.path}: OpenCV cannot decode this video file")
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 25.0
        self._start, self._paced_from = time.time(), time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        assert self._capture is not None, "open() first"
        ok, image = self._capture.read()
        if not ok:
            return None
        media_s = self._index / self.fps
        if self.realtime:  # paced on the monotonic clock: a wall-clock step neither stalls nor rushes it
            delay = self._paced_from + media_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(to_gray(image), self._start + media_s, self._index, image, clock=media_s)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageSource:
    """One image file or a folder of them (sorted), shown at `fps`; unreadable files are skipped."""

    live = False

    def __init__(self, path: Path, fps: float = 1.0) -> None:
        self.path, self.name, self.fps = path, str(path), fps
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif self.path.is_file():
            self._files = [self.path]
        if not self._files:
            raise SourceError(f"{self.path}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self._start = time.time()
        self._index = 0

    def read(self) -> Frame | None:
        while self._index < len(self._files):
            path = self._files[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("%s: unreadable image, skipped", path)
                continue
            index = self._index - 1
            return Frame(to_gray(image), self._start + index / self.fps, index, image, clock=index / self.fps)
        return None

    def close(self) -> None:
        self._files = []


class OpenCVCameraSource:
    """A USB camera (device index) or a network stream (rtsp://, http://) through OpenCV."""

    live = True

    def __init__(self, target: int | str, width: int, height: int, fps: float, timeout_s: float = 10.0) -> None:
        self.target, self.name = target, str(target)
        self.width, self.height, self.fps = width, height, fps
        self.timeout_ms = int(timeout_s * 1000)
        self._capture: cv2.VideoCapture | None = None
        self._index = 0

    def open(self) -> None:
        if isinstance(self.target, int):
            capture = cv2.VideoCapture(self.target)
        else:  # a stream that accepts and never answers would block FFmpeg for about 30 s (the watchdog's limit)
            capture = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms])
        if isinstance(self.target, int):
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"camera {self.name}: cannot open (unplugged, busy, or a wrong index/URL?)")
        self._capture = capture

    def read(self) -> Frame | None:
        if self._capture is None:
            raise SourceError(f"camera {self.name}: not open")
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(f"camera {self.name}: no frame (disconnected?)")
        self._index += 1
        return Frame(to_gray(image), time.time(), self._index - 1, image, clock=time.monotonic())

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class PiCameraSource:
    """The Raspberry Pi camera through picamera2: the Y plane of a low-resolution YUV420 stream.

    picamera2 exists only on a Pi (Raspberry Pi OS's python3-picamera2), so it is imported
    here, when the source opens, and never at module import.
    """

    live = True
    name = "picamera"

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.width, self.height, self.fps = width, height, fps
        self._camera = None
        self._index = 0

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                "picamera: picamera2 is not installed (on Raspberry Pi OS: apt install python3-picamera2, "
                "and a virtualenv created with --system-site-packages)"
            ) from exc
        except Exception as exc:  # e.g. "numpy.dtype size changed": the venv's numpy is not the system's
            raise SourceError(
                f"picamera: picamera2 is installed but fails to import ({type(exc).__name__}: {first_line(exc)}); "
                "the virtualenv's numpy must be the one the system's picamera2 was built against: reinstall "
                "with the deploy role's constraints (numpy pinned to the system's version)"
            ) from exc
        try:
            camera = Picamera2()
            config = camera.create_video_configuration(
                main={"size": (self.width, self.height)},
                lores={"size": (self.width, self.height), "format": "YUV420"},
                controls={"FrameRate": self.fps},
                buffer_count=2,
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:  # picamera2/libcamera raise many types; all mean "no camera"
            raise SourceError(f"picamera: cannot start the camera ({exc})") from exc
        self._camera = camera

    def read(self) -> Frame | None:
        if self._camera is None:
            raise SourceError("picamera: not open")
        try:
            yuv = self._camera.capture_array("lores")
        except Exception as exc:
            raise SourceError(f"picamera: capture failed ({exc})") from exc
        gray = np.ascontiguousarray(yuv[: self.height, : self.width])  # the Y plane of YUV420
        self._index += 1
        return Frame(gray, time.time(), self._index - 1, clock=time.monotonic())

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            except Exception:  # closing a failed camera must not mask the original failure
                log.debug("picamera: close failed", exc_info=True)
            self._camera = None


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


def open_source(uri: str, config: SourceConfig, stop: threading.Event,
                on_state: Callable[[bool], None] = lambda up: None,
                keepalive: Callable[[], None] = lambda: None) -> Source:
    """The source `uri` names: 'picamera', a device index, a URL, a video file, an image file or folder."""
    inner: Source
    if uri == "picamera":
        inner = PiCameraSource(config.width, config.height, config.fps)
    elif uri.isdigit():
        inner = OpenCVCameraSource(int(uri), config.width, config.height, config.fps)
    elif "://" in uri:
        inner = OpenCVCameraSource(uri, config.width, config.height, config.fps, config.open_timeout_s)
    else:
        path = Path(uri)
        if not path.exists():
            raise SourceError(f"{uri}: no such file or folder (and not picamera, a device index or a URL)")
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            source: Source = ImageSource(path, config.fps)
        else:
            source = VideoFileSource(path, config.realtime)
        source.open()
        on_state(True)
        return source
    wrapped = ReconnectingSource(inner, config, stop, on_state, keepalive)
    wrapped.open()
    return wrapped

"""Live cameras: a USB camera or network stream through OpenCV, and the Raspberry Pi camera.

picamera2 exists only on a Pi, so it is imported when its source opens, never at import.
"""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from edgeemo.edge.capture.frame import Frame, SourceError, check_yuv420
from edgeemo.errors import first_line
from edgeemo.preprocess import to_gray

log = logging.getLogger(__name__)
try:  # OpenCV's own C++ warnings (e.g. probing a missing camera) would repeat our one-line errors
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:  # pragma: no cover - builds without cv2.utils.logging
    pass


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
    """The Raspberry Pi camera through picamera2: the Y plane of a low-resolution YUV420 stream; the
    stream rides along with the frame, so a detector that wants colour gets it converted from the
    chroma planes (`Frame.bgr()`) and a gray-only detector never pays for it.

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
        if self.width % 2 or self.height % 2:
            raise SourceError(f"picamera: [source] width and height must be even for its YUV420 stream "
                              f"(got {self.width}x{self.height})")
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
        check_yuv420(yuv, self.height, self.width)  # here, where a bad frame is a source failure
        gray = np.ascontiguousarray(yuv[: self.height, : self.width])  # the Y plane of YUV420
        self._index += 1
        return Frame(gray, time.time(), self._index - 1, clock=time.monotonic(), yuv420=yuv)

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            except Exception:  # closing a failed camera must not mask the original failure
                log.debug("picamera: close failed", exc_info=True)
            self._camera = None

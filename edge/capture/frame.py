"""What every frame source delivers, and the contract a source keeps.

A source yields `Frame`s (a gray image for detection and classification, the colour image
when there is one, a timestamp). File sources end when exhausted; live sources raise
`SourceError` when they fail and are wrapped in `ReconnectingSource` (capture/reconnect.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from pydantic import AwareDatetime, Field, field_validator

from edgeemo.errors import EdgeemoError
from edgeemo.tomlconfig import Section

EARLIEST_RECORDING = 1_577_836_800.0  # 2020-01-01 UTC: older is a typo (no store kept footage of ours then)


def _not_ahead(value: AwareDatetime | None) -> AwareDatetime | None:
    import time

    if value is not None and value.timestamp() > time.time() + 60:
        raise ValueError("recorded_at is in the future: footage is labelled with when it was recorded")
    if value is not None and value.timestamp() < EARLIEST_RECORDING:
        raise ValueError("recorded_at is before 2020: a typo in the year?")
    return value


class SourceConfig(Section):
    """`[source]`: where frames come from and how a live camera is retried."""

    uri: str = Field("picamera", description="picamera, a device index, rtsp://… / http://… URL, or a file/folder")
    width: int = Field(640, ge=64, le=4096, description="requested capture width (live sources)")
    height: int = Field(480, ge=48, le=4096, description="requested capture height (live sources)")
    fps: float = Field(15.0, gt=0, le=120, description="requested camera rate; frame rate of image folders")
    realtime: bool = Field(False, description="play files at their own frame rate instead of as fast as possible")
    recorded_at: AwareDatetime | None = Field(None, description="files: when the footage was recorded (ISO with its "
                                              "offset); its frames are labelled from then on, not from now")
    reconnect_initial_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)
    stale_frames: int = Field(30, ge=2, le=10_000, description="this many identical frames in a row = stale camera")
    open_timeout_s: float = Field(10.0, gt=0, le=25.0, description="URL streams: give up opening or reading "
                                  "after this long (under the watchdog's 30 s)")

    _recorded = field_validator("recorded_at")(_not_ahead)


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
    yuv420: np.ndarray | None = None  # the Pi camera's raw stream, converted to colour only when asked
    still: bool = False  # a photo of its own (an image file or folder): detected on, whatever the frame skip

    @property
    def seconds(self) -> float:
        return self.clock if self.clock is not None else self.timestamp

    def bgr(self) -> np.ndarray | None:
        """The colour image: decoded by the source, or converted from its YUV420 stream on first use (only a
        detector that wants colour asks, and only on the frames it runs on)."""
        if self.color is None and self.yuv420 is not None:
            height, width = self.gray.shape[:2]
            self.color = yuv_to_bgr(self.yuv420, height, width)
        return self.color


def check_yuv420(yuv: np.ndarray, height: int, width: int) -> None:
    """Raise SourceError unless `yuv` is a (height * 3/2, stride) I420 array for a width x height frame
    with an even width, height and stride (what the chroma planes need)."""
    if (yuv.ndim != 2 or height % 2 or width % 2 or yuv.shape[1] % 2 or yuv.shape[0] < height * 3 // 2
            or yuv.shape[1] < width):
        raise SourceError(f"picamera: a YUV420 frame of shape {yuv.shape} for {width}x{height}; expected "
                          "(height * 3/2, stride) with an even width, height and stride")


def yuv_to_bgr(yuv: np.ndarray, height: int, width: int) -> np.ndarray:
    """BGR from a YUV420 (I420) array as picamera2 returns it: (height * 3/2, stride) with the Y plane,
    then U and V at half the stride per row; rows are padded to the stride, cut off here."""
    check_yuv420(yuv, height, width)
    return np.ascontiguousarray(cv2.cvtColor(yuv[: height * 3 // 2], cv2.COLOR_YUV2BGR_I420)[:, :width])


class Source(Protocol):
    name: str
    live: bool

    def open(self) -> None: ...

    def read(self) -> Frame | None:
        """The next frame; None when a file source is exhausted. Raises SourceError on failure."""

    def close(self) -> None: ...

"""The motion gate: no detection on frames where nothing moved since the last one.

An empty store still delivers 15 frames a second; detecting faces on each is most of the
loop's cost when nobody is there. The gate compares a small thumbnail of the frame with the
thumbnail of the last frame the detector saw; when too few pixels changed, the last
detection still holds and the detector is skipped. A global brightness change (clouds, a
light dimming) is subtracted before comparing, and a full detection runs at least every
`refresh_s` so that a face that entered unnoticed, or one standing still, is never lost.
The loop lets the gate hold a detection only once two detections in a row agree on the number
of faces, so one missed face or one false positive is looked at again at once, not held.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from edgeemo.tomlconfig import Section


class MotionConfig(Section):
    """`[motion]`: skip detection on frames where nothing moved."""

    enabled: bool = Field(True, description="false: detect on every detection frame, moving or not")
    thumb_width: int = Field(80, ge=16, le=640, description="the compared thumbnail's width in pixels")
    pixel_change: int = Field(10, ge=1, le=255, description="a thumbnail pixel changed by more than this "
                              "(0-255, after removing a global brightness change) has moved")
    min_changed: float = Field(0.002, gt=0.0, le=1.0, description="share of changed thumbnail pixels that "
                               "counts as motion")
    refresh_s: float = Field(2.0, gt=0.0, le=60.0, description="detect at least this often, motion or not")


class MotionGate:
    """Says whether a frame must be detected on; remembers the thumbnail of the last one that was."""

    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._reference: np.ndarray | None = None
        self._frame_shape: tuple[int, ...] = ()
        self._detected_at = float("-inf")  # frames' clock; monotonic time starts near zero at boot

    def thumbnail(self, gray: np.ndarray) -> np.ndarray:
        height, width = gray.shape[:2]
        thumb_w = min(self.config.thumb_width, width)
        thumb_h = max(1, round(height * thumb_w / width))
        return cv2.resize(gray, (thumb_w, thumb_h), interpolation=cv2.INTER_AREA).astype(np.int16)

    def changed_share(self, thumb: np.ndarray) -> float:
        """Share of thumbnail pixels that changed since the reference, a global brightness shift removed."""
        assert self._reference is not None
        difference = thumb - self._reference
        difference -= np.int16(round(float(difference.mean())))
        return float(np.count_nonzero(np.abs(difference) > self.config.pixel_change)) / difference.size

    def must_detect(self, gray: np.ndarray, now: float, force: bool = False) -> bool:
        """True when the detector must run on this frame (and it becomes the new reference); `force`:
        the caller wants a detection whatever moved (its last two detections disagreed)."""
        if not self.config.enabled:
            return True
        thumb = self.thumbnail(gray)
        stale = (force or self._reference is None or gray.shape != self._frame_shape
                 or now - self._detected_at >= self.config.refresh_s or now < self._detected_at)
        if not stale and self.changed_share(thumb) < self.config.min_changed:
            return False
        self._reference, self._frame_shape, self._detected_at = thumb, gray.shape, now
        return True

    def reset(self) -> None:
        """Forget the reference: the next frame is detected on (a new frame size, a clock jump)."""
        self._reference, self._detected_at = None, float("-inf")

"""Haar frontal-face detection (the cascade OpenCV ships) on a downscaled gray frame.

Haar's cost grows with the pixels it scans; a 596x336 frame costs 25-55 ms here. Scanning
a copy scaled to `detect_width` and mapping boxes back is most of the runtime's speed-up
(the rest is detecting every few frames and tracking in between).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgeemo.edge.vision.detector import DetectorConfig
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.errors import EdgeemoError
from edgeemo.preprocess import Box, to_gray

CASCADE_FILE = "haarcascade_frontalface_default.xml"


def cascade_path() -> Path:
    return Path(cv2.data.haarcascades) / CASCADE_FILE  # type: ignore[attr-defined]  # OpenCV's stubs omit cv2.data


class HaarDetector:
    wants_color = False  # the cascade works on gray; no colour conversion is ever paid for it

    def __init__(self, config: DetectorConfig, downscale: bool = True, zones: ZoneMap | None = None) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise EdgeemoError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier; install opencv-python-headless>=4.10,<5"
            )
        self.cascade = cv2.CascadeClassifier(str(cascade_path()))
        if self.cascade.empty():
            raise EdgeemoError(f"{cascade_path()}: OpenCV's Haar cascade did not load; reinstall opencv-python-headless")
        self.config, self.downscale = config, downscale
        self.zones = zones if zones is not None and zones.active else None

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in the pixels of `gray`; excluded zones are blanked before scanning."""
        if gray.ndim == 3:  # a colour image (e.g. `edgeemo detect` on a photo)
            gray = to_gray(gray)
        height, width = gray.shape[:2]
        scale = min(1.0, self.config.detect_width / width) if self.downscale else 1.0
        small = cv2.resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
        if self.zones is not None:  # excluded areas are never even scanned
            small = self.zones.blank(small)
        min_side = max(8, round(self.config.min_face() * scale))
        found = self.cascade.detectMultiScale(
            small, scaleFactor=self.config.scale_factor, minNeighbors=self.config.min_neighbors,
            minSize=(min_side, min_side),
        )
        return [tuple(round(v / scale) for v in box) for box in np.asarray(found).reshape(-1, 4)]

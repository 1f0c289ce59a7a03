"""The face detector interface and the factory that picks one by `[detector] kind`.

A detector takes a gray frame and returns face boxes in its pixels; excluded zones are its
to blank. The loop only ever sees this interface, so a detector is swapped by config alone.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from pydantic import Field

from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.preprocess import Box
from edgeemo.tomlconfig import Section


class DetectorConfig(Section):
    """`[detector]`: which detector, and how hard it looks."""

    kind: Literal["haar"] = Field("haar", description="haar: OpenCV's frontal-face cascade")
    detect_width: int = Field(320, ge=80, le=4096, description="frames are downscaled to this width for Haar")
    every_n_frames: int = Field(3, ge=1, le=100, description="run Haar every N frames; track in between")
    scale_factor: float = Field(1.1, gt=1.0, le=2.0)
    min_neighbors: int = Field(5, ge=0, le=50)
    min_face_px: int = Field(40, ge=8, le=2000, description="smallest face, in pixels of the full frame")
    margin: float = Field(0.1, ge=0.0, le=1.0, description="crop margin around the box, share of its size")


class Detector(Protocol):
    def detect(self, gray: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in the pixels of `gray`."""


def make_detector(config: DetectorConfig, zones: ZoneMap | None = None) -> Detector:
    """The detector `config.kind` names, blanking `zones`' excluded areas in its input."""
    if config.kind == "haar":
        from edgeemo.edge.vision.haar import HaarDetector

        return HaarDetector(config, zones=zones)
    raise ValueError(f"[detector] kind {config.kind!r} has no implementation")  # pydantic refuses it first

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

MIN_FACE_PX = {"haar": 40, "blazeface": 20}


class DetectorConfig(Section):
    """`[detector]`: which detector, and how hard it looks."""

    kind: Literal["haar", "blazeface"] = Field(
        "blazeface", description="blazeface: MediaPipe's neural detector (the default: it finds faces from "
        "about 28 px wide at a fifth of Haar's CPU); haar: OpenCV's frontal-face cascade")
    every_n_frames: int = Field(3, ge=1, le=100, description="run the detector every N frames; track in between")
    min_face_px: int | None = Field(None, ge=8, le=2000, description="smallest face, in pixels of the full frame "
                                    f"(default: {MIN_FACE_PX['haar']} for haar, {MIN_FACE_PX['blazeface']} for "
                                    "blazeface)")
    margin: float = Field(0.0, ge=0.0, le=1.0, description="crop margin around the box, share of its size (0: the "
                          "detector's box is already in FER-2013's framing, the crop the models were trained on)")
    # haar
    detect_width: int = Field(320, ge=80, le=4096, description="haar: frames are downscaled to this width")
    scale_factor: float = Field(1.1, gt=1.0, le=2.0, description="haar: the cascade's scale step")
    min_neighbors: int = Field(5, ge=0, le=50, description="haar: overlapping hits a face needs")
    # blazeface
    model: Literal["full-range", "back"] = Field(
        "back", description="blazeface: back (256 px input, finds smaller faces) or full-range (192 px, cheaper)")
    min_score: float = Field(0.5, gt=0.0, lt=1.0, description="blazeface: smallest face score kept")
    nms_iou: float = Field(0.3, gt=0.0, lt=1.0, description="blazeface: boxes overlapping more are merged")
    fer_framing: bool = Field(True, description="blazeface: map boxes to the framing the emotion model was "
                              "trained on (FER-2013's Haar-like crops)")
    zoom: bool = Field(True, description="blazeface: look again, enlarged, at the full pass's small faces and weak "
                       "candidates (one more inference for up to zoom_looks of them; none when there are none): a "
                       "small face is kept only if the closer look sees it too, a weak one only if it finds it")
    zoom_score: float = Field(0.15, gt=0.0, lt=1.0, description="blazeface: a full-pass candidate scoring this "
                              "(below min_score) gets a closer look")
    zoom_min_score: float = Field(0.6, gt=0.0, lt=1.0, description="blazeface: smallest score of a face the closer "
                                  "look finds for itself (enlarged, round things such as a cartoon's eye score "
                                  "0.5-0.6 there); a face the full pass found needs only min_score there")
    zoom_below_px: int = Field(96, ge=0, le=2000, description="blazeface: faces (and candidates) whose BlazeFace "
                               "box is smaller than this, pixels of the frame, get a closer look (0: none)")
    zoom_ratio: float = Field(3.0, ge=1.5, le=8.0, description="blazeface: the zoomed square's side, in widths of "
                              "the candidate's box")
    zoom_looks: int = Field(4, ge=1, le=16, description="blazeface: most squares looked at closer per frame, "
                            "strongest first")
    zoom_grid: Literal[1, 2] = Field(2, description="blazeface: squares per model input, 2: a 2x2 mosaic (four "
                                     "looks, one inference), 1: one square enlarged to the whole input")

    def min_face(self) -> int:
        """The smallest face width kept, in pixels of the full frame."""
        return self.min_face_px if self.min_face_px is not None else MIN_FACE_PX[self.kind]

    def describe(self) -> str:
        """`haar` or `blazeface/<model>`: what found the faces, for logs and `edgeemo detect --json`."""
        return self.kind if self.kind == "haar" else f"{self.kind}/{self.model}"


class Detector(Protocol):
    wants_color: bool  # True: give it the colour frame when the source has one (BGR); else the gray one

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in the pixels of `image`, in the emotion model's (FER-2013) framing."""


def detector_input(detector: Detector, gray: np.ndarray, color: np.ndarray | None) -> np.ndarray:
    """The image `detector` works on: the colour frame when it wants one and the source has it."""
    return color if detector.wants_color and color is not None else gray


def make_detector(config: DetectorConfig, zones: ZoneMap | None = None) -> Detector:
    """The detector `config.kind` names, blanking `zones`' excluded areas in its input."""
    if config.kind == "haar":
        from edgeemo.edge.vision.haar import HaarDetector

        return HaarDetector(config, zones=zones)
    if config.kind == "blazeface":
        from edgeemo.edge.vision.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(config, zones=zones)
    raise ValueError(f"[detector] kind {config.kind!r} has no implementation")  # pydantic refuses it first

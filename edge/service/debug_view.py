"""--show and --annotate-out: explicit debugging opt-ins that display or record faces.

They are the only code paths that put a picture anywhere, so each prints a privacy
warning when it starts. Never enable them in a store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2

from edgeemo.edge.capture.frame import Frame
from edgeemo.errors import EdgeemoError
from edgeemo.preprocess import Box

log = logging.getLogger(__name__)
PRIVACY_WARNING = (
    "PRIVACY WARNING: {what} shows identifiable faces. It is for debugging on your own footage only; "
    "never enable it in a store."
)


@dataclass
class FaceView:
    """What a debugging view may draw for one face: its box, track number and smoothed label."""

    track_id: int
    box: Box
    label: str


def draw(frame: Frame, faces: list[FaceView]):
    image = frame.color.copy() if frame.color is not None else cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2BGR)
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 0), 2)
        cv2.putText(image, f"#{face.track_id} {face.label}", (x, max(12, y - 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
    return image


class DebugView:
    def __init__(self, show: bool, annotate_out: Path | None, fps: float = 15.0) -> None:
        self.show, self.annotate_out, self.fps = show, annotate_out, fps
        self._writer: cv2.VideoWriter | None = None
        if show:
            log.warning(PRIVACY_WARNING.format(what="--show"))
        if annotate_out is not None:
            log.warning(PRIVACY_WARNING.format(what=f"--annotate-out {annotate_out}"))

    def __call__(self, frame: Frame, faces: list[FaceView]) -> None:
        image = draw(frame, faces)
        if self.annotate_out is not None:
            if self._writer is None:
                height, width = image.shape[:2]
                self._writer = cv2.VideoWriter(str(self.annotate_out), cv2.VideoWriter.fourcc(*"mp4v"),
                                               self.fps, (width, height))
                if not self._writer.isOpened():
                    raise EdgeemoError(f"{self.annotate_out}: cannot write a video there")
            self._writer.write(image)
        if self.show:
            try:
                cv2.imshow("edgeemo (debug)", image)
                cv2.waitKey(1)
            except cv2.error as exc:
                raise EdgeemoError(
                    "--show needs a desktop OpenCV build (pip install opencv-python) and a display; "
                    "use --annotate-out FILE.mp4 instead"
                ) from exc

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        if self.show:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass

"""Recorded sources: a video file decoded by OpenCV, or an image file or folder.

Timestamps are media time from the run's start, so a clip replays the same way however fast
the machine is (tests, `edgeemo bench`, `make demo`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edgeemo.edge.capture.frame import Frame, SourceError
from edgeemo.preprocess import to_gray

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".tif", ".tiff"}


class VideoFileSource:
    """A video file, decoded by OpenCV, timestamped by media time."""

    live = False

    def __init__(self, path: Path, realtime: bool = False, recorded_at: float | None = None) -> None:
        self.path, self.name, self.realtime, self.recorded_at = path, str(path), realtime, recorded_at
        self._capture: cv2.VideoCapture | None = None
        self._index = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: video file not found")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise SourceError(f"{self.path}: OpenCV cannot decode this video file")
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 25.0
        if self.recorded_at is not None:  # the last frame's label must not lie in the future either
            frames = max(0.0, self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
            ends = self.recorded_at + frames / self.fps
            if ends > time.time() + 60:
                self.close()
                raise SourceError(f"{self.path}: recorded_at plus its {frames / self.fps:.0f} s of footage ends in "
                                  "the future; give the time its first frame was recorded")
        self._start = time.time() if self.recorded_at is None else self.recorded_at  # wall time of the first frame
        self._paced_from = time.monotonic()
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
    """One image file or a folder of them (sorted), shown at `fps`; unreadable files are skipped. Each is a
    still (`Frame.still`): the loop detects on every one, since the next photo is not the same scene."""

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
            return Frame(to_gray(image), self._start + index / self.fps, index, image, clock=index / self.fps,
                         still=True)
        return None

    def close(self) -> None:
        self._files = []


class MemorySource:
    """Colour images held in memory, shown at `fps` from `clock_start` on the frames' clock: a scene
    built by a benchmark or a test (a still store, a slow light change) replayed through the loop."""

    live = False
    name = "memory"

    def __init__(self, images: list[np.ndarray], fps: float = 15.0, clock_start: float = 1000.0,
                 wall_start: float = 1.8e9) -> None:
        self.images, self.fps, self.clock_start, self.wall_start = images, fps, clock_start, wall_start
        self._index = 0

    def open(self) -> None:
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= len(self.images):
            return None
        image, media_s = self.images[self._index], self._index / self.fps
        frame = Frame(to_gray(image), self.wall_start + media_s, self._index, image, clock=self.clock_start + media_s)
        self._index += 1
        return frame

    def close(self) -> None:
        pass

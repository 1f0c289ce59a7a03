"""The store around the shoppers: a background, its light over time, the sensor's noise.

The generated background is a shop wall of shelves stocked with coloured products over a floor;
a user's image or video replaces it. The light drifts slowly (a gain on the whole frame), and
every frame gets its own sensor noise (drawn from a precomputed field at a random offset: cheap).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np

from edgeemo.errors import EdgeemoError

MAX_LOOP_FRAMES = 600  # a background video's loop: at most this many frames ...
MAX_LOOP_BYTES = 512 << 20  # ... and this much memory (600 frames of 4096x4096 would be 30 GB)


def generated_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A shop wall: shelves of coloured products above a floor, with a little texture."""
    image = np.empty((height, width, 3), np.float32)
    wall = rng.uniform(150, 220, 3)
    floor = rng.uniform(90, 150, 3)
    horizon = int(height * rng.uniform(0.62, 0.72))
    image[:horizon] = wall
    ramp = np.linspace(1.0, 0.75, height - horizon)[:, None, None]
    image[horizon:] = floor * ramp
    shelf_top, shelf_bottom = int(height * 0.08), horizon - int(height * 0.04)
    rows = int(rng.integers(3, 6))
    edges = np.linspace(shelf_top, shelf_bottom, rows + 1).astype(int)
    x = 0
    while x < width:  # shelving units side by side, products on each shelf
        unit = int(rng.integers(width // 6, width // 3))
        for top, bottom in itertools.pairwise(edges):
            px = x + 4
            while px < x + unit - 4:
                pw = int(rng.integers(6, 22))
                ph = int((bottom - top) * rng.uniform(0.45, 0.9))
                cv2.rectangle(image, (px, bottom - ph), (min(px + pw, x + unit - 4), bottom - 3),
                              rng.uniform(20, 235, 3).tolist(), -1)
                px += pw + int(rng.integers(1, 4))
            cv2.rectangle(image, (x, bottom - 3), (x + unit, bottom), (70, 70, 75), -1)
        cv2.rectangle(image, (x, shelf_top), (x + 3, shelf_bottom), (60, 60, 65), -1)
        x += unit
    texture = cv2.GaussianBlur(rng.normal(0, 6, (height, width)).astype(np.float32), (0, 0), 1.5)
    return np.clip(image + texture[..., None], 0, 255)


class Background:
    """The frame under the shoppers at a time: generated, an image, or a looping video."""

    def __init__(self, width: int, height: int, rng: np.random.Generator, path: Path | None = None) -> None:
        self.size = (width, height)
        self.frames: list[np.ndarray] = []
        if path is None:
            self.frames = [generated_background(width, height, rng)]
            return
        if not Path(path).is_file():
            raise EdgeemoError(f"--background {path}: no such file")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            self.frames = [self._fit(image).astype(np.float32)]
            return
        capture = cv2.VideoCapture(str(path))
        most = max(1, min(MAX_LOOP_FRAMES, MAX_LOOP_BYTES // (width * height * 3)))
        while len(self.frames) < most:  # a bounded loop of the video, kept as uint8
            ok, frame = capture.read()
            if not ok:
                break
            self.frames.append(self._fit(frame))
        capture.release()
        if not self.frames:
            raise EdgeemoError(f"--background {path}: neither an image nor a video OpenCV can read")

    def _fit(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)

    def at(self, index: int) -> np.ndarray:
        """The float32 scene light of frame `index` (a fresh array the caller may change)."""
        return self.frames[index % len(self.frames)].astype(np.float32)


class Sensor:
    """The light's slow drift and the sensor's noise, frame by frame."""

    def __init__(self, width: int, height: int, noise_sigma: float, drift: float, fps: float,
                 rng: np.random.Generator) -> None:
        self.noise = rng.normal(0.0, noise_sigma, (height + 64, width + 64, 3)).astype(np.float32) \
            if noise_sigma > 0 else None
        self.drift, self.fps, self.rng = drift, fps, rng
        self.period_s = float(rng.uniform(40, 120))
        self.phase = float(rng.uniform(0, 2 * math.pi))
        self.shape = (height, width)

    def gain(self, index: int) -> float:
        return 1.0 + self.drift * math.sin(2 * math.pi * index / self.fps / self.period_s + self.phase)

    def expose(self, frame: np.ndarray, index: int) -> np.ndarray:
        """The uint8 frame the sensor delivers from the scene's light."""
        frame *= self.gain(index)
        if self.noise is not None:
            dy, dx = (int(v) for v in self.rng.integers(0, 64, 2))
            frame += self.noise[dy:dy + self.shape[0], dx:dx + self.shape[1]]
        return np.clip(frame + 0.5, 0, 255).astype(np.uint8)

"""`edgeemo detect`: the configured detector on still images, for setting a camera up.

An installer photographs the area from the camera's spot (or saves a frame) and checks that
shoppers at the back are found and big enough. Nothing is written unless `--out` is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeemo.edge.capture.files import IMAGE_SUFFIXES
from edgeemo.edge.vision.detector import Detector, DetectorConfig, detector_input
from edgeemo.errors import EdgeemoError
from edgeemo.preprocess import to_gray


@dataclass
class Found:
    """One image's faces: (x, y, w, h) boxes and scores (None: Haar gives no score)."""

    image: Path
    width: int
    height: int
    detector: str
    boxes: list[tuple[int, int, int, int]]
    scores: list[float | None]

    def as_json(self) -> dict:
        return {"image": str(self.image), "width": self.width, "height": self.height, "detector": self.detector,
                "faces": [{"box": list(box), "score": None if score is None else round(score, 4)}
                          for box, score in zip(self.boxes, self.scores)]}

    def as_text(self) -> str:
        faces = "; ".join(f"{w}x{h} px at ({x}, {y})" + ("" if s is None else f" score {s:.2f}")
                          for (x, y, w, h), s in zip(self.boxes, self.scores))
        count = f"{len(self.boxes)} face{'s' if len(self.boxes) != 1 else ''}"
        return f"{self.image}: {self.width}x{self.height}, {count} ({self.detector})" + (f": {faces}" if faces else "")


def image_files(paths: list[Path]) -> list[Path]:
    """The images named, folders expanded (sorted); a missing path or an empty folder is an error."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise EdgeemoError(f"{path}: no images in this folder (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise EdgeemoError(f"{path}: no such image or folder")
    return files


def detect_images(detector: Detector, config: DetectorConfig, files: list[Path]) -> Iterator[Found | Path]:
    """Each file's faces, or the file itself when it is not a readable image."""
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            yield path
            continue
        gray = to_gray(image)
        scored = getattr(detector, "detect_scored", None)
        if scored is not None:
            boxes, scores = scored(detector_input(detector, gray, image))
            rounded = [tuple(round(float(v)) for v in box) for box in boxes]
            found = Found(path, image.shape[1], image.shape[0], config.describe(), rounded,
                          [float(s) for s in scores])
        else:
            boxes = detector.detect(detector_input(detector, gray, image))
            found = Found(path, image.shape[1], image.shape[0], config.describe(),
                          [tuple(int(v) for v in box) for box in boxes], [None] * len(boxes))
        yield found


def draw_found(path: Path, found: Found, out: Path) -> Path:
    """The image with its boxes and sizes drawn, written into folder `out`; returns the file written."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    for (x, y, w, h) in found.boxes:
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 0), 2)
        cv2.putText(image, f"{w}px", (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
    target = out / f"{path.stem}.detected.png"
    if not cv2.imwrite(str(target), np.ascontiguousarray(image)):
        raise EdgeemoError(f"--out {out}: could not write {target.name} there")
    return target

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
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.errors import EdgeemoError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


def _box(values) -> Box:
    x, y, width, height = (round(float(v)) for v in values)
    return x, y, width, height
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


def detect_images(detector: Detector, config: DetectorConfig, zones: ZoneMap,
                  files: list[Path]) -> Iterator[tuple[Path, np.ndarray | None, Found | None]]:
    """Each file, its decoded image and its faces as `edgeemo run` keeps them (excluded zones blanked,
    then the box-centre rule); image and faces are None when the file is not a readable image."""
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            yield path, None, None
            continue
        height, width = image.shape[:2]
        gray = to_gray(image)
        scored = getattr(detector, "detect_scored", None)
        if scored is not None:
            found_boxes, found_scores = scored(detector_input(detector, gray, image))
            pairs: list[tuple[Box, float | None]] = [(_box(box), float(score))
                                                     for box, score in zip(found_boxes, found_scores)]
        else:
            pairs = [(_box(box), None) for box in detector.detect(detector_input(detector, gray, image))]
        kept = [(box, score) for box, score in pairs if zones.zone_of(box, width, height) is not None]
        yield path, image, Found(path, width, height, config.describe(), [box for box, _ in kept],
                                 [score for _, score in kept])


def draw_found(image: np.ndarray, found: Found, out: Path, taken: set[str]) -> Path:
    """`image` with its boxes and sizes drawn, written into folder `out` under a name not in `taken`
    (two inputs called a.png in different folders, or a.png beside a.jpg, both survive)."""
    image = image.copy()
    for (x, y, w, h) in found.boxes:
        cv2.rectangle(image, (x, y), (x + w, y + h), (0, 200, 0), 2)
        cv2.putText(image, f"{w}px", (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
    base = f"{found.image.stem}{found.image.suffix.replace('.', '_')}"
    name, number = f"{base}.detected.png", 1
    while name in taken or (out / name).exists():
        number += 1
        name = f"{base}-{number}.detected.png"
    taken.add(name)
    target = out / name
    if not cv2.imwrite(str(target), image):
        raise EdgeemoError(f"--out {out}: could not write {target.name} there")
    return target

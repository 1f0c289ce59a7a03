"""A store camera's view of a face: small, compressed, noisy, then enlarged by the runtime.

In a store a face arrives 16-48 px wide behind JPEG or H.264, and `face_input` enlarges its crop
to the model's input. `seen_at` shows a 48x48 face that way at one width (what
`edgeemo evaluate --sizes` scores); `store_camera` does it at random widths and qualities with
sensor noise, gamma and a little blur (the `store` augmentation a store model trains with).
Both bring the face back through `face_input`, the runtime's own resize.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeemo.preprocess import SHRINK, face_input


def jpeg(face: np.ndarray, quality: int) -> np.ndarray:
    """The face after one JPEG encode and decode at `quality` (1..100)."""
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # OpenCV encodes any uint8 image; a failure here is a bug, not bad input
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))


def shrink(face: np.ndarray, width: int) -> np.ndarray:
    """The face `width` px wide (area-averaged, as a camera's sensor sees a smaller face), aspect kept."""
    height, current = face.shape[:2]
    if width >= current:
        return face
    return cv2.resize(face, (width, max(1, round(height * width / current))), interpolation=SHRINK)


def seen_at(face: np.ndarray, width: int, quality: int | None = None) -> np.ndarray:
    """A uint8 face as the runtime would read it at `width` px (and JPEG `quality`), back at its size."""
    small = shrink(face, width)
    if quality is not None:
        small = jpeg(small, quality)
    return face_input(small, face.shape[:2])


def store_camera(face: np.ndarray, rng: np.random.Generator, widths: tuple[int, int],
                 qualities: tuple[int, int], jpeg_prob: float, noise_sigma: float, gamma: tuple[float, float],
                 blur_prob: float) -> np.ndarray:
    """One random store-camera view of a uint8 face: shrunk to a width in `widths`, gamma, blur, noise,
    JPEG, then enlarged by `face_input`."""
    width = int(rng.integers(widths[0], widths[1] + 1))
    small: np.ndarray = shrink(face, width).astype(np.float32)
    small = 255.0 * (small / 255.0) ** rng.uniform(*gamma)
    if rng.random() < blur_prob:
        small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.3, 0.8))
    if noise_sigma > 0:
        small += rng.normal(0.0, rng.uniform(0.0, noise_sigma), small.shape).astype(np.float32)
    small = np.clip(small + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < jpeg_prob:
        small = jpeg(small, int(rng.integers(qualities[0], qualities[1] + 1)))
    return face_input(small, face.shape[:2])

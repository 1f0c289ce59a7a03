"""Training-time augmentation of uint8 faces on the CPU with OpenCV (cheap at 48x48)."""

from __future__ import annotations

import cv2
import numpy as np

from edgeemo.train.camera import store_camera
from edgeemo.train.config import AugmentSpec


def augment_batch(faces: np.ndarray, rng: np.random.Generator, spec: AugmentSpec) -> np.ndarray:
    """Randomly transformed copy of (N, H, W) uint8 faces, as float32 in 0..255."""
    n, height, width = faces.shape
    out = np.empty((n, height, width), dtype=np.float32)
    center = (width / 2.0, height / 2.0)
    angles = np.asarray(rng.uniform(-spec.max_rotation_deg, spec.max_rotation_deg, n))
    scales = np.asarray(rng.uniform(1 - spec.max_zoom, 1 + spec.max_zoom, n))
    shifts = rng.uniform(-spec.max_shift, spec.max_shift, (n, 2)) * (width, height)
    flips = np.asarray(rng.random(n) < 0.5) if spec.flip else np.zeros(n, dtype=bool)
    through_camera = np.asarray(rng.random(n) < spec.camera_prob)
    for i in range(n):
        face = faces[i][:, ::-1] if flips[i] else faces[i]
        matrix = cv2.getRotationMatrix2D(center, angles[i], scales[i])
        matrix[:, 2] += shifts[i]
        warped = cv2.warpAffine(
            np.ascontiguousarray(face), matrix, (width, height),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101,
        )
        if through_camera[i]:  # framed (the warp's shift and zoom), then seen small and enlarged
            warped = store_camera(warped, rng, spec.camera_px, spec.jpeg_quality, spec.jpeg_prob, spec.noise_sigma,
                                  spec.gamma, spec.blur_prob)
        out[i] = warped
    means = out.mean(axis=(1, 2), keepdims=True)
    gains = rng.uniform(1 - spec.contrast, 1 + spec.contrast, (n, 1, 1)).astype(np.float32)
    offsets = (rng.uniform(-spec.brightness, spec.brightness, (n, 1, 1)) * 255.0).astype(np.float32)
    out = (out - means) * gains + means + offsets
    if spec.erase_prob:
        _erase(out, rng, spec.erase_prob)
    return np.clip(out, 0.0, 255.0, out=out)


def _erase(batch: np.ndarray, rng: np.random.Generator, prob: float) -> None:
    """Random erasing: replace one rectangle (2-20% of the face) with uniform noise."""
    n, height, width = batch.shape
    for i in np.flatnonzero(rng.random(n) < prob):
        area = rng.uniform(0.02, 0.2) * height * width
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        h = int(min(height, round(np.sqrt(area * aspect))))
        w = int(min(width, round(np.sqrt(area / aspect))))
        y = int(rng.integers(0, height - h + 1))
        x = int(rng.integers(0, width - w + 1))
        batch[i, y : y + h, x : x + w] = rng.uniform(0, 255, (h, w))

"""Flip test-time augmentation: each face and its mirror image in one batch, probabilities averaged.

Pure functions on arrays, shared by `edgeemo evaluate --tta flip` and the edge runtime
(`[model] tta = "flip"`), so both measure and run the same thing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TTA_MODES = ("none", "flip")


def with_mirrors(faces: np.ndarray) -> np.ndarray:
    """(N, H, W) faces -> (2N, H, W): the faces, then their horizontal mirror images."""
    return np.concatenate([faces, faces[:, :, ::-1]])


def merge_mirrors(probabilities: np.ndarray) -> np.ndarray:
    """(2N, C) probabilities of `with_mirrors` faces -> (N, C), the mean of each face and its mirror."""
    half = len(probabilities) // 2
    return (probabilities[:half] + probabilities[half:]) / 2


def predict_with_tta(predict: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return predict(faces)
    if mode == "flip":
        return merge_mirrors(predict(with_mirrors(faces)))
    raise ValueError(f"test-time augmentation {mode!r}: choose one of {', '.join(TTA_MODES)}")

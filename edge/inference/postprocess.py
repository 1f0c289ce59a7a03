"""Pure array functions around a quantized model: quantize input, dequantize output, top label.

Kept free of any interpreter so they are testable without hardware (pycoral's adapters shape).
"""

from __future__ import annotations

import numpy as np


def quantize(values: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Real values -> integer tensor values with the tensor's own scale and zero point."""
    info = np.iinfo(dtype)
    quantized = np.round(values.astype(np.float32) / scale) + zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values -> real values."""
    return (values.astype(np.float32) - zero_point) * scale


def top_label(probabilities: np.ndarray, labels: tuple[str, ...] | list[str]) -> tuple[str, float]:
    """The most likely label of one face and its probability."""
    index = int(np.argmax(probabilities))
    return labels[index], float(probabilities[index])

"""Load a .keras or .tflite model as one callable: faces (N, H, W) uint8 -> probabilities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import ModelSidecar, read_sidecar, sidecar_path

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Predictor:
    predict: Predict
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    kind: str  # "keras" or "tflite (<runtime>, <dtype> input)"


def with_tta(predictor: Predictor, mode: str) -> Predictor:
    """The same model with test-time augmentation `mode` (edgeemo.tta) around each call; "none": unchanged."""
    from edgeemo.tta import predict_with_tta

    if mode == "none":
        return predictor
    plain = predictor.predict
    return replace(predictor, predict=lambda faces: predict_with_tta(plain, faces, mode))


def load_predictor(model_path: Path, num_threads: int = 2) -> Predictor:
    """Open a model by its extension; its sidecar (if present) must match the file's sha256."""
    if not model_path.is_file():
        raise EdgeemoError(f"{model_path}: no such model file")
    sidecar: ModelSidecar | None = read_sidecar(model_path) if sidecar_path(model_path).exists() else None
    suffix = model_path.suffix.lower()
    if suffix == ".keras":
        predictor = _keras_predictor(model_path)
    elif suffix == ".tflite":
        predictor = _tflite_predictor(model_path, num_threads)
    else:
        raise EdgeemoError(f"{model_path}: unknown model format {suffix!r}; expected .keras or .tflite")
    if sidecar is not None:
        if tuple(sidecar.input_size) != predictor.input_size:
            raise EdgeemoError(
                f"{model_path}: model input {predictor.input_size} differs from its sidecar's {sidecar.input_size}"
            )
        predictor.labels = tuple(sidecar.labels)
    return predictor


def _keras_predictor(model_path: Path) -> Predictor:
    from edgeemo.labels import LABELS
    from edgeemo.train.tfkeras import keras

    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean the same here.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise EdgeemoError(f"{model_path}: not a loadable Keras model ({first})") from exc
    _, height, width, _ = model.input_shape

    def predict(faces: np.ndarray) -> np.ndarray:
        return model(faces[..., None].astype(np.float32), training=False).numpy()

    return Predictor(predict, (int(height), int(width)), LABELS, "keras")


def _tflite_predictor(model_path: Path, num_threads: int) -> Predictor:
    from edgeemo.edge.inference.classifier import TFLiteClassifier
    from edgeemo.labels import LABELS

    classifier = TFLiteClassifier(model_path, num_threads)
    kind = f"tflite ({classifier.runtime}, {classifier.input_dtype} input)"
    return Predictor(classifier.predict, classifier.input_size, LABELS, kind)

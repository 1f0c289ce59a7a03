"""The `Classifier` interface of the loop, and its TFLite implementation (float or int8, CPU or Edge TPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from edgeemo.edge.inference.interpreter import open_interpreter
from edgeemo.edge.inference.postprocess import dequantize, quantize


class Classifier(Protocol):
    """Faces (N, H, W) uint8 at `input_size` in, class probabilities (N, classes) float32 out."""

    input_size: tuple[int, int]
    runtime: str

    def predict(self, faces: np.ndarray) -> np.ndarray: ...


class TFLiteClassifier:
    """Faces (N, H, W) uint8 in, probabilities (N, classes) float32 out.

    The interpreter is built once; the batch dimension is resized only when the batch size
    changes. Integer models get their input quantized with the input tensor's own scale and
    zero point, and their output dequantized.
    """

    def __init__(self, model_path: Path, num_threads: int = 2, delegates: list | None = None) -> None:
        self.runtime, self.interpreter = open_interpreter(model_path, num_threads, delegates)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        _, height, width, _ = self._input["shape"]
        self.input_size = (int(height), int(width))
        self._batch = int(self._input["shape"][0])

    @property
    def num_classes(self) -> int:
        return int(self._output["shape"][-1])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    def _ensure_batch(self, batch: int) -> None:
        if batch != self._batch:
            height, width = self.input_size
            self.interpreter.resize_tensor_input(self._input["index"], [batch, height, width, 1])
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
            self._batch = batch

    def predict(self, faces: np.ndarray) -> np.ndarray:
        if faces.shape[1:3] != self.input_size:
            raise ValueError(f"faces are {faces.shape[1:3]}, the model takes {self.input_size}")
        self._ensure_batch(len(faces))
        values = faces.reshape(len(faces), *self.input_size, 1)
        scale, zero_point = self._input["quantization"]
        if np.issubdtype(self.input_dtype, np.integer) and scale:
            tensor = quantize(values, scale, zero_point, self.input_dtype)
        else:
            tensor = values.astype(self.input_dtype)
        self.interpreter.set_tensor(self._input["index"], tensor)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self._output["index"])
        out_scale, out_zero_point = self._output["quantization"]
        if np.issubdtype(output.dtype, np.integer) and out_scale:
            return dequantize(output, out_scale, out_zero_point)
        return output.astype(np.float32)

"""Full-integer post-training quantization: int8 weights, activations, input and output."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from edgeemo.train.tfkeras import keras, tf


def quantize_int8(model: keras.Model, calibration_faces: np.ndarray, progress: bool = True) -> bytes:
    """A .tflite flatbuffer with a static [1, H, W, 1] int8 input (the Edge TPU needs static shapes).

    The representative dataset is the calibration faces as raw 0..255 pixels, exactly what
    the edge runtime feeds, so the input scale comes out as 1.0 with zero point -128.
    """
    _, height, width, _ = model.input_shape
    if calibration_faces.shape[1:] != (height, width):
        raise ValueError(f"calibration faces are {calibration_faces.shape[1:]}, the model takes {(height, width)}")
    forward = tf.function(lambda face: model(face, training=False),
                          input_signature=[tf.TensorSpec([1, height, width, 1], tf.float32, name="face")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative():
        for face in tqdm(calibration_faces, desc="calibrating", unit="face", disable=not progress, leave=False):
            yield [face.reshape(1, height, width, 1).astype(np.float32)]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()

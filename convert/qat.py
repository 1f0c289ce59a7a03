"""Quantization-aware fine-tuning: the fallback when post-training quantization drifts too far.

tfmot's `quantize_model` rejects the Rescaling layer, so supported layers are annotated
one by one (tfmot's documented selective-annotation route) and the rescale stays float;
the full-int8 conversion still calibrates the input against the calibration set.
"""

from __future__ import annotations

import logging

import tensorflow_model_optimization as tfmot

from edgeemo.train.config import TrainConfig
from edgeemo.train.data import FaceDataset
from edgeemo.train.tfkeras import keras
from edgeemo.train.trainer import fine_tune

log = logging.getLogger(__name__)
ANNOTATED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense, keras.layers.BatchNormalization,
             keras.layers.ReLU, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
             keras.layers.GlobalAveragePooling2D)


def quantization_aware(model: keras.Model, train_set: FaceDataset, val_set: FaceDataset, config: TrainConfig,
                       epochs: int, lr: float = 1e-5) -> keras.Model:
    """Fine-tune `model` with fake-quantization in the graph for `epochs` epochs."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    annotated = keras.models.clone_model(
        model, clone_function=lambda layer: annotate(layer) if isinstance(layer, ANNOTATED) else layer)
    q_aware = tfmot.quantization.keras.quantize_apply(annotated)
    log.info("quantization-aware fine-tuning for %d epoch(s)", epochs)
    fine_tune(q_aware, train_set, val_set, config, epochs, lr, epoch_offset=20_000)
    return q_aware

"""Quantization-aware fine-tuning: the fallback when post-training quantization drifts too far.

tfmot's `quantize_model` rejects the Rescaling layer, so supported layers are annotated
one by one (tfmot's documented selective-annotation route) and the rescale stays float;
the full-int8 conversion still calibrates the input against the calibration set.
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow_model_optimization as tfmot

from edgeemo.labels import NUM_CLASSES
from edgeemo.train.config import TrainConfig
from edgeemo.train.data import FaceDataset
from edgeemo.train.tfkeras import keras
from edgeemo.train.trainer import AugmentedBatches, class_weight_vector

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
    q_aware.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    batches = AugmentedBatches(train_set, config, class_weight_vector(train_set.class_counts(), config.class_weights))
    batches.set_epoch(20_000)
    val = (val_set.images[..., None].astype(np.float32), np.eye(NUM_CLASSES, dtype=np.float32)[val_set.labels])
    log.info("quantization-aware fine-tuning for %d epoch(s)", epochs)
    q_aware.fit(batches, epochs=epochs, validation_data=val, verbose=2)
    return q_aware

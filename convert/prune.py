"""Magnitude pruning with tensorflow-model-optimization, in tfmot's own order:
prune_low_magnitude -> fine-tune with UpdatePruningStep -> strip_pruning.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
from dataclasses import dataclass

import numpy as np
import tensorflow_model_optimization as tfmot

from edgeemo.train.config import TrainConfig
from edgeemo.train.data import FaceDataset
from edgeemo.train.tfkeras import keras
from edgeemo.train.trainer import fine_tune

log = logging.getLogger(__name__)
PRUNABLE = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


@dataclass
class PruneResult:
    model: keras.Model
    target_sparsity: float
    sparsity: float  # fraction of zero weights over all prunable kernels
    gzip_bytes_before: int
    gzip_bytes_after: int


def kernel_sparsity(model: keras.Model) -> float:
    zeros = total = 0
    for layer in model.layers:
        if isinstance(layer, PRUNABLE):
            kernel = layer.get_weights()[0]
            zeros += int(np.sum(kernel == 0))
            total += kernel.size
    return zeros / total if total else 0.0


def gzip_weights_size(model: keras.Model) -> int:
    """Size of the model's weights, gzip'd: what pruning actually saves on the wire."""
    raw = io.BytesIO()
    for weights in model.get_weights():
        raw.write(np.asarray(weights, dtype=np.float32).tobytes())
    return len(gzip.compress(raw.getvalue(), compresslevel=9))


def prune(model: keras.Model, sparsity: float, epochs: int, train_set: FaceDataset, val_set: FaceDataset,
          config: TrainConfig, lr: float = 1e-4) -> PruneResult:
    """Prune Conv/Dense kernels to `sparsity` with a polynomial schedule while fine-tuning."""
    before = gzip_weights_size(model)
    steps = math.ceil(len(train_set) / config.batch_size) * epochs
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
        end_step=max(1, int(steps * 0.7)), frequency=max(1, steps // 100),
    )

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, PRUNABLE):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = keras.models.clone_model(model, clone_function=wrap)
    fine_tune(pruned, train_set, val_set, config, epochs, lr, epoch_offset=10_000,
              callbacks=(tfmot.sparsity.keras.UpdatePruningStep(),))
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    reached = kernel_sparsity(stripped)
    log.info("pruned to %.1f%% sparsity (target %.0f%%)", reached * 100, sparsity * 100)
    return PruneResult(stripped, sparsity, reached, before, gzip_weights_size(stripped))

"""The compact FER CNN: a VGG-style stack of Edge-TPU-friendly ops.

Only Conv2D, BatchNorm (folded at conversion), ReLU, max pooling, global average pooling,
Dense and Softmax. Input is raw grayscale 0..255; rescaling is the model's first layer.
"""

from __future__ import annotations

from edgeemo.labels import NUM_CLASSES
from edgeemo.train.config import ModelConfig
from edgeemo.train.tfkeras import keras

layers = keras.layers


def build_model(
    spec: ModelConfig | None = None, input_size: tuple[int, int] = (48, 48), num_classes: int = NUM_CLASSES
) -> keras.Model:
    """Stages of 3x3 Conv-BN-ReLU, each ending in 2x2 max pooling; weight decay lives in AdamW."""
    spec = spec or ModelConfig()
    height, width = input_size
    inputs = keras.Input((height, width, 1), name="face")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    for stage, (filters, n_convs) in enumerate(zip(spec.widths, spec.convs_per_stage), start=1):
        for conv in range(1, n_convs + 1):
            name = f"s{stage}c{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(name=f"s{stage}_pool")(x)
        if spec.stage_dropout:
            x = layers.Dropout(spec.stage_dropout, name=f"s{stage}_drop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if spec.head_dropout:
        x = layers.Dropout(spec.head_dropout, name="head_drop")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # Softmax in float32 even under a mixed-precision policy.
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="fer_cnn")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one face through Conv2D, DepthwiseConv2D and Dense layers."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, out_h, out_w, out_c = layer.output.shape
            kh, kw = layer.kernel_size
            macs += out_h * out_w * kh * kw * out_c
        elif isinstance(layer, layers.Conv2D):
            _, out_h, out_w, out_c = layer.output.shape
            kh, kw = layer.kernel_size
            in_c = layer.input.shape[-1]
            macs += out_h * out_w * kh * kw * in_c * out_c
        elif isinstance(layer, layers.Dense):
            macs += int(layer.input.shape[-1]) * layer.units
    return int(macs)

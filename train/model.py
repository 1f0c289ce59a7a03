"""The compact FER CNNs: one builder for the VGG-style stack and the depthwise-separable family.

Only Edge-TPU-friendly ops: Conv2D, DepthwiseConv2D, BatchNorm (folded at conversion), ReLU /
ReLU6 / hard-swish / swish, max pooling, global average pooling, Dense and Softmax. Input is raw
grayscale 0..255; rescaling is the model's first layer.
"""

from __future__ import annotations

from edgeemo.labels import NUM_CLASSES
from edgeemo.train.config import ACTIVATIONS, ModelConfig
from edgeemo.train.tfkeras import keras

layers = keras.layers


def activation(x, kind: str, name: str):
    """The blocks' nonlinearity, built from plain layers so a saved model loads without custom objects.

    hard_swish is x * relu6(x + 3) / 6 (MobileNetV3), written as Rescaling + ReLU(max 1) + Multiply.
    """
    if kind == "relu":
        return layers.ReLU(name=f"{name}_relu")(x)
    if kind == "relu6":
        return layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    if kind == "hard_swish":
        gate = layers.Rescaling(1.0 / 6.0, offset=0.5, name=f"{name}_hs_scale")(x)
        gate = layers.ReLU(max_value=1.0, name=f"{name}_hs_gate")(gate)
        return layers.Multiply(name=f"{name}_hswish")([x, gate])
    if kind == "swish":
        return layers.Activation("swish", name=f"{name}_swish")(x)
    raise ValueError(f"activation {kind!r}: choose one of {', '.join(ACTIVATIONS)}")


def build_model(
    spec: ModelConfig | None = None, input_size: tuple[int, int] = (48, 48), num_classes: int = NUM_CLASSES,
    act: str = "relu",
) -> keras.Model:
    """Stages of blocks, each stage ending in 2x2 max pooling; weight decay lives in AdamW.

    `conv` blocks are 3x3 Conv-BN-act (VGG-style, the v2 models); `separable` blocks are a
    3x3 depthwise Conv-BN-act then a 1x1 Conv-BN-act (MobileNetV1-style), after a plain
    3x3 stem of `spec.stem` channels: about a ninth of the multiply-accumulates per channel.
    """
    spec = spec or ModelConfig()
    height, width = input_size
    inputs = keras.Input((height, width, 1), name="face")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    if spec.blocks == "separable" and spec.stem:
        x = layers.Conv2D(spec.stem, 3, padding="same", use_bias=False, name="stem")(x)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = activation(x, act, "stem")
    for stage, (filters, n_blocks) in enumerate(zip(spec.widths, spec.convs_per_stage), start=1):
        for block in range(1, n_blocks + 1):
            name = f"s{stage}c{block}"
            if spec.blocks == "separable":
                x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
                x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
                x = activation(x, act, f"{name}_dw")
                x = layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = activation(x, act, name)
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

"""Training throughput (images/s) of each preset's network on this machine, before a long run.

The same MACs do not train at the same speed: on a CPU without AMX, depthwise-separable blocks
trained about 2.7x slower than plain 3x3 convolutions of the same budget here, and bf16 is
emulated. Random faces, one batch size, the run's precision, AdamW; nothing else should run
meanwhile (the figures are this machine's, not a Pi's, which does not train).

    python scripts/train_speed.py train/presets/ferplus_s.toml train/presets/ferplus_s_conv.toml
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.train.config import from_settings, read_preset
from edgeemo.train.model import build_model, count_macs
from edgeemo.train.tfkeras import keras


def images_per_s(preset: Path, batches: int, precision: str | None) -> dict[str, object]:
    config = from_settings(read_preset(preset), str(preset))
    used = precision or config.precision
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if used == "bf16" else "float32")
    classes = len(config.class_subset() or ()) or (8 if config.votes else 7)
    model = build_model(config.model, config.input_size, classes, config.activation)
    model.compile(optimizer=keras.optimizers.AdamW(config.lr), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    faces = rng.random((config.batch_size, *config.input_size, 1), dtype=np.float32)
    targets = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, config.batch_size)]
    for _ in range(2):  # tracing and warm-up
        model.train_on_batch(faces, targets)
    start = time.perf_counter()
    for _ in range(batches):
        model.train_on_batch(faces, targets)
    seconds = time.perf_counter() - start
    return {"preset": str(preset), "precision": used, "blocks": config.model.blocks,
            "parameters": int(model.count_params()), "macs_per_face": count_macs(model),
            "images_per_s": round(batches * config.batch_size / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", type=Path)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per preset")
    parser.add_argument("--precision", choices=("bf16", "fp32"), help="instead of each preset's own")
    args = parser.parse_args()
    for preset in args.presets:
        try:
            print(json.dumps(images_per_s(preset, args.batches, args.precision)), flush=True)
        except EdgeemoError as exc:
            raise SystemExit(f"train_speed: {preset}: {exc}") from None


if __name__ == "__main__":
    main()

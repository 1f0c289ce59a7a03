"""Per-face inference latency (median, p95) of .keras / .tflite models on this machine.

One face per call, as the edge runtime classifies a lone shopper; the interpreter is built
once. A .keras model is also exported to a float TFLite file (the fair float baseline on a
Pi, where TensorFlow is not installed) and that is timed too.

    python scripts/latency.py --model models/fer_cnn.keras --model models/fer_cnn_int8.tflite
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeemo.calibration.sets import load_calibration_set
from edgeemo.train.predictors import load_predictor


def time_per_face(predict, faces: np.ndarray, n: int, warmup: int = 20) -> dict[str, float]:
    for i in range(warmup):
        predict(faces[i % len(faces)][None])
    samples = []
    for i in range(n):
        face = faces[i % len(faces)][None]
        start = time.perf_counter()
        predict(face)
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": float(np.median(samples)), "p95_ms": float(np.percentile(samples, 95)), "n": n}


def float_tflite(keras_path: Path, out_dir: Path) -> Path:
    from edgeemo.train.tfkeras import keras, tf

    model = keras.models.load_model(keras_path, compile=False)
    _, height, width, _ = model.input_shape
    forward = tf.function(lambda face: model(face, training=False),
                          input_signature=[tf.TensorSpec([1, height, width, 1], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()], model)
    path = out_dir / f"{keras_path.stem}_float32.tflite"
    path.write_bytes(converter.convert())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--faces", type=Path, default=Path("calibration/fer2013_train_500.npz"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="TFLite interpreter threads")
    args = parser.parse_args()
    faces = load_calibration_set(args.faces).faces
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.model:
            results[str(path)] = time_per_face(load_predictor(path, args.threads).predict, faces, args.n)
            if path.suffix == ".keras":
                exported = float_tflite(path, Path(tmp))
                name = f"{path} (exported float32 TFLite)"
                results[name] = time_per_face(load_predictor(exported, args.threads).predict, faces, args.n)
    for name, stats in results.items():
        print(f"{stats['median_ms']:8.3f} ms median {stats['p95_ms']:8.3f} ms p95  {name}")
    print(json.dumps({"threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()

"""How the runtime's crop is read, chosen by measurement on faces the models never trained on:

1. the enlargement (bilinear, bicubic, Lanczos): each model's accuracy on the FER+ validation split
   with every face shrunk to 48/40/32/24 px (sharp and behind JPEG q70) and brought back with it;
2. the crop margin (`[detector] margin` 0.0 against 0.1): validation faces through simulated store
   footage (the far profile, the default detector, the device's loop), the share of visits whose
   label is their shopper's, the same shoppers and footage for both.

    python scripts/compare_crop.py --data ../shared/data/fer2013/train \
        --votes ../shared/data/ferplus/ferplus_votes.csv --out reports/sizes/crop_choice.json \
        runs/ferplus_cnn_v2.keras models/ferplus_cnn_int8.tflite

The first model given is also the one the margin is measured with when it is a .tflite (the chain runs
the device's loop); otherwise the first .tflite given.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import cv2
import numpy as np

INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
MARGINS = (0.0, 0.1)


def resize_rows(model: Path, data: str, votes: str | None) -> dict:
    from edgeemo import preprocess
    from edgeemo.train.evaluate import _faces, predict_all
    from edgeemo.train.predictors import load_predictor
    from edgeemo.train.sizes import size_table

    predictor = load_predictor(model)
    faces = _faces(model, data, "validation", predictor.input_size, Path(votes) if votes else None).for_model(
        predictor.labels, model)
    chosen = preprocess.ENLARGE
    found = {}
    try:
        for name, code in INTERPOLATIONS.items():
            preprocess.ENLARGE = code
            table = size_table(faces.images, faces.labels, predictor.labels,
                               lambda batch: predict_all(predictor, batch, progress=False), (48, 40, 32, 24), 70)
            found[name] = {f"{r['width']}" + (f"+jpeg{r['jpeg']}" if r["jpeg"] else ""): r["accuracy"]
                           for r in table["rows"]}
            print(model.name, name, found[name], flush=True)
    finally:
        preprocess.ENLARGE = chosen
    return {"faces": len(faces.labels), "accuracy": found}


def margin_rows(model: Path, data: str, votes: str | None, faces_n: int, seed: int) -> dict:
    from edgeemo.edge.config import RunConfig
    from edgeemo.edge.inference.model import open_edge_model
    from edgeemo.sim.chain import run_chain
    from edgeemo.sim.profile import load_profile
    from edgeemo.train.evaluate import _faces

    edge_model = open_edge_model(model, threads=1)
    faces = _faces(model, data, "validation", (48, 48), Path(votes) if votes else None).for_model(
        edge_model.labels, model)
    chosen = np.random.default_rng(seed).choice(len(faces.labels), min(faces_n, len(faces.labels)), replace=False)
    names = [faces.names[faces.labels[i]] for i in chosen]
    found = {}
    for margin in MARGINS:
        config = RunConfig(device_id="sim")
        config = config.model_copy(update={"detector": config.detector.model_copy(update={"margin": margin})})
        run = run_chain(edge_model, faces.images[chosen], names, load_profile("far"), seed, "detector", config)
        found[str(margin)] = run.summary()
        print(model.name, "margin", margin, found[str(margin)], flush=True)
    return {"faces": len(chosen), "profile": "far", "boxes": "detector", "seed": seed, "by_margin": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--votes")
    parser.add_argument("--faces", type=int, default=600, help="validation faces through the chain per margin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result: dict = {"resize": {m.name: resize_rows(m, args.data, args.votes) for m in args.models}}
    tflite = next((m for m in args.models if m.suffix == ".tflite"), None)
    if tflite is not None:
        result["margin"] = {tflite.name: margin_rows(tflite, args.data, args.votes, args.faces, args.seed)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""On-device drift: the int8 model's predictions on the same labelled faces on two machines.

    python scripts/pi_drift.py predict --model M.tflite --data FER/test --n 500 --out arm64.npz   # on each
    python scripts/pi_drift.py compare x86.npz arm64.npz --min-agreement 0.995 --max-accuracy-gap 0.3

`predict` runs the edge runtime's own classifier (LiteRT, no TensorFlow), so under emulated
arm64 it measures the aarch64 kernels a Pi runs. `compare` prints one JSON object and exits 1
when agreement or the accuracy gap misses its threshold.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np


def predict(args: argparse.Namespace) -> int:
    from edgeemo.edge.inference.model import open_edge_model
    from edgeemo.train.data import load_faces

    model = open_edge_model(args.model, threads=1)
    faces = load_faces(args.data, "test", model.classifier.input_size, args.votes).for_model(model.labels, args.model)
    chosen = np.sort(np.random.default_rng(args.seed).permutation(len(faces))[: args.n])
    probabilities = np.concatenate([model.classifier.predict(faces.images[i : i + 1]) for i in chosen])
    np.savez(args.out, probabilities=probabilities, labels=faces.labels[chosen], chosen=chosen,
             machine=platform.machine(), runtime=model.classifier.runtime, sha256=model.sidecar.sha256)
    accuracy = float(np.mean(probabilities.argmax(1) == faces.labels[chosen]))
    print(f"{platform.machine()}: {len(chosen)} faces, accuracy {accuracy:.4f} ({model.classifier.runtime}) -> {args.out}")
    return 0


def compare(args: argparse.Namespace) -> int:
    a, b = np.load(args.reference), np.load(args.candidate)
    if not (np.array_equal(a["chosen"], b["chosen"]) and str(a["sha256"]) == str(b["sha256"])):
        print(f"{args.reference} and {args.candidate} are not the same faces and model", file=sys.stderr)
        return 2
    top_a, top_b, labels = a["probabilities"].argmax(1), b["probabilities"].argmax(1), a["labels"]
    result = {
        "n": len(labels),
        "machines": [str(a["machine"]), str(b["machine"])],
        "agreement": float(np.mean(top_a == top_b)),
        "accuracy": [float(np.mean(top_a == labels)), float(np.mean(top_b == labels))],
        "max_probability_difference": float(np.abs(a["probabilities"] - b["probabilities"]).max()),
    }
    result["accuracy_gap_pt"] = abs(result["accuracy"][0] - result["accuracy"][1]) * 100
    result["passed"] = result["agreement"] >= args.min_agreement and result["accuracy_gap_pt"] <= args.max_accuracy_gap
    print(json.dumps(result))
    return 0 if result["passed"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("predict")
    run.add_argument("--model", type=Path, required=True)
    run.add_argument("--data", required=True, help="labelled faces (a FER-2013 test folder)")
    run.add_argument("--votes", help="FER+ ferplus_votes.csv: score a FER+ model on FER+ majority labels")
    run.add_argument("--n", type=int, default=500)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, required=True)
    run.set_defaults(handler=predict)
    check = commands.add_parser("compare")
    check.add_argument("reference", type=Path)
    check.add_argument("candidate", type=Path)
    check.add_argument("--min-agreement", type=float, default=0.995)
    check.add_argument("--max-accuracy-gap", type=float, default=0.3, help="points")
    check.set_defaults(handler=compare)
    args = parser.parse_args()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

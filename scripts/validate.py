"""Accuracy and macro-F1 of models on the validation split `edgeemo train` carves (seed and fraction
from each model's sidecar): how a new model is compared with the shipped one without touching test.

    python scripts/validate.py models/fer_cnn.keras runs/fer2013_light/model.keras
    python scripts/validate.py --votes ../shared/data/ferplus/ferplus_votes.csv runs/ferplus_*/model.keras
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from edgeemo.train.data import load_split
from edgeemo.train.evaluate import predict_all
from edgeemo.train.metrics import classification_report
from edgeemo.train.predictors import load_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", default="../shared/data/fer2013/train")
    parser.add_argument("--votes", help="FER+ votes: validate on the FER+ majority labels")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--tta", choices=("none", "flip"), default="none")
    args = parser.parse_args()
    _, val_set = load_split(args.data, args.val_fraction, args.seed, votes=args.votes)
    for model in args.models:
        predictor = load_predictor(model)
        data = val_set.for_model(predictor.labels, model)
        if args.tta == "flip":
            from edgeemo.tta import predict_with_tta

            plain = predictor.predict
            predictor.predict = lambda faces, plain=plain: predict_with_tta(plain, faces, "flip")
        report = classification_report(data.labels, predict_all(predictor, data.images, progress=False),
                                       predictor.labels)
        recall = " ".join(f"{c.label} {c.recall:.3f}" for c in report.per_class)
        print(f"{model}: validation n={report.n} accuracy {report.accuracy:.4f} macro-F1 {report.macro_f1:.4f} "
              f"(recall: {recall})")


if __name__ == "__main__":
    main()

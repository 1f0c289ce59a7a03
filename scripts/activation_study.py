"""The happy-vs-sad activation study: the same binary model trained once per activation, same budget.

Each run is `edgeemo train --config PRESET --classes happy,sad --activation A --epochs N` (same
seed, so the same honest validation split and augmentation); the runs are compared on their
validation ROC curves (the choice) and then reported once on the test folder (happy and sad faces
of FER-2013 PublicTest). Writes study.json, study.md (the table), roc_validation.png and
roc_test.png (one curve per run each).
Runs already complete are reused, interrupted ones resumed.

    python scripts/activation_study.py --out reports/activation_study
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeemo.train.config import ACTIVATIONS, from_settings, read_preset
from edgeemo.train.data import load_faces, load_split
from edgeemo.train.evaluate import predict_all
from edgeemo.train.metrics import roc_auc, roc_curve
from edgeemo.train.plots import roc_curves
from edgeemo.train.predictors import load_predictor
from edgeemo.train.trainer import train

CLASSES = ("happy", "sad")
POSITIVE = "happy"  # the ROC's positive class: p(happy) ranks the faces


def scored(model: Path, faces, positive: str) -> dict:
    """Accuracy, AUC and the ROC points of one binary model on one set of faces."""
    predictor = load_predictor(model)
    faces = faces.for_model(predictor.labels, model, subset=True)
    probs = predict_all(predictor, faces.images, progress=False)
    column = predictor.labels.index(positive)
    is_positive = faces.labels == column
    fpr, tpr = roc_curve(is_positive, probs[:, column])
    return {"n": len(faces), "accuracy": float((probs.argmax(axis=1) == faces.labels).mean()),
            "auc": roc_auc(is_positive, probs[:, column]), "fpr": fpr, "tpr": tpr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", type=Path, default=Path("train/presets/happy_sad_study.toml"),
                        help="the shared training settings (architecture, data, schedule)")
    parser.add_argument("--activations", default=",".join(ACTIVATIONS), help="comma-separated, three or more")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (the same budget for every run)")
    parser.add_argument("--runs", type=Path, default=Path("runs/activation_study"), help="run directories")
    parser.add_argument("--out", type=Path, default=Path("reports/activation_study"))
    args = parser.parse_args()
    settings = read_preset(args.preset)
    if args.epochs:
        settings["epochs"] = args.epochs
    settings["classes"] = ",".join(CLASSES)
    activations = [a.strip() for a in args.activations.split(",") if a.strip()]

    test_root = Path(settings["data"]).parent
    test_faces = load_faces(test_root, "test").only(CLASSES)
    val_faces = None
    results = []
    for act in activations:
        config = from_settings({**settings, "activation": act}, str(args.preset))
        run = args.runs / act
        model = run / "model.keras"
        if not model.exists():
            started = (run / "checkpoint" / "state.json").exists()
            model = train(None if started else config, run, resume=started)
        if val_faces is None:
            val_faces = load_split(config.data, config.val_fraction, config.seed, config.input_size)[1].only(CLASSES)
        made_by = json.loads(model.with_suffix(".json").read_text())["made_by"]
        results.append({"activation": act, "run": str(run), "best_epoch": made_by["best_epoch"],
                        "epochs_run": made_by["epochs_run"], "train_seconds": made_by["train_seconds"],
                        "parameters": made_by["parameters"], "macs_per_face": made_by["macs_per_face"],
                        "validation": scored(model, val_faces, POSITIVE), "test": scored(model, test_faces, POSITIVE)})
    chosen = max(results, key=lambda r: r["validation"]["auc"])
    args.out.mkdir(parents=True, exist_ok=True)
    roc_curves({r["activation"]: (r["validation"]["fpr"], r["validation"]["tpr"], r["validation"]["auc"])
                for r in results}, f"{POSITIVE} vs {CLASSES[1]}: validation ROC", args.out / "roc_validation.png")
    roc_curves({r["activation"]: (r["test"]["fpr"], r["test"]["tpr"], r["test"]["auc"]) for r in results},
               f"{POSITIVE} vs {CLASSES[1]}: FER-2013 PublicTest ROC", args.out / "roc_test.png")
    plain = [{**r, **{part: {k: v for k, v in r[part].items() if k not in ("fpr", "tpr")}
                      for part in ("validation", "test")}} for r in results]
    (args.out / "study.json").write_text(json.dumps({"preset": str(args.preset), "settings": settings,
                                                      "chosen": chosen["activation"], "runs": plain}, indent=2) + "\n")
    lines = [(f"Happy vs sad, one binary model per activation ({settings['epochs']} epochs each, seed "
              f"{settings.get('seed', 42)}, `{args.preset}`); chosen on validation AUC: **{chosen['activation']}**."),
             "", "| activation | best epoch | validation acc | validation AUC | test acc | test AUC | train time |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        v, t = r["validation"], r["test"]
        lines.append(f"| {r['activation']} | {r['best_epoch']} of {r['epochs_run']} | {v['accuracy']:.2%} | "
                     f"{v['auc']:.4f} | {t['accuracy']:.2%} | {t['auc']:.4f} | {r['train_seconds'] / 60:.1f} min |")
    lines += ["", (f"Validation: {plain[0]['validation']['n']} faces; test: {plain[0]['test']['n']} faces "
                   f"(FER-2013 PublicTest happy and sad). Positive class for the ROC: {POSITIVE}."),
              "Reproduce: `python scripts/activation_study.py` (runs in runs/activation_study/, resumable)."]
    (args.out / "study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

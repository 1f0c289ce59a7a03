"""`edgeemo evaluate`: accuracy, macro-F1, per-class table, confusion matrix and ROC-AUC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import read_sidecar
from edgeemo.train.data import FaceDataset, load_faces, load_split, unseen_mask
from edgeemo.train.metrics import Report, classification_report
from edgeemo.train.predictors import Predictor, load_predictor, with_tta
from edgeemo.train.sizes import render_sizes


def predict_all(predictor: Predictor, faces: np.ndarray, batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Probabilities for every face, in batches, with a progress bar on long runs."""
    chunks = []
    for start in tqdm(range(0, len(faces), batch_size), desc="evaluating", unit="batch",
                      disable=not progress or len(faces) <= batch_size, leave=False):
        chunks.append(predictor.predict(faces[start : start + batch_size]))
    return np.concatenate(chunks)


def evaluate(model_path: Path, data: str, split: str = "test", out: Path | None = None,
             progress: bool = True, votes: Path | None = None, train_data: str | None = None,
             tta: str = "none", write_calibration: bool = False, quantify: bool = False,
             sizes: tuple[int, ...] = (), jpeg: int | None = None) -> Report:
    """Evaluate on `data`; with `train_data`, also on the faces that have no copy in it (FER-2013's
    PublicTest holds 280 pixel-identical copies of training images). With `write_calibration` (on the
    model's validation split, or on `own` labelled faces it never trained on, such as a store's: never
    on faces a figure will later be judged on), the model's confusion there goes into its sidecar
    (edgeemo.estimates)."""
    if write_calibration and split not in ("validation", "own"):
        raise EdgeemoError("--write-calibration measures on the model's own validation split (--split validation "
                           "with --data its training data) or on your own labelled faces (--split own), never test")
    predictor = load_predictor(model_path)
    dataset = _faces(model_path, data, split, predictor.input_size, votes).for_model(
        predictor.labels, model_path, subset=trained_on_subset(model_path))
    predictor = with_tta(predictor, tta)
    probabilities = predict_all(predictor, dataset.images, progress=progress)
    report = classification_report(dataset.labels, probabilities, predictor.labels)
    if sizes:
        from edgeemo.train.sizes import size_table

        report.sizes = size_table(dataset.images, dataset.labels, predictor.labels,
                                  lambda faces: predict_all(predictor, faces, progress=False), sizes, jpeg)
    if quantify:
        report.quantification = _quantification(model_path, dataset, probabilities, predictor.labels)
    if write_calibration:
        from edgeemo.sidecar import write_calibration as write
        from edgeemo.train.metrics import error_calibration

        if split == "validation":
            seed, fraction = validation_split_of(model_path)
            source = f"validation split ({fraction:.0%}, seed {seed}) of {data}"
        else:
            source = f"own labelled faces in {data}"
        write(model_path, error_calibration(dataset.labels, probabilities.argmax(axis=1), predictor.labels,
                                            source + (f" with FER+ votes {Path(votes).name}" if votes else "")
                                            + (", flip TTA" if tta != "none" else "")))
    if train_data is not None:
        unseen = unseen_mask(dataset, load_faces(train_data, "train", predictor.input_size))
        report.unseen_n = int(unseen.sum())
        report.unseen_accuracy = float(np.mean(probabilities[unseen].argmax(axis=1) == dataset.labels[unseen]))
    if out is not None:
        write_report(report, model_path, dataset.summary(), predictor.kind, out, (dataset.labels, probabilities))
    return report


def _quantification(model_path: Path, dataset: FaceDataset, probabilities: np.ndarray, labels) -> dict:
    """Simulated store-days from these faces, corrected with the calibration in the model's sidecar."""
    from edgeemo.estimates import Calibration
    from edgeemo.sidecar import sidecar_path
    from edgeemo.train.quantify import NOTE, quantify

    stored = read_sidecar(model_path).calibration if sidecar_path(model_path).exists() else None
    calibration = Calibration.from_dict(stored) if stored and tuple(stored["labels"]) == tuple(labels) else None
    rows = quantify(dataset.labels, probabilities.argmax(axis=1), labels, calibration)
    return {"rows": rows, "note": NOTE,
            "calibration": stored["source"] if stored is not None and calibration is not None else "none in the sidecar: "
            "`corrected` is the raw count (edgeemo evaluate --split validation --write-calibration)"}


def validation_split_of(model_path: Path) -> tuple[int, float]:
    """(seed, fraction) of the validation split the model was chosen on, from its sidecar (a
    converted model's sidecar keeps its float model's training record under `train`)."""
    made_by = read_sidecar(model_path).made_by
    config = made_by.get("config") or made_by.get("train", {}).get("config")
    if not isinstance(config, dict) or "seed" not in config or "val_fraction" not in config:
        raise EdgeemoError(f"{model_path}: its sidecar records no training split (made_by.config seed and "
                           "val_fraction); --split validation needs a model trained by `edgeemo train`")
    return int(config["seed"]), float(config["val_fraction"])


def trained_on_subset(model_path: Path) -> bool:
    """Whether `edgeemo train --classes` made this model (its sidecar, or its source's, records the classes)."""
    from edgeemo.sidecar import sidecar_path

    if not sidecar_path(model_path).exists():
        return False
    made_by = read_sidecar(model_path).made_by
    trained = made_by["train"] if isinstance(made_by.get("train"), dict) else {}  # an int8 model: its source's
    return bool(made_by.get("classes") or trained.get("classes"))


def _faces(model_path: Path, data: str, split: str, size: tuple[int, int], votes: Path | None) -> FaceDataset:
    """The faces to score: a split of `data`, or the model's own validation split carved from it."""
    if split == "own" and Path(data).is_file():
        raise EdgeemoError(f"--split own: {data} is a file; pass the folder of label folders holding your faces")
    if split != "validation":
        return load_faces(data, split, size, votes)
    seed, fraction = validation_split_of(model_path)
    return load_split(data, fraction, seed, size, votes)[1]


def write_report(report: Report, model_path: Path, data_summary: str, kind: str, out: Path,
                 scores: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """report.json, report.md, confusion_matrix.png and, given the (true labels, probabilities) `scores`,
    roc.png: the one-vs-rest ROC curve of each class whose ROC-AUC the report prints."""
    from edgeemo.train.metrics import roc_curve
    from edgeemo.train.plots import confusion_matrix_figure, roc_curves

    out.mkdir(parents=True, exist_ok=True)
    payload = {"model": str(model_path), "model_kind": kind, "data": data_summary, **report.to_dict()}
    (out / "report.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "report.md").write_text(render_text(report, model_path, data_summary) + "\n")
    labels = [c.label for c in report.per_class]
    confusion_matrix_figure(report.confusion, labels, out / "confusion_matrix.png", model_path.name)
    if scores is not None:
        truth, probabilities = scores
        curves = {c.label: (*roc_curve(truth == i, probabilities[:, i]), c.roc_auc)
                  for i, c in enumerate(report.per_class) if c.roc_auc is not None}
        roc_curves(curves, f"{model_path.name}: one class against the rest", out / "roc.png")


def render_text(report: Report, model_path: Path, data_summary: str) -> str:
    return "\n".join([
        f"model: {model_path}",
        f"data:  {data_summary}",
        "",
        f"accuracy  {report.accuracy:.4f}  ({round(report.accuracy * report.n)}/{report.n})",
        f"macro-F1  {report.macro_f1:.4f}",
        *([f"unseen    {report.unseen_accuracy:.4f}  on the {report.unseen_n} faces with no copy in the training data"]
          if report.unseen_n is not None else []),
        "",
        report.table(),
        *(["", "as a store camera shows the faces (shrunk to each width, enlarged by the runtime's resize):", "",
            render_sizes(report.sizes)] if report.sizes is not None else []),
    ])

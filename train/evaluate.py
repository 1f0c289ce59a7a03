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
from edgeemo.train.predictors import Predictor, load_predictor
from edgeemo.tta import predict_with_tta


def predict_all(predictor: Predictor, faces: np.ndarray, batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Probabilities for every face, in batches, with a progress bar on long runs."""
    chunks = []
    for start in tqdm(range(0, len(faces), batch_size), desc="evaluating", unit="batch",
                      disable=not progress or len(faces) <= batch_size, leave=False):
        chunks.append(predictor.predict(faces[start : start + batch_size]))
    return np.concatenate(chunks)


def evaluate(model_path: Path, data: str, split: str = "test", out: Path | None = None,
             progress: bool = True, votes: Path | None = None, train_data: str | None = None,
             tta: str = "none") -> Report:
    """Evaluate on `data`; with `train_data`, also on the faces that have no copy in it (FER-2013's
    PublicTest holds 280 pixel-identical copies of training images)."""
    predictor = load_predictor(model_path)
    dataset = _faces(model_path, data, split, predictor.input_size, votes).for_model(predictor.labels, model_path)
    if tta != "none":
        plain = predictor.predict
        predictor.predict = lambda faces: predict_with_tta(plain, faces, tta)
    probabilities = predict_all(predictor, dataset.images, progress=progress)
    report = classification_report(dataset.labels, probabilities, predictor.labels)
    if train_data is not None:
        unseen = unseen_mask(dataset, load_faces(train_data, "train", predictor.input_size))
        report.unseen_n = int(unseen.sum())
        report.unseen_accuracy = float(np.mean(probabilities[unseen].argmax(axis=1) == dataset.labels[unseen]))
    if out is not None:
        write_report(report, model_path, dataset.summary(), predictor.kind, out)
    return report


def validation_split_of(model_path: Path) -> tuple[int, float]:
    """(seed, fraction) of the validation split the model was chosen on, from its sidecar (a
    converted model's sidecar keeps its float model's training record under `train`)."""
    made_by = read_sidecar(model_path).made_by
    config = made_by.get("config") or made_by.get("train", {}).get("config")
    if not isinstance(config, dict) or "seed" not in config or "val_fraction" not in config:
        raise EdgeemoError(f"{model_path}: its sidecar records no training split (made_by.config seed and "
                           "val_fraction); --split validation needs a model trained by `edgeemo train`")
    return int(config["seed"]), float(config["val_fraction"])


def _faces(model_path: Path, data: str, split: str, size: tuple[int, int], votes: Path | None) -> FaceDataset:
    """The faces to score: a split of `data`, or the model's own validation split carved from it."""
    if split != "validation":
        return load_faces(data, split, size, votes)
    seed, fraction = validation_split_of(model_path)
    return load_split(data, fraction, seed, size, votes)[1]


def write_report(report: Report, model_path: Path, data_summary: str, kind: str, out: Path) -> None:
    """report.json, report.md and confusion_matrix.png in `out`."""
    from edgeemo.train.plots import confusion_matrix_figure

    out.mkdir(parents=True, exist_ok=True)
    payload = {"model": str(model_path), "model_kind": kind, "data": data_summary, **report.to_dict()}
    (out / "report.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "report.md").write_text(render_text(report, model_path, data_summary) + "\n")
    labels = [c.label for c in report.per_class]
    confusion_matrix_figure(report.confusion, labels, out / "confusion_matrix.png", model_path.name)


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
    ])

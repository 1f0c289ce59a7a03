"""`edgeemo evaluate`: accuracy, macro-F1, per-class table, confusion matrix and ROC-AUC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgeemo.train.data import load_faces
from edgeemo.train.metrics import Report, classification_report
from edgeemo.train.predictors import Predictor, load_predictor


def predict_all(predictor: Predictor, faces: np.ndarray, batch_size: int = 256, progress: bool = True) -> np.ndarray:
    """Probabilities for every face, in batches, with a progress bar on long runs."""
    chunks = []
    for start in tqdm(range(0, len(faces), batch_size), desc="evaluating", unit="batch",
                      disable=not progress or len(faces) <= batch_size, leave=False):
        chunks.append(predictor.predict(faces[start : start + batch_size]))
    return np.concatenate(chunks)


def evaluate(model_path: Path, data: str, split: str = "test", out: Path | None = None,
             progress: bool = True) -> Report:
    predictor = load_predictor(model_path)
    dataset = load_faces(data, split, predictor.input_size)
    probabilities = predict_all(predictor, dataset.images, progress=progress)
    report = classification_report(dataset.labels, probabilities, predictor.labels)
    if out is not None:
        write_report(report, model_path, dataset.summary(), predictor.kind, out)
    return report


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
        "",
        report.table(),
    ])

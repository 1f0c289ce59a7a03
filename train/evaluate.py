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
             sizes: tuple[int, ...] = (), jpeg: int | None = None, cross_fit: int = 0,
             unseen_only: bool = False, chain: str | None = None, boxes: str = "detector") -> Report:
    """Evaluate on `data`; with `train_data`, also on the faces that have no copy in it (FER-2013's
    PublicTest holds 280 pixel-identical copies of training images).

    With `write_calibration`, the model's confusion on these faces goes into its sidecar as the calibration
    source named after the split (validation, test or own; edgeemo.calibrations), beside the others; with
    `chain` (a profile name), through the whole device chain per face-size band instead. `quantify` and
    `chain` score store-days with a calibration that leaves out the source made of these faces (and, with
    `cross_fit`, adds the other folds of them)."""
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
    if unseen_only and train_data is None:
        raise EdgeemoError("--unseen-only needs --train-data (the model's training data: the copies to leave out)")
    unseen = None
    if train_data is not None:
        unseen = unseen_mask(dataset, load_faces(train_data, "train", predictor.input_size))
        report.unseen_n = int(unseen.sum())
        report.unseen_accuracy = float(np.mean(probabilities[unseen].argmax(axis=1) == dataset.labels[unseen]))
    record = _calibration_record(model_path)
    if quantify:
        report.quantification = _quantification(dataset, probabilities, predictor.labels, record, [split],
                                                cross_fit, unseen if unseen_only else None)
    if chain is not None and not write_calibration:
        from edgeemo.sim.evaluate import chain_report

        report.chain = chain_report(model_path, dataset.images, dataset.labels, tuple(predictor.labels),
                                    chain or "far", boxes, record, [split], cross_fit)
    if write_calibration:
        _write_calibration(model_path, dataset, probabilities, predictor.labels, record, split, data, votes, tta,
                           chain is not None)
    if out is not None:
        write_report(report, model_path, dataset.summary(), predictor.kind, out, (dataset.labels, probabilities))
    return report


def _calibration_record(model_path: Path) -> dict | None:
    from edgeemo.sidecar import sidecar_path

    return read_sidecar(model_path).calibration if sidecar_path(model_path).exists() else None


def _write_calibration(model_path: Path, dataset: FaceDataset, probabilities: np.ndarray, labels, record: dict | None,
                       split: str, data: str, votes: Path | None, tta: str, chain: bool) -> None:
    """The calibration source `split` (validation, test, own) measured on these faces, into the sidecar."""
    from edgeemo.calibrations import check_enough, merge_source
    from edgeemo.sidecar import write_calibration as write
    from edgeemo.train.metrics import confusion_matrix

    if split == "train":
        raise EdgeemoError("--write-calibration never measures on the faces the model trained on: use --split "
                           "validation, test or own")
    if split == "validation":
        seed, fraction = validation_split_of(model_path)
        about = f"validation split ({fraction:.0%}, seed {seed}) of {data}"
    elif split == "own":
        about = f"own labelled faces in {data}"
    else:
        about = f"{split} split of {data}"
    about += (f" with FER+ votes {Path(votes).name}" if votes else "") + (", flip TTA" if tta != "none" else "")
    if chain:
        from edgeemo.sim.evaluate import calibrate_chain

        record, _ = calibrate_chain(model_path, dataset.images, dataset.labels, tuple(labels), record, split, about)
        write(model_path, record)
        return
    counts = confusion_matrix(dataset.labels, probabilities.argmax(axis=1), len(labels))
    check_enough(counts, labels, f"--write-calibration on {data}")
    write(model_path, merge_source(record, labels, split, {"counts": counts.tolist(), "faces": int(counts.sum()),
                                                          "about": about}, about))


def _quantification(dataset: FaceDataset, probabilities: np.ndarray, labels, record: dict | None, skip: list[str],
                    folds: int, scored: np.ndarray | None) -> dict:
    """Simulated store-days from these faces, corrected with the sidecar's calibration but the sources made of
    these faces; with `folds`, cross-fitted: those sources plus the other folds of these faces."""
    from edgeemo.calibrations import sources_of, still_calibration
    from edgeemo.train.quantify import NOTE, CrossFit, quantify

    predicted = probabilities.argmax(axis=1)
    note = NOTE + ("; store-days drawn only from faces with no pixel-identical copy in the training data"
                   if scored is not None else "")
    kept = {k: v for k, v in sources_of(record).items() if k not in skip}
    if folds:
        cross_fit = CrossFit(tuple(np.asarray(v["counts"], float) for v in kept.values()), folds)
        rows = quantify(dataset.labels, predicted, labels, None, cross_fit=cross_fit, scored=scored)
        named = ", ".join(f"{k} ({int(np.asarray(v['counts']).sum())} faces)" for k, v in kept.items())
        return {"rows": rows, "note": note, "calibration": (
            f"cross-fitted: each of {folds} folds of these faces corrected with the sidecar's calibration sources "
            f"{named or '(none)'} and the other folds, {cross_fit.repeats} seeded splits")}
    calibration = still_calibration(record, skip)
    if calibration is not None and tuple(calibration.labels) != tuple(labels):
        calibration = None
    rows = quantify(dataset.labels, predicted, labels, calibration, scored=scored)
    return {"rows": rows, "note": note,
            "calibration": (f"the sidecar's sources {', '.join(kept) or '(version 1)'}" if calibration is not None
                            else "none usable in the sidecar: `corrected` is the raw count (edgeemo evaluate "
                            "--split validation --write-calibration)")}


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
    trained = made_by.get("train")  # an int8 model: its source's
    return bool(made_by.get("classes") or (isinstance(trained, dict) and trained.get("classes")))


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

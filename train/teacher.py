"""Distillation targets: a teacher's outputs for the training faces, written once, read by any student.

`edgeemo teacher-targets` runs a trained model (or one trained elsewhere, e.g. on a GPU, and
brought back as this file) over every face of the training data and writes an .npz of
`keys` (each face's `<label>/<file>`), `probs` (N, classes) and `labels` (the column names).
`edgeemo train --teacher-targets FILE` mixes them into each training face's target, so a
student can be retrained without the teacher.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.train.data import FaceDataset


def write_teacher_targets(model_path: Path, data: str, out: Path, tta: str = "flip", progress: bool = True) -> int:
    """Write the teacher's probabilities for every face of `data`'s training folder; returns the count."""
    from edgeemo.train.data import load_faces
    from edgeemo.train.evaluate import predict_all
    from edgeemo.train.predictors import load_predictor, with_tta

    predictor = with_tta(load_predictor(model_path), tta)
    faces = load_faces(data, "train", predictor.input_size)
    if faces.keys is None:
        raise EdgeemoError(f"{data}: teacher targets are matched to image files: use the Kaggle folder layout")
    probs = predict_all(predictor, faces.images, progress=progress).astype(np.float32)
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:  # np.savez on a path would append .npz to the temporary name
            np.savez_compressed(handle, keys=np.asarray(faces.keys, dtype=str), probs=probs,
                                labels=np.asarray(predictor.labels, dtype=str), model=np.asarray(str(model_path)),
                                tta=np.asarray(tta))
        tmp.replace(out)
    except OSError as exc:
        raise EdgeemoError(f"--out {out}: cannot write the teacher targets there ({exc.strerror or exc})") from None
    return len(probs)


def read_teacher_targets(path: str | Path, dataset: FaceDataset, temperature: float = 1.0) -> np.ndarray:
    """The teacher's probabilities for each face of `dataset`, in its label order: (N, classes).

    The teacher may know more labels than the student (a subset student takes those columns,
    renormalised); it must cover every face and every student label.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            keys, probs, labels = stored["keys"], stored["probs"], tuple(str(n) for n in stored["labels"])
    except FileNotFoundError:
        raise EdgeemoError(f"--teacher-targets {path}: no such file; write it with `edgeemo teacher-targets`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # TypeError: a 0-d array where a list belongs
        raise EdgeemoError(f"--teacher-targets {path}: not a teacher-targets file ({exc}); write it with "
                           "`edgeemo teacher-targets`") from None
    if probs.ndim != 2 or probs.shape != (len(keys), len(labels)) or not np.issubdtype(probs.dtype, np.floating):
        raise EdgeemoError(f"--teacher-targets {path}: probs of shape {probs.shape} do not match {len(keys)} keys "
                           f"and {len(labels)} labels")
    if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise EdgeemoError(f"--teacher-targets {path}: probabilities must be finite, non-negative and sum to 1 "
                           "per face; rewrite the file with `edgeemo teacher-targets`")
    missing_labels = [name for name in dataset.names if name not in labels]
    if missing_labels:
        raise EdgeemoError(f"--teacher-targets {path}: the teacher has no {missing_labels[0]!r} output (its labels: "
                           f"{', '.join(labels)}); use a teacher trained on the student's labels")
    if dataset.keys is None:
        raise EdgeemoError(f"{dataset.source}: teacher targets are matched to image files: use the folder layout")
    row_of = {key: row for row, key in enumerate(keys.tolist())}
    absent = [key for key in dataset.keys if key not in row_of]
    if absent:
        raise EdgeemoError(f"--teacher-targets {path}: no teacher output for {len(absent)} training face(s), e.g. "
                           f"{absent[0]}; was it written for this --data?")
    rows = np.array([row_of[key] for key in dataset.keys], dtype=np.int64)
    columns = np.array([labels.index(name) for name in dataset.names], dtype=np.int64)
    chosen = probs[rows][:, columns].astype(np.float64)
    if temperature != 1.0:
        chosen = np.power(np.maximum(chosen, 1e-12), 1.0 / temperature)
    totals = chosen.sum(axis=1, keepdims=True)
    if (totals <= 0).any():  # a subset student whose classes the teacher gave no mass at all
        raise EdgeemoError(f"--teacher-targets {path}: the teacher gives {', '.join(dataset.names)} zero probability "
                           "for some faces; it cannot teach this subset")
    return (chosen / totals).astype(np.float32)


def teacher_provenance(path: str | Path) -> dict[str, str]:
    """What a student's sidecar records of its teacher: the file, its sha256, the model and TTA that wrote it."""
    from edgeemo.sidecar import file_sha256

    path = Path(path)
    with np.load(path, allow_pickle=False) as stored:  # already validated by read_teacher_targets
        written_by = {name: str(stored[name]) for name in ("model", "tta") if name in stored.files}
    return {"teacher_targets": str(path), "teacher_targets_sha256": file_sha256(path),
            **{f"teacher_{name}": value for name, value in written_by.items()}}


def mixed_targets(label_targets: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """Each face's training target: (1 - weight) x its labels' target + weight x the teacher's."""
    if label_targets.shape != teacher.shape:
        raise ValueError(f"teacher targets {teacher.shape} do not match the labels' {label_targets.shape}")
    return ((1.0 - weight) * label_targets + weight * teacher).astype(np.float32)

"""Calibration sets: class-balanced, seeded samples of real training faces for int8 PTQ.

Stored as `NAME.npz` (faces uint8 (N, H, W), labels uint8) with a manifest `NAME.json`
beside it (source, selection, class counts, and the npz's sha256). Faces come from the
training part of the same seeded split `edgeemo train` uses, so the held-out validation
faces stay unseen for the drift gate; test faces are never used.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeemo.errors import EdgeemoError, first_line
from edgeemo.labels import LABELS
from edgeemo.sidecar import file_sha256


@dataclass
class CalibrationSet:
    faces: np.ndarray  # (N, H, W) uint8
    labels: np.ndarray  # (N,) label indices
    manifest: dict

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.faces.shape[1]), int(self.faces.shape[2])


def balanced_sample(labels: np.ndarray, n: int, seed: int, num_classes: int = len(LABELS)) -> np.ndarray:
    """Indices of up to `n` items, as equal per class as the class sizes allow."""
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    taken = [0] * num_classes
    remaining = min(n, len(labels))
    while remaining > 0:  # round-robin over classes that still have faces
        open_classes = [c for c in range(num_classes) if taken[c] < len(pools[c])]
        share = max(1, remaining // len(open_classes))
        for c in open_classes:
            grab = min(share, len(pools[c]) - taken[c], remaining)
            taken[c] += grab
            remaining -= grab
            if remaining == 0:
                break
    return np.sort(np.concatenate([pool[:k] for pool, k in zip(pools, taken)]))


def manifest_path(npz_path: Path) -> Path:
    return npz_path.with_suffix(".json")


def save_calibration_set(path: Path, faces: np.ndarray, labels: np.ndarray, manifest: dict,
                         names: tuple[str, ...] = LABELS) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, faces=faces.astype(np.uint8), labels=labels.astype(np.uint8))
    counts = np.bincount(labels, minlength=len(names))
    full = {
        **manifest,
        "n": len(labels),
        "input_shape": [int(faces.shape[1]), int(faces.shape[2]), 1],
        "labels": list(names),
        "class_counts": {label: int(k) for label, k in zip(names, counts)},
        "file": path.name,
        "sha256": file_sha256(path),
    }
    manifest_path(path).write_text(json.dumps(full, indent=2) + "\n")
    return full


def _read_manifest(path: Path) -> dict:
    """The manifest beside a calibration set; without it (or its sha256) tampering would go unnoticed."""
    where = manifest_path(path)
    if not where.is_file():
        raise EdgeemoError(f"{path}: its manifest {where.name} is missing, so the set cannot be checked; "
                           "rebuild it with `edgeemo calibrate`")
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgeemoError(f"{where}: not a readable calibration manifest ({first_line(exc)})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise EdgeemoError(f"{where}: not a calibration manifest (a JSON object with the set's sha256); "
                           "rebuild it with `edgeemo calibrate`")
    return manifest


def load_calibration_set(path: Path) -> CalibrationSet:
    """Load and check a calibration set; missing, corrupt, empty or misshapen files are errors."""
    if not path.is_file():
        raise EdgeemoError(f"{path}: no such calibration set; build one with `edgeemo calibrate`")
    manifest = _read_manifest(path)
    if manifest["sha256"] != file_sha256(path):
        raise EdgeemoError(f"{path}: sha256 does not match its manifest {manifest_path(path).name}; the set was "
                           "changed or replaced: rebuild it with `edgeemo calibrate`")
    try:
        with np.load(path, allow_pickle=False) as archive:
            faces, labels = archive["faces"], archive["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgeemoError(f"{path}: not a calibration set (.npz with 'faces' and 'labels'): {exc}") from exc
    if faces.ndim != 3 or faces.dtype != np.uint8:
        raise EdgeemoError(f"{path}: faces must be uint8 (N, H, W), got {faces.dtype} {faces.shape}")
    if len(faces) == 0:
        raise EdgeemoError(f"{path}: the calibration set is empty")
    if labels.shape != (len(faces),):
        raise EdgeemoError(f"{path}: {len(labels)} labels for {len(faces)} faces")
    return CalibrationSet(faces, labels.astype(np.int64), manifest)

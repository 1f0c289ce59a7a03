"""FER data in the two forms users have: Kaggle folders and the original fer2013.csv.

Both loaders return a `FaceDataset` of uint8 faces already at the model's input size,
produced by the shared `face_input` so training sees exactly what the edge runtime feeds.
Uncached, the 28,709 training JPEGs decode in under two seconds, so there is no cache.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.labels import FER_CSV_ID_TO_LABEL, LABELS, NUM_CLASSES
from edgeemo.preprocess import face_input

log = logging.getLogger(__name__)

CSV_USAGE = {"train": "Training", "test": "PublicTest", "private": "PrivateTest"}
REQUIRED_CSV_COLUMNS = ("emotion", "pixels", "Usage")


@dataclass
class FaceDataset:
    """Faces (N, H, W) uint8 and their label indices (N,) in `LABELS` order."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)

    def subset(self, indices: np.ndarray) -> FaceDataset:
        return FaceDataset(self.images[indices], self.labels[indices], self.source, 0)

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in zip(LABELS, self.class_counts()))
        skipped = f"; skipped {self.skipped} unreadable file(s)" if self.skipped else ""
        return f"{self.source}: {len(self)} faces ({counts}){skipped}"


def load_faces(path: str | Path, split: str = "train", size: tuple[int, int] = (48, 48)) -> FaceDataset:
    """Load a Kaggle folder tree or a fer2013.csv.

    For a CSV, `split` picks the Usage (train=Training, test=PublicTest,
    private=PrivateTest). For a folder that holds `train/` and `test/` rather than label
    folders, `split` picks the subfolder.
    """
    path = Path(path)
    if not path.exists():
        raise EdgeemoError(f"{path}: no such file or directory; pass a FER folder tree or fer2013.csv")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise EdgeemoError(f"{path}: expected a folder of label subfolders or a .csv file")
        dataset = _load_csv(path, CSV_USAGE[split], size)
    else:
        dataset = _load_folders(_label_root(path, split), size)
    if len(dataset) == 0:
        raise EdgeemoError(f"{path}: no faces found (split {split!r}); check the path and layout")
    if dataset.skipped:
        log.warning("%s: skipped %d unreadable or corrupt file(s)", path, dataset.skipped)
    return dataset


def _label_root(path: Path, split: str) -> Path:
    """The folder whose subfolders are labels: `path` itself, or `path/<split>`."""
    subdirs = {p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if subdirs & set(LABELS):
        return path
    if split in subdirs:
        return path / split
    raise EdgeemoError(
        f"{path}: no label folders ({', '.join(LABELS)}) and no {split}/ folder; "
        "expected the Kaggle layout <split>/<label>/<image>"
    )


def _load_folders(root: Path, size: tuple[int, int]) -> FaceDataset:
    label_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in label_dirs if p.name not in LABELS]
    if unknown:
        raise EdgeemoError(
            f"{root / unknown[0]}: unknown label folder {unknown[0]!r}; expected only {', '.join(LABELS)}"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped = 0
    for label_dir in label_dirs:
        label = LABELS.index(label_dir.name)
        for file in sorted(label_dir.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            image = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
            if image is None or image.size == 0:
                skipped += 1
                continue
            images.append(face_input(image, size))
            labels.append(label)
    return _as_dataset(images, labels, str(root), skipped, size)


def _load_csv(path: Path, usage: str, size: tuple[int, int]) -> FaceDataset:
    images: list[np.ndarray] = []
    labels: list[int] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EdgeemoError(
                f"{path}:1: missing column(s) {', '.join(missing)}; expected emotion,pixels,Usage"
            )
        for row in reader:
            if (row.get("Usage") or "").strip() != usage:
                continue
            line = reader.line_num
            label, face = _parse_csv_row(row, f"{path}:{line}")
            images.append(face_input(face, size))
            labels.append(label)
    return _as_dataset(images, labels, f"{path} ({usage})", 0, size)


def _parse_csv_row(row: dict[str, str | None], where: str) -> tuple[int, np.ndarray]:
    try:
        emotion_id = int(row["emotion"] or "")
    except ValueError:
        raise EdgeemoError(f"{where}: emotion {row['emotion']!r} is not an integer 0-6") from None
    if emotion_id not in FER_CSV_ID_TO_LABEL:
        raise EdgeemoError(f"{where}: emotion id {emotion_id} is outside 0-6")
    try:  # np.fromstring's text mode parses a row ~4x faster than split() + np.array
        pixels = np.fromstring(row["pixels"] or "", dtype=np.int32, sep=" ")
    except ValueError:
        raise EdgeemoError(f"{where}: pixels must be space-separated integers") from None
    side = math.isqrt(pixels.size)
    if pixels.size == 0 or side * side != pixels.size:
        raise EdgeemoError(f"{where}: {pixels.size} pixels is not a square image (48x48 = 2304)")
    if pixels.min() < 0 or pixels.max() > 255:
        raise EdgeemoError(f"{where}: pixel values must be 0-255")
    face = pixels.astype(np.uint8).reshape(side, side)
    return LABELS.index(FER_CSV_ID_TO_LABEL[emotion_id]), face


def _as_dataset(
    images: list[np.ndarray], labels: list[int], source: str, skipped: int, size: tuple[int, int]
) -> FaceDataset:
    stacked = np.stack(images) if images else np.zeros((0, *size), dtype=np.uint8)
    return FaceDataset(stacked, np.asarray(labels, dtype=np.int64), source, skipped)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: (keep_indices, held_out_indices), held-out ~`fraction` of each class."""
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_held = round(len(members) * fraction)
        if len(members) > 1:
            n_held = min(max(n_held, 1), len(members) - 1)
        held.append(members[:n_held])
        keep.append(members[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))

"""FER data in the two forms users have: Kaggle folders and the original fer2013.csv.

Both loaders return a `FaceDataset` of uint8 faces already at the model's input size,
produced by the shared `face_input` so training sees exactly what the edge runtime feeds.
Uncached, the 28,709 training JPEGs decode in under two seconds, so there is no cache.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeemo.errors import EdgeemoError
from edgeemo.labels import FER_CSV_ID_TO_LABEL, FERPLUS_LABELS, LABELS
from edgeemo.preprocess import face_input

log = logging.getLogger(__name__)

CSV_USAGE = {"train": "Training", "test": "PublicTest", "private": "PrivateTest"}
REQUIRED_CSV_COLUMNS = ("emotion", "pixels", "Usage")


@dataclass
class FaceDataset:
    """Faces (N, H, W) uint8 and their label indices (N,) in `names` order.

    `targets` holds soft targets (N, classes) when the labels come with a distribution
    (FER+ votes); `keys` names each face's file (`<label folder>/<file>`) when it has one.
    """

    images: np.ndarray
    labels: np.ndarray
    source: str
    skipped: int = 0
    names: tuple[str, ...] = LABELS
    targets: np.ndarray | None = None
    keys: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names))

    def subset(self, indices: np.ndarray) -> FaceDataset:
        return FaceDataset(self.images[indices], self.labels[indices], self.source, 0, self.names,
                           None if self.targets is None else self.targets[indices],
                           None if self.keys is None else self.keys[indices])

    def only(self, classes: tuple[str, ...]) -> FaceDataset:
        """The faces labelled one of `classes`, relabelled in that order (soft targets cut to those
        columns and renormalised): a subset or binary model's data."""
        unknown = [name for name in classes if name not in self.names]
        if unknown:
            raise EdgeemoError(f"--classes: {unknown[0]!r} is not a label of {self.source} "
                               f"(its labels: {', '.join(self.names)})")
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise EdgeemoError(f"--classes {','.join(classes)}: name two or more different labels")
        columns = np.array([self.names.index(name) for name in classes], dtype=np.int64)
        new_index = np.full(len(self.names), -1, dtype=np.int64)
        new_index[columns] = np.arange(len(classes))
        keep = np.flatnonzero(new_index[self.labels] >= 0)
        if len(keep) == 0:
            raise EdgeemoError(f"--classes {','.join(classes)}: {self.source} holds no face of these labels")
        targets = None
        if self.targets is not None:  # the majority is one of `classes`, so each row keeps some mass
            targets = self.targets[keep][:, columns].astype(np.float32)
            targets /= targets.sum(axis=1, keepdims=True)
        return FaceDataset(self.images[keep], new_index[self.labels[keep]], f"{self.source} ({', '.join(classes)} only)",
                           self.skipped, tuple(classes), targets, None if self.keys is None else self.keys[keep])

    def for_model(self, model_labels: tuple[str, ...] | list[str], model: str | Path = "the model",
                  subset: bool = False) -> FaceDataset:
        """The same faces with label indices in the model's output order (the model may know more labels).

        `subset`: the model was trained on a subset of the labels (`edgeemo train --classes`), so it
        is scored on the faces of its own labels only; any other model must know every label here.
        """
        model_labels = tuple(model_labels)
        if model_labels == self.names:
            return self
        if subset and set(model_labels) < set(self.names):
            return self.only(model_labels)
        missing = [name for name in self.names if name not in model_labels]
        if missing:
            raise EdgeemoError(f"{model}: its labels ({', '.join(model_labels)}) lack {', '.join(missing)} of "
                               f"{self.source}; FER+ data (--votes) needs an 8-class model, and back")
        order = np.array([model_labels.index(name) for name in self.names], dtype=np.int64)
        targets = None
        if self.targets is not None:
            targets = np.zeros((len(self), len(model_labels)), np.float32)
            targets[:, order] = self.targets
        return FaceDataset(self.images, order[self.labels], self.source, self.skipped, model_labels, targets,
                           self.keys)

    def pixel_hashes(self) -> list[bytes]:
        """A digest of each face's pixels: equal for the pixel-identical copies FER-2013 holds."""
        return [hashlib.blake2b(face.tobytes(), digest_size=16).digest() for face in self.images]

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in zip(self.names, self.class_counts()))
        skipped = f"; skipped {self.skipped} unreadable file(s)" if self.skipped else ""
        return f"{self.source}: {len(self)} faces ({counts}){skipped}"


def load_faces(path: str | Path, split: str = "train", size: tuple[int, int] = (48, 48),
               votes: str | Path | None = None) -> FaceDataset:
    """Load a Kaggle folder tree or a fer2013.csv.

    For a CSV, `split` picks the Usage (train=Training, test=PublicTest,
    private=PrivateTest). For a folder that holds `train/` and `test/` rather than label
    folders, `split` picks the subfolder. With `votes` (FER+'s ferplus_votes.csv), the
    labels become the FER+ majority labels (8 classes) with the vote distributions as soft
    targets, and images without a majority are dropped.
    """
    path = Path(path)
    if not path.exists():
        raise EdgeemoError(f"{path}: no such file or directory; pass a FER folder tree or fer2013.csv")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise EdgeemoError(f"{path}: expected a folder of label subfolders or a .csv file")
        if votes is not None:
            raise EdgeemoError(f"--votes only work with the Kaggle folder layout ({path} is a CSV): FER+ votes are "
                               "matched to image files")
        dataset = _load_csv(path, CSV_USAGE[split], size)
    else:
        dataset = _load_folders(_label_root(path, split), size)
    if len(dataset) == 0:
        raise EdgeemoError(f"{path}: no faces found (split {split!r}); check the path and layout")
    if dataset.skipped:
        log.warning("%s: skipped %d unreadable or corrupt file(s)", path, dataset.skipped)
    if votes is not None:
        dataset = with_ferplus_votes(dataset, Path(votes))
    return dataset


def with_ferplus_votes(dataset: FaceDataset, votes_path: Path) -> FaceDataset:
    """The faces FER+'s majority protocol keeps, labelled by it, with vote distributions as targets."""
    from edgeemo.train.ferplus import majority_label, read_votes, vote_distribution

    votes = read_votes(votes_path)
    assert dataset.keys is not None, "folder datasets carry file keys"
    missing = [key for key in dataset.keys if key not in votes]
    if missing:
        raise EdgeemoError(f"{votes_path}: no votes for {len(missing)} image(s) of {dataset.source}, "
                           f"e.g. {missing[0]}; is it the vote file of this data?")
    kept, labels, targets = [], [], []
    for index, key in enumerate(dataset.keys):
        label = majority_label(votes[key])
        if label is None:
            continue
        kept.append(index)
        labels.append(label)
        targets.append(vote_distribution(votes[key]))
    chosen = np.asarray(kept, dtype=np.int64)
    log.info("%s: FER+ majority keeps %d of %d faces (unknown or not a face: %d dropped)",
             dataset.source, len(kept), len(dataset), len(dataset) - len(kept))
    return FaceDataset(dataset.images[chosen], np.asarray(labels, dtype=np.int64),
                       f"{dataset.source} with FER+ votes ({votes_path.name})", dataset.skipped, FERPLUS_LABELS,
                       np.stack(targets) if targets else np.zeros((0, len(FERPLUS_LABELS)), np.float32),
                       dataset.keys[chosen])


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
    keys: list[str] = []
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
            keys.append(f"{label_dir.name}/{file.name}")
    dataset = _as_dataset(images, labels, str(root), skipped, size)
    dataset.keys = np.asarray(keys, dtype=object)
    return dataset


def _load_csv(path: Path, usage: str, size: tuple[int, int]) -> FaceDataset:
    images: list[np.ndarray] = []
    labels: list[int] = []
    line = 1
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise EdgeemoError(
                    f"{path}:1: missing column(s) {', '.join(missing)}; expected emotion,pixels,Usage"
                )
            for row in reader:
                line = reader.line_num
                absent = [c for c in REQUIRED_CSV_COLUMNS if row.get(c) is None]
                if absent:
                    raise EdgeemoError(f"{path}:{line}: the row has no {', '.join(absent)} field(s); "
                                       "expected emotion,pixels,Usage")
                if (row["Usage"] or "").strip() != usage:
                    continue
                label, face = _parse_csv_row(row, f"{path}:{line}")
                images.append(face_input(face, size))
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise EdgeemoError(f"{path}: not UTF-8 text after line {line} ({exc.reason}); is it fer2013.csv?") from exc
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise EdgeemoError(f"{path}:{line + 1}: malformed CSV ({exc})") from exc
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


def honest_split(dataset: FaceDataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The stratified split, then every validation face with a pixel-identical copy in the
    training part moves to training: validation holds no copy of a training image.

    Moving (rather than re-drawing) keeps each earlier run's training part a subset of this
    one's, so models trained on the plain stratified split are still honestly validated.
    """
    train_idx, val_idx = stratified_split(dataset.labels, fraction, seed)
    hashes = dataset.pixel_hashes()
    in_train = {hashes[i] for i in train_idx}
    copies = np.array([hashes[i] in in_train for i in val_idx], dtype=bool)
    if copies.any():
        log.info("split: %d validation face(s) are copies of training faces; moved to training", int(copies.sum()))
    return np.sort(np.concatenate([train_idx, val_idx[copies]])), val_idx[~copies]


def load_split(data: str | Path, fraction: float, seed: int, size: tuple[int, int] = (48, 48),
               votes: str | Path | None = None) -> tuple[FaceDataset, FaceDataset]:
    """(training part, validation part) of a training set, as `edgeemo train` splits it.

    The split is drawn on the images and their FER-2013 labels before any FER+ votes are
    applied, so a FER+ model and a FER-2013 model share one validation set of faces, and a
    model fine-tuned from the other never validates on faces its start trained on.
    """
    images = load_faces(data, "train", size)
    train_idx, val_idx = honest_split(images, fraction, seed)
    train_set, val_set = images.subset(train_idx), images.subset(val_idx)
    if votes is not None:
        train_set, val_set = with_ferplus_votes(train_set, Path(votes)), with_ferplus_votes(val_set, Path(votes))
    return train_set, val_set


def unseen_mask(dataset: FaceDataset, seen: FaceDataset) -> np.ndarray:
    """True for each face of `dataset` with no pixel-identical copy in `seen` (e.g. test vs train)."""
    known = set(seen.pixel_hashes())
    return np.array([digest not in known for digest in dataset.pixel_hashes()], dtype=bool)


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

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.errors import EdgeemoError
from edgeemo.labels import LABELS
from edgeemo.train.data import load_faces, stratified_split
from tests.conftest import synthetic_face, write_folder_dataset


def test_folder_loader_reads_every_class_in_label_order(folder_dataset: Path) -> None:
    data = load_faces(folder_dataset)
    assert data.images.shape == (6 * len(LABELS), 48, 48)
    assert data.images.dtype == np.uint8
    assert list(data.class_counts()) == [6] * len(LABELS)
    first_happy = data.images[data.labels == LABELS.index("happy")][0]
    expected = cv2.imread(str(folder_dataset / "happy" / "happy_0.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(first_happy, expected)


def test_folder_loader_skips_and_counts_corrupt_files(folder_dataset: Path, caplog) -> None:
    (folder_dataset / "angry" / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder_dataset / "sad" / "notes.txt").write_text("hello")
    data = load_faces(folder_dataset)
    assert data.skipped == 2
    assert len(data) == 6 * len(LABELS)
    assert "skipped 2 unreadable" in caplog.text


def test_folder_loader_resizes_other_sizes(folder_dataset: Path) -> None:
    big = cv2.resize(synthetic_face(0, np.random.default_rng(1)), (96, 96))
    cv2.imwrite(str(folder_dataset / "angry" / "big.jpg"), big)
    data = load_faces(folder_dataset)
    assert data.images.shape[1:] == (48, 48)
    assert data.class_counts()[0] == 7


def test_dataset_root_with_split_folders(tmp_path: Path) -> None:
    write_folder_dataset(tmp_path / "fer" / "train", per_class=3)
    write_folder_dataset(tmp_path / "fer" / "test", per_class=2)
    assert len(load_faces(tmp_path / "fer", "train")) == 3 * len(LABELS)
    assert len(load_faces(tmp_path / "fer", "test")) == 2 * len(LABELS)


def test_unknown_label_folder_is_named(folder_dataset: Path) -> None:
    (folder_dataset / "contempt").mkdir()
    with pytest.raises(EdgeemoError, match="contempt"):
        load_faces(folder_dataset)


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    for label in LABELS:
        (tmp_path / label).mkdir()
    with pytest.raises(EdgeemoError, match="no faces found"):
        load_faces(tmp_path)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EdgeemoError, match="no such file or directory"):
        load_faces(tmp_path / "nope")


def _csv_row(emotion: int, face: np.ndarray, usage: str) -> str:
    return f"{emotion},{' '.join(str(int(v)) for v in face.ravel())},{usage}\n"


def test_csv_loader_maps_fer_ids_to_label_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (48, 48)) for _ in range(4)]
    path = tmp_path / "fer2013.csv"
    path.write_text(
        "emotion,pixels,Usage\n"
        + _csv_row(4, faces[0], "Training")  # 4 = sad in the CSV
        + _csv_row(6, faces[1], "Training")  # 6 = neutral in the CSV
        + _csv_row(0, faces[2], "PublicTest")
        + _csv_row(5, faces[3], "PrivateTest")
    )
    train = load_faces(path, "train")
    assert [LABELS[i] for i in train.labels] == ["sad", "neutral"]
    assert np.array_equal(train.images[0], faces[0].astype(np.uint8))
    assert [LABELS[i] for i in load_faces(path, "test").labels] == ["angry"]
    assert [LABELS[i] for i in load_faces(path, "private").labels] == ["surprise"]


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ("3,1 2 3,Training\n", "not a square image"),
        ("3," + " ".join(["7"] * 2303) + " x,Training\n", "space-separated integers"),
        ("9," + " ".join(["7"] * 2304) + ",Training\n", "outside 0-6"),
        ("3," + " ".join(["300"] * 2304) + ",Training\n", "0-255"),
        ("3," + " ".join(["7"] * 2304) + "\n", "no Usage field"),
        ("3\n", "no pixels, Usage field"),
    ],
)
def test_malformed_csv_row_names_file_and_line(tmp_path: Path, bad_row: str, message: str) -> None:
    good = _csv_row(3, np.zeros((48, 48)), "Training")
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + good + bad_row)
    with pytest.raises(EdgeemoError, match=rf"fer2013.csv:3: .*{message}"):
        load_faces(path, "train")


@pytest.mark.parametrize("content, message", [
    (b"emotion,pixels,Usage\n" + b"3,\xff\xfe,Training\n", "not UTF-8"),
    (("emotion,pixels,Usage\n3,\"" + "1 " * 100_000 + "\",Training\n").encode(), ":2: malformed CSV"),
])
def test_undecodable_or_oversized_csv_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_bytes(content)
    with pytest.raises(EdgeemoError, match=message):
        load_faces(path, "train")


def test_csv_without_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "faces.csv"
    path.write_text("label,pixels\n1,2 3\n")
    with pytest.raises(EdgeemoError, match="missing column"):
        load_faces(path)


def test_stratified_split_is_seeded_disjoint_and_per_class() -> None:
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 500, 480, 310])
    keep, held = stratified_split(labels, 0.1, seed=3)
    assert len(np.intersect1d(keep, held)) == 0
    assert len(keep) + len(held) == len(labels)
    held_counts = np.bincount(labels[held], minlength=7)
    assert list(held_counts) == [40, 4, 40, 70, 50, 48, 31]
    _again_keep, again_held = stratified_split(labels, 0.1, seed=3)
    assert np.array_equal(held, again_held)
    assert not np.array_equal(held, stratified_split(labels, 0.1, seed=4)[1])

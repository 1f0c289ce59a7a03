"""FER+ votes: FER+'s own majority protocol, vote distributions, and honest (de-duplicated) splits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.errors import EdgeemoError
from edgeemo.labels import FERPLUS_LABELS, LABELS
from edgeemo.train.data import honest_split, load_faces, load_split, unseen_mask
from edgeemo.train.ferplus import VOTE_COLUMNS, majority_label, read_votes, vote_distribution
from tests.conftest import synthetic_face, write_folder_dataset

HEADER = "file,usage," + ",".join(VOTE_COLUMNS)


def votes(**counts: int) -> np.ndarray:
    return np.array([counts.get(column, 0) for column in VOTE_COLUMNS])


@pytest.mark.parametrize("counts, expected", [
    ({"happiness": 6, "neutral": 4}, "happy"),                 # a clear majority
    ({"happiness": 5, "neutral": 5}, None),                    # a tie is no majority
    ({"happiness": 5, "neutral": 4, "fear": 1}, "happy"),      # the single fear vote is an outlier: 5 of 9 > half
    ({"anger": 4, "sadness": 3, "fear": 3}, None),             # 4 of 10 is not more than half
    ({"contempt": 7, "disgust": 3}, "contempt"),               # the eighth class
    ({"unknown": 6, "happiness": 4}, None),                    # unknown wins: dropped
    ({"NF": 10}, None),                                        # not a face: dropped
    ({"surprise": 5, "fear": 4}, "surprise"),                  # votes summing to 9 (FER+ row 10435)
    ({"neutral": 1, "happiness": 1, "sadness": 1}, None),      # only outliers: nothing left
])
def test_majority_follows_ferplus_protocol(counts: dict, expected: str | None) -> None:
    label = majority_label(votes(**counts))
    assert (FERPLUS_LABELS[label] if label is not None else None) == expected


def test_distribution_drops_single_votes_and_is_in_contract_order() -> None:
    dist = vote_distribution(votes(happiness=6, neutral=3, fear=1))
    assert dist.shape == (8,) and dist.sum() == pytest.approx(1.0)
    assert dist[FERPLUS_LABELS.index("happy")] == pytest.approx(6 / 9)
    assert dist[FERPLUS_LABELS.index("neutral")] == pytest.approx(3 / 9)
    assert dist[FERPLUS_LABELS.index("fear")] == 0.0


def _vote_file(root: Path, rows: dict[str, np.ndarray]) -> Path:
    path = root / "votes.csv"
    path.write_text(HEADER + "\n" + "".join(f"train/{key},Training,{','.join(map(str, v))}\n"
                                           for key, v in rows.items()))
    return path


def test_loading_with_votes_relabels_to_eight_classes_and_drops_the_unknown(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "train", per_class=2)
    rows = {f"{label}/{label}_{i}.png": votes(happiness=8, neutral=2) for label in LABELS for i in range(2)}
    rows["angry/angry_0.png"] = votes(contempt=9, anger=1)
    rows["sad/sad_1.png"] = votes(NF=10)
    data = load_faces(root, votes=_vote_file(tmp_path, rows))
    assert data.names == FERPLUS_LABELS and len(data) == 2 * len(LABELS) - 1
    assert data.class_counts()[FERPLUS_LABELS.index("contempt")] == 1
    assert data.targets is not None and data.targets.shape == (len(data), 8)
    assert np.allclose(data.targets.sum(axis=1), 1.0)


def test_an_image_without_votes_is_named(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "train", per_class=1)
    rows = {f"{label}/{label}_0.png": votes(happiness=10) for label in LABELS[1:]}
    with pytest.raises(EdgeemoError, match="angry/angry_0.png"):
        load_faces(root, votes=_vote_file(tmp_path, rows))


def test_a_bad_vote_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "votes.csv"
    bad.write_text("file,usage,neutral\nx.jpg,Training,3\n")
    with pytest.raises(EdgeemoError, match="missing column"):
        read_votes(bad)
    bad.write_text(HEADER + "\ntrain/a/b.jpg,Training,x,0,0,0,0,0,0,0,0,0\n")
    with pytest.raises(EdgeemoError, match=":2: vote counts must be integers"):
        read_votes(bad)
    with pytest.raises(EdgeemoError, match="votes only work with"):
        load_faces(tmp_path / "votes.csv", votes=bad)


def _with_copies(root: Path, copies: int) -> Path:
    """A folder dataset where `copies` happy faces are pixel-identical copies of one another."""
    write_folder_dataset(root, per_class=20)
    face = synthetic_face(3, np.random.default_rng(99))
    for i in range(copies):
        cv2.imwrite(str(root / "happy" / f"copy_{i}.png"), face)
    return root


def test_validation_holds_no_copy_of_a_training_face(tmp_path: Path) -> None:
    data = load_faces(_with_copies(tmp_path / "train", copies=12))
    train_idx, val_idx = honest_split(data, 0.3, seed=1)
    hashes = data.pixel_hashes()
    assert not {hashes[i] for i in val_idx} & {hashes[i] for i in train_idx}
    assert sorted(np.concatenate([train_idx, val_idx])) == list(range(len(data)))
    # 12 copies with 30% held out: the plain stratified split puts copies on both sides
    copies = [i for i, key in enumerate(data.keys) if "copy_" in key]
    assert all(i in set(train_idx) for i in copies) or all(i in set(val_idx) for i in copies)


def test_the_split_is_drawn_on_images_so_ferplus_and_fer2013_share_validation_faces(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "train", per_class=10)
    rows = {f"{label}/{label}_{i}.png": votes(happiness=7, neutral=3) for label in LABELS for i in range(10)}
    _, val7 = load_split(root, 0.2, 5)
    _, val8 = load_split(root, 0.2, 5, votes=_vote_file(tmp_path, rows))
    assert list(val7.keys) == list(val8.keys)


def test_unseen_mask_finds_test_copies_of_training_faces(tmp_path: Path) -> None:
    train = load_faces(write_folder_dataset(tmp_path / "train", per_class=3, seed=1))
    test_root = write_folder_dataset(tmp_path / "test", per_class=3, seed=2)
    cv2.imwrite(str(test_root / "sad" / "leak.png"), train.images[0])
    mask = unseen_mask(load_faces(test_root), train)
    assert mask.sum() == len(mask) - 1

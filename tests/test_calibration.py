from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgeemo.calibration.build import build
from edgeemo.calibration.sets import balanced_sample, load_calibration_set, save_calibration_set
from edgeemo.errors import EdgeemoError
from edgeemo.train.data import load_faces, stratified_split
from tests.conftest import run_cli, write_folder_dataset


def test_balanced_sample_is_equal_per_class_and_fills_from_big_classes() -> None:
    labels = np.repeat(np.arange(7), [50, 3, 50, 50, 50, 50, 50])
    chosen = balanced_sample(labels, 70, seed=1)
    counts = np.bincount(labels[chosen], minlength=7)
    assert len(chosen) == 70 and len(set(chosen)) == 70
    assert counts[1] == 3  # the small class gives all it has
    assert counts.max() - counts[counts != 3].min() <= 1  # the rest share the remainder evenly
    assert np.array_equal(chosen, balanced_sample(labels, 70, seed=1))
    assert not np.array_equal(chosen, balanced_sample(labels, 70, seed=2))


def test_build_samples_training_faces_only(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces", per_class=20)
    manifest = build(str(data), 35, tmp_path / "cal.npz", seed=7)
    assert manifest["n"] == 35 and set(manifest["class_counts"].values()) == {5}
    calibration = load_calibration_set(tmp_path / "cal.npz")
    dataset = load_faces(data)
    _, val_idx = stratified_split(dataset.labels, 0.1, 7)
    val_faces = {face.tobytes() for face in dataset.images[val_idx]}
    assert not any(face.tobytes() in val_faces for face in calibration.faces)


def test_calibrate_cli_writes_npz_and_manifest(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces", per_class=4)
    result = run_cli("calibrate", "--data", str(data), "--n", "14", "--out", str(tmp_path / "c.npz"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "c.json").read_text())
    assert manifest["n"] == 14 and len(manifest["sha256"]) == 64


@pytest.mark.parametrize("case", ["missing", "html", "empty", "float", "flat", "tampered", "zero-bytes",
                                  "manifest-deleted", "manifest-without-sha256", "manifest-not-an-object",
                                  "manifest-malformed", "manifest-not-utf8"])
def test_bad_calibration_files_are_clear_errors(tmp_path: Path, case: str) -> None:
    path = tmp_path / "cal.npz"
    faces = np.zeros((4, 48, 48), np.uint8)
    if case == "html":
        path.write_text("<html>not found</html>")
    elif case == "empty":
        save_calibration_set(path, faces[:0], np.zeros(0, np.int64), {})
    elif case == "float":
        np.savez(path, faces=faces.astype(np.float32), labels=np.zeros(4))
    elif case == "flat":
        np.savez(path, faces=faces.reshape(4, -1), labels=np.zeros(4))
    elif case == "tampered":
        save_calibration_set(path, faces, np.zeros(4, np.int64), {})
        np.savez_compressed(path, faces=faces + 1, labels=np.zeros(4, np.uint8))
    elif case == "zero-bytes":
        save_calibration_set(path, faces, np.zeros(4, np.int64), {})
        path.write_bytes(b"")
        manifest = json.loads(path.with_suffix(".json").read_text())
        path.with_suffix(".json").write_text(json.dumps({**manifest, "sha256": hashlib.sha256(b"").hexdigest()}))
    elif case.startswith("manifest"):
        save_calibration_set(path, faces, np.zeros(4, np.int64), {})
        np.savez_compressed(path, faces=faces + 1, labels=np.zeros(4, np.uint8))  # tampered, and then:
        manifest_file = path.with_suffix(".json")
        if case == "manifest-deleted":
            manifest_file.unlink()
        elif case == "manifest-without-sha256":
            manifest_file.write_text(json.dumps({k: v for k, v in json.loads(manifest_file.read_text()).items()
                                                 if k != "sha256"}))
        elif case == "manifest-not-an-object":
            manifest_file.write_text("[1, 2]")
        elif case == "manifest-malformed":
            manifest_file.write_text("{not json")
        else:
            manifest_file.write_bytes(b"\xff\xfe{}")
    with pytest.raises(EdgeemoError, match="cal.npz|cal.json"):
        load_calibration_set(path)

"""int8 conversion and the drift gate on a small model trained here, on tiny learnable data.

The gate must be able to fail: a calibration set of darkened faces squeezes the input
range, the int8 model then clips real faces, and the gate must refuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeemo.calibration.build import build
from edgeemo.calibration.sets import load_calibration_set, save_calibration_set
from edgeemo.errors import EdgeemoError
from edgeemo.labels import LABELS
from edgeemo.sidecar import file_sha256, read_sidecar, write_sidecar
from edgeemo.train.data import load_faces, stratified_split
from tests.conftest import run_cli, write_folder_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    from edgeemo.train.config import ModelConfig
    from edgeemo.train.model import build_model
    from edgeemo.train.tfkeras import keras

    root = tmp_path_factory.mktemp("drift")
    train_dir = write_folder_dataset(root / "train", per_class=60, seed=0)
    test_dir = write_folder_dataset(root / "test", per_class=15, seed=1)
    data = load_faces(train_dir)
    train_idx, _ = stratified_split(data.labels, 0.1, 42)
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(widths=(8, 16, 32), convs_per_stage=(1, 1, 1), stage_dropout=0, head_dropout=0))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(data.images[train_idx][..., None].astype(np.float32), data.labels[train_idx],
              epochs=30, batch_size=32, verbose=0)
    path = root / "small.keras"
    model.save(path)
    write_sidecar(path, {"data": str(train_dir), "config": {"val_fraction": 0.1, "seed": 42, "batch_size": 32}},
                  labels=list(LABELS))
    build(str(train_dir), 70, root / "good.npz")
    good = load_calibration_set(root / "good.npz")
    save_calibration_set(root / "dark.npz", (good.faces // 12).astype(np.uint8), good.labels, {"source": "darkened"})
    return {"root": root, "train": train_dir, "test": test_dir, "model": path}


def _convert(small: dict[str, Path], calibration: str, out: str, **options):
    from edgeemo.convert.pipeline import ConvertOptions, convert_int8

    return convert_int8(ConvertOptions(model=small["model"], calibration=small["root"] / calibration,
                                       out=small["root"] / out, **options))


def test_ptq_passes_the_gate_with_real_calibration(small) -> None:
    result = _convert(small, "good.npz", "small_int8.tflite")
    drift = result.drift
    assert drift.float_accuracy >= 0.9, "the test model did not learn; the drift check would be vacuous"
    assert drift.passed and drift.agreement >= 0.98 and drift.accuracy_drop_pt <= 1.0
    sidecar = read_sidecar(result.output)
    assert sidecar.made_by["source_sha256"] == file_sha256(small["model"])
    assert sidecar.made_by["calibration_sha256"] == file_sha256(small["root"] / "good.npz")
    assert sidecar.made_by["drift_gate"]["passed"] is True
    calibration = sidecar.calibration  # the int8 model's own confusion on the drift gate's faces
    assert calibration["faces"] == drift.n and calibration["labels"] == sidecar.labels
    assert sum(map(sum, calibration["counts"])) == drift.n and "int8 model's own outputs" in calibration["source"]

    from edgeemo.convert.edgetpu import check_model
    from edgeemo.edge.inference.classifier import TFLiteClassifier

    assert check_model(result.output) == []
    classifier = TFLiteClassifier(result.output)
    assert classifier.input_dtype == np.int8
    assert classifier.interpreter.get_output_details()[0]["dtype"] == np.int8
    assert json.loads((small["root"] / "small_int8_drift.json").read_text())["passed"] is True


def test_a_wrong_calibration_set_fails_the_gate_and_writes_nothing(small) -> None:
    with pytest.raises(EdgeemoError, match="drift gate failed"):
        _convert(small, "dark.npz", "dark_int8.tflite")
    assert not (small["root"] / "dark_int8.tflite").exists()
    report = json.loads((small["root"] / "dark_int8_drift.json").read_text())
    assert report["passed"] is False and report["agreement"] < 0.98


def test_drift_cli_exit_codes(small) -> None:
    forced = _convert(small, "dark.npz", "forced_int8.tflite", force=True)
    assert forced.output.exists() and not forced.drift.passed
    good = small["root"] / "small_int8.tflite"
    if not good.exists():
        _convert(small, "good.npz", "small_int8.tflite")
    args = ["drift", "--float", str(small["model"]), "--data", str(small["test"]), "--json"]
    passing = run_cli(*args, "--int8", str(good))
    assert passing.returncode == 0, passing.stderr
    assert json.loads(passing.stdout)["agreement"] >= 0.98
    failing = run_cli(*args, "--int8", str(forced.output), "--out", str(small["root"] / "report"))
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["passed"] is False
    assert "FAIL" in (small["root"] / "report" / "drift.md").read_text()


def test_quantization_aware_fallback_converts_and_passes(small) -> None:
    result = _convert(small, "good.npz", "qat_int8.tflite", qat="always", qat_epochs=1)
    assert result.method == "qat"
    assert result.drift.passed, result.drift.failures
    made_by = read_sidecar(result.output).made_by
    assert made_by["qat_epochs"] == 1 and made_by["quantization"].startswith("quantization-aware")


def test_pruning_reaches_the_target_sparsity(small) -> None:
    result = _convert(small, "good.npz", "pruned_int8.tflite", prune_sparsity=0.5, prune_epochs=1, force=True)
    assert result.sparsity == pytest.approx(0.5, abs=0.02)
    before, after = result.prune_gzip
    assert after < before
    assert read_sidecar(result.output).made_by["sparsity"] == pytest.approx(0.5, abs=0.02)

"""The bundled model: present, matching its sidecar, within budget, and as accurate as its card says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeemo.labels import LABELS
from edgeemo.sidecar import read_sidecar
from tests.conftest import REPO, run_cli

MODEL = REPO / "models" / "fer_cnn.keras"


def test_bundled_model_matches_its_sidecar_and_budget() -> None:
    sidecar = read_sidecar(MODEL)  # raises on a hash mismatch
    assert sidecar.labels == list(LABELS)
    assert sidecar.input_shape == (48, 48, 1) and sidecar.input_range == (0, 255)
    assert sidecar.made_by["parameters"] <= 2_000_000
    assert "fer2013/train" in sidecar.made_by["data"]


@pytest.mark.slow
def test_bundled_model_parameter_count_is_what_the_sidecar_says() -> None:
    from edgeemo.train.model import count_macs
    from edgeemo.train.tfkeras import keras

    model = keras.models.load_model(MODEL, compile=False)
    made_by = read_sidecar(MODEL).made_by
    assert model.count_params() == made_by["parameters"]
    assert count_macs(model) == made_by["macs_per_face"]


@pytest.mark.slow
def test_bundled_model_on_fer2013_publictest(fer_root: Path) -> None:
    result = run_cli("evaluate", "--model", str(MODEL), "--data", str(fer_root / "test"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 3589
    # The card reports 0.6818 (2447/3589) and macro-F1 0.649 for the store-camera fer_cnn; this guards those
    # claims (the 69.0% target for its int8 was missed).
    assert report["accuracy"] >= 0.681
    assert report["macro_f1"] >= 0.645


INT8 = REPO / "models" / "fer_cnn_int8.tflite"


def test_bundled_int8_model_contract() -> None:
    sidecar = read_sidecar(INT8)
    made_by = sidecar.made_by
    assert made_by["source_sha256"] == read_sidecar(MODEL).sha256
    calibration = REPO / "calibration" / made_by["calibration_set"]
    from edgeemo.sidecar import file_sha256

    assert made_by["calibration_sha256"] == file_sha256(calibration)
    assert made_by["drift_gate"]["passed"] is True and made_by["drift_gate"]["forced"] is False
    assert INT8.stat().st_size <= 1_500_000


def test_bundled_int8_model_is_int8_in_and_out_and_edgetpu_compatible() -> None:
    from edgeemo.edge.inference.classifier import TFLiteClassifier

    classifier = TFLiteClassifier(INT8)
    assert classifier.input_dtype == "int8"
    assert classifier.interpreter.get_output_details()[0]["dtype"].__name__ == "int8"
    result = run_cli("edgetpu-check", str(INT8))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Edge TPU compatible: yes" in result.stdout


@pytest.mark.slow
def test_bundled_int8_drift_on_fer2013_publictest(fer_root: Path) -> None:
    result = run_cli("drift", "--float", str(MODEL), "--int8", str(INT8), "--data", str(fer_root / "test"),
                     "--max-drop", "0.5", "--min-agreement", "0.98", "--json")
    report = json.loads(result.stdout)
    assert report["n"] == 3589
    # The card reports drop +0.03 pt and agreement 98.22% (the 98.5% agreement target was missed).
    assert result.returncode == 0, report["failures"]


# -- the FER+ 8-class models ---------------------------------------------------------------
FERPLUS = REPO / "models" / "ferplus_cnn.keras"
FERPLUS_INT8 = REPO / "models" / "ferplus_cnn_int8.tflite"
FERPLUS_INT8_CARD_ACCURACY = 0.8700  # 2783/3199, models/MODEL_CARD.md
VOTES = REPO.parent / "shared" / "data" / "ferplus" / "ferplus_votes.csv"


# name, parameters, MACs per face, int8 file bytes: the budget each shipped FER+ model must stay within
FERPLUS_BUDGETS = [("ferplus_cnn", 2_000_000, 150_000_000, 2_000_000),
                   ("ferplus_s", 600_000, 40_000_000, 600_000)]  # v3 S: at most 40M MACs, 0.6M parameters


@pytest.mark.parametrize("name, params, macs, size", FERPLUS_BUDGETS)
def test_ferplus_models_match_their_sidecars_and_the_edge_budget(name: str, params: int, macs: int, size: int) -> None:
    from edgeemo.labels import FERPLUS_LABELS
    from edgeemo.sidecar import file_sha256
    from edgeemo.train.model import count_macs
    from edgeemo.train.tfkeras import keras

    keras_path, int8_path = REPO / "models" / f"{name}.keras", REPO / "models" / f"{name}_int8.tflite"
    sidecar = read_sidecar(keras_path)
    assert sidecar.labels == list(FERPLUS_LABELS) and sidecar.input_shape == (48, 48, 1)
    assert sidecar.made_by["parameters"] <= params and sidecar.made_by["macs_per_face"] <= macs
    model = keras.models.load_model(keras_path, compile=False)
    assert (model.count_params(), count_macs(model)) == (sidecar.made_by["parameters"],
                                                        sidecar.made_by["macs_per_face"])
    assert sidecar.made_by["config"]["votes"].endswith("ferplus_votes.csv")
    int8 = read_sidecar(int8_path)
    assert int8.labels == list(FERPLUS_LABELS) and int8.made_by["source_sha256"] == sidecar.sha256
    assert int8.made_by["calibration_sha256"] == file_sha256(REPO / "calibration" / int8.made_by["calibration_set"])
    assert int8.made_by["drift_gate"]["passed"] is True and int8.made_by["drift_gate"]["forced"] is False
    assert int8_path.stat().st_size <= size
    result = run_cli("edgetpu-check", str(int8_path))
    assert result.returncode == 0 and "Edge TPU compatible: yes" in result.stdout, result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("model, card_accuracy", [
    (FERPLUS_INT8, FERPLUS_INT8_CARD_ACCURACY),
    (REPO / "models" / "ferplus_s_int8.tflite", 0.8462),  # 2707/3199, models/MODEL_CARD.md (88% missed)
])
def test_ferplus_int8_on_ferplus_publictest(fer_root: Path, model: Path, card_accuracy: float) -> None:
    if not VOTES.is_file():
        pytest.skip(f"FER+ votes not found at {VOTES}")
    result = run_cli("evaluate", "--model", str(model), "--data", str(fer_root / "test"), "--votes", str(VOTES),
                     "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 3199  # FER+ majority keeps 3,199 of the 3,589 PublicTest faces
    assert report["accuracy"] >= card_accuracy - 0.001  # guards the model card's number (88% missed)


@pytest.mark.slow
def test_evaluate_on_the_validation_split_reproduces_what_training_recorded(fer_root: Path) -> None:
    """`--split validation` carves the split the model was chosen on (seed and fraction from its
    sidecar): the FER+ model's validation accuracy is the one `edgeemo train` wrote down."""
    model = REPO / "models" / "ferplus_cnn.keras"
    votes = fer_root.parent / "ferplus" / "ferplus_votes.csv"
    if not votes.is_file():
        pytest.skip(f"FER+ votes not found at {votes}")
    result = run_cli("evaluate", "--model", str(model), "--data", str(fer_root / "train"), "--votes", str(votes),
                     "--split", "validation", "--json")
    assert result.returncode == 0, result.stderr
    report, made_by = json.loads(result.stdout), read_sidecar(model).made_by
    assert report["n"] == made_by["n_validation"]
    assert round(report["accuracy"], 4) == made_by["validation_accuracy"]
    assert round(report["macro_f1"], 4) == made_by["validation_macro_f1"]


def test_validation_split_needs_a_model_trained_by_edgeemo(tmp_path: Path, folder_dataset: Path) -> None:
    from edgeemo.sidecar import write_sidecar

    model = tmp_path / "foreign.tflite"
    model.write_bytes((REPO / "models" / "fer_cnn_int8.tflite").read_bytes())
    write_sidecar(model, {"stage": "made elsewhere"}, labels=list(LABELS))
    result = run_cli("evaluate", "--model", str(model), "--data", str(folder_dataset), "--split", "validation")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "records no training split" in result.stderr

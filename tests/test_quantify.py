"""`edgeemo evaluate --quantify` and `--write-calibration` on the real data: the shipped
calibration is exactly what the model's validation split measures (so anyone can re-make it),
the validity benchmark has the rows the issue asks for, and on FER-2013 PublicTest (cross-fitted) the
correction removes most of the counting bias and its interval covers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgeemo.sidecar import read_sidecar
from tests.conftest import REPO, run_cli, write_folder_dataset

FER_INT8 = REPO / "models" / "fer_cnn_int8.tflite"


def _model_copy(tmp_path: Path) -> Path:
    model = tmp_path / FER_INT8.name
    shutil.copy(FER_INT8, model)
    shutil.copy(FER_INT8.with_suffix(".json"), model.with_suffix(".json"))
    return model


def test_a_store_recalibrates_on_its_own_labelled_faces(tmp_path: Path) -> None:
    """`--split own`: every face of a folder of label folders (a store's labelled visits) is a calibration
    source beside the shipped ones; the model file, and so the hash the hub knows it by, is unchanged; a
    figure scored on those faces is corrected without them."""
    model = _model_copy(tmp_path)
    faces = write_folder_dataset(tmp_path / "own", per_class=60)
    result = run_cli("evaluate", "--model", str(model), "--data", str(faces), "--split", "own",
                     "--write-calibration", "--json")
    assert result.returncode == 0, result.stderr
    made, shipped = read_sidecar(model).calibration, read_sidecar(FER_INT8).calibration  # the hash still matches
    assert read_sidecar(model).sha256 == read_sidecar(FER_INT8).sha256
    assert made["sources"]["own"]["about"] == f"own labelled faces in {faces}"
    assert made["sources"]["own"]["faces"] == 7 * 60
    assert set(made["sources"]) == {*(shipped.get("sources") or ["validation"]), "own"}
    assert made["faces"] == shipped["faces"] + 7 * 60  # the pooled counts hold every source
    scored = json.loads(run_cli("evaluate", "--model", str(model), "--data", str(faces), "--split", "own",
                                "--quantify", "--json").stdout)
    assert "own" not in scored["quantification_calibration"]
    assert all(name in scored["quantification_calibration"] for name in shipped.get("sources") or ["validation"])
    csv_file = tmp_path / "faces.csv"
    csv_file.write_text("emotion,pixels,Usage\n")
    refused = run_cli("evaluate", "--model", str(model), "--data", str(csv_file), "--split", "own")
    assert refused.returncode != 0 and "--split own" in refused.stderr and "Traceback" not in refused.stderr


def test_a_calibration_of_a_few_faces_is_refused(folder_dataset: Path, tmp_path: Path) -> None:
    """Six faces a label: one small draw's luck would be shipped to every store (positive 6, other 12)."""
    model = _model_copy(tmp_path)
    before = model.with_suffix(".json").read_text()
    result = run_cli("evaluate", "--model", str(model), "--data", str(folder_dataset), "--split", "own",
                     "--write-calibration")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "too few faces to calibrate on (positive 6, negative 24, other 12" in result.stderr
    assert model.with_suffix(".json").read_text() == before


@pytest.mark.slow
def test_the_shipped_calibration_is_what_validation_measures(fer_root: Path, tmp_path: Path) -> None:
    model = tmp_path / FER_INT8.name
    shutil.copy(FER_INT8, model)
    shutil.copy(FER_INT8.with_suffix(".json"), model.with_suffix(".json"))
    result = run_cli("evaluate", "--model", str(model), "--data", str(fer_root / "train"), "--split", "validation",
                     "--write-calibration", "--json")
    assert result.returncode == 0, result.stderr
    made, shipped = read_sidecar(model).calibration, read_sidecar(FER_INT8).calibration
    assert made["sources"]["validation"]["counts"] == shipped["sources"]["validation"]["counts"]
    assert made["sources"]["validation"]["faces"] == json.loads(result.stdout)["n"]


@pytest.mark.slow
def test_quantify_on_fer2013_publictest(fer_root: Path) -> None:
    """Cross-fitted, as the issue judges it: each half of PublicTest is corrected with the validation faces and
    the other half, so no face corrects itself."""
    result = run_cli("evaluate", "--model", str(FER_INT8), "--data", str(fer_root / "test"), "--quantify",
                     "--cross-fit", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {(r["scenario"], r["n"], r["estimator"]): r for r in report["quantification"]}
    assert len(rows) == 5 * 3 * 2 and {"mae_index", "bias_index", "coverage_index", "mae_mix",
                                       "coverage_mix_min"} <= set(report["quantification"][0])
    assert "still faces" in report["quantification_note"] and "cross-fitted" in report["quantification_calibration"]
    assert "test" not in report["quantification_calibration"].split("sources", 1)[1]  # only validation is the sidecar's
    for scenario in ("natural", "happy50", "dirichlet"):  # the raw count's bias, mostly removed
        count, corrected = rows[(scenario, 1000, "count")], rows[(scenario, 1000, "corrected")]
        assert abs(corrected["bias_index"]) < abs(count["bias_index"]) / 2
    for scenario in ("natural", "happy50", "bad30", "dirichlet"):  # an interval that covers (mixshift: see the card)
        count, corrected = rows[(scenario, 1000, "count")], rows[(scenario, 1000, "corrected")]
        assert corrected["coverage_index"] >= 0.93 and corrected["coverage_index"] > count["coverage_index"]

"""The runtime follows the model's sidecar: a synthetic 3-label int8 model runs end to end, and its
labels (not FER-2013's seven) reach the database, the payload, the report and the satisfaction index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CLIP, REPO, db_rows, run_cli, valid_payload

LABELS3 = ["calm", "glad", "grim"]


@pytest.fixture(scope="module")
def three_label_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgeemo.convert.quantize import quantize_int8
    from edgeemo.sidecar import write_sidecar
    from edgeemo.train.config import ModelConfig
    from edgeemo.train.model import build_model

    model = build_model(ModelConfig(widths=(8,), convs_per_stage=(1,)), (48, 48), num_classes=len(LABELS3))
    faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    path = tmp_path_factory.mktemp("model") / "tiny_int8.tflite"
    path.write_bytes(quantize_int8(model, faces, progress=False))
    write_sidecar(path, {"stage": "test", "note": "random weights: a 3-label stand-in"}, labels=LABELS3)
    return path


@pytest.mark.slow
def test_a_three_label_model_drives_the_database_payload_and_report(tmp_path: Path, three_label_model: Path) -> None:
    config = tmp_path / "edgeemo.toml"
    config.write_text('[analytics]\npositive = ["glad"]\nnegative = ["grim"]\n')
    db = tmp_path / "e.db"
    done = run_cli("run", "--source", str(CLIP), "--model", str(three_label_model), "--db", str(db),
                   "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["visits"] == 1
    meta = dict(db_rows(db, "SELECT key, value FROM meta"))
    assert json.loads(meta["labels"]) == LABELS3
    assert json.loads(meta["satisfaction_groups"]) == {"positive": ["glad"], "negative": ["grim"]}
    [(dominant,)] = db_rows(db, "SELECT dominant FROM visits")
    assert dominant in LABELS3
    rows = db_rows(db, "SELECT emotions, labels, satisfaction, visits FROM aggregates WHERE visits > 0")
    [(emotions, labels, satisfaction, visits)] = rows
    assert visits == 1
    assert json.loads(labels) == LABELS3 and set(json.loads(emotions)) == set(LABELS3)
    assert satisfaction == {"calm": 0.0, "glad": 1.0, "grim": -1.0}[dominant]

    done = run_cli("report", "--db", str(db), "--out", str(tmp_path / "r"), "--min-visits", "1", "--bucket", "day")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["labels"] == LABELS3
    assert [key for key in report["buckets"][0] if "share_" in key] == [f"raw_share_{x}" for x in LABELS3]
    header = (tmp_path / "r" / "report.csv").read_text().splitlines()[0]
    assert header.endswith("raw_share_calm,raw_share_glad,raw_share_grim") and "share_happy" not in header


@pytest.mark.slow
def test_a_satisfaction_label_the_model_lacks_exits_78_naming_it(tmp_path: Path, three_label_model: Path) -> None:
    config = tmp_path / "edgeemo.toml"
    config.write_text('[analytics]\npositive = ["happy"]\nnegative = ["grim"]\n')
    done = run_cli("run", "--source", str(CLIP), "--model", str(three_label_model), "--db", str(tmp_path / "e.db"),
                   "--config", str(config))
    assert done.returncode == 78, done.stderr
    assert "'happy' is not one of the model's labels (calm, glad, grim" in done.stderr
    assert not (tmp_path / "e.db").exists() or db_rows(tmp_path / "e.db", "SELECT COUNT(*) FROM visits") == [(0,)]


def test_the_payload_of_an_eight_label_interval_validates() -> None:
    from collections import Counter

    from edgeemo.edge.analytics.intervals import Aggregate
    from edgeemo.labels import FERPLUS_LABELS

    aggregate = Aggregate(1800.0, 60, FERPLUS_LABELS, visits_by_emotion=Counter(contempt=2, happy=1))
    payload = aggregate.payload("store-1", "pi-1", 1)
    report = valid_payload(payload)
    assert report.labels == FERPLUS_LABELS and dict(report.emotions)["contempt"] == 2
    assert payload["satisfaction_index"] == pytest.approx((1 - 2) / 3)


@pytest.mark.slow
def test_setting_only_one_group_keeps_the_other_default_narrowed_to_the_model(tmp_path: Path) -> None:
    config = tmp_path / "edgeemo.toml"
    config.write_text('[analytics]\npositive = ["happy", "surprise"]\n')  # negative: default, names contempt
    db = tmp_path / "e.db"
    seven = REPO / "models" / "fer_cnn_int8.tflite"  # a FER-2013 model: no contempt
    done = run_cli("run", "--source", str(CLIP), "--db", str(db), "--config", str(config), "--model", str(seven))
    assert done.returncode == 0, done.stderr
    groups = json.loads(dict(db_rows(db, "SELECT key, value FROM meta"))["satisfaction_groups"])
    assert groups == {"positive": ["happy", "surprise"], "negative": ["angry", "disgust", "fear", "sad"]}

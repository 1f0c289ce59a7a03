"""A real (tiny) training run through the CLI: loadable model, sidecar, evaluation, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeemo.labels import LABELS
from edgeemo.sidecar import file_sha256, read_sidecar, write_sidecar
from tests.conftest import REPO, run_cli, write_folder_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("smoke")
    data = write_folder_dataset(root / "faces", per_class=10)
    run = root / "run"
    result = run_cli("train", "--data", str(data), "--out", str(run), "--epochs", "1",
                     "--batch-size", "16", "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    return data, run


def test_one_epoch_yields_a_loadable_model_and_sidecar(trained_run) -> None:
    _, run = trained_run
    for name in ("config.json", "history.csv", "curves.png", "model.keras", "model.json"):
        assert (run / name).is_file(), name
    sidecar = read_sidecar(run / "model.keras")  # also checks the sha256
    assert sidecar.labels == list(LABELS)
    assert sidecar.input_shape == (48, 48, 1) and sidecar.input_range == (0, 255)
    assert sidecar.made_by["epochs_run"] == 1
    assert sidecar.made_by["parameters"] <= 2_000_000
    assert sidecar.made_by["macs_per_face"] > 0

    from edgeemo.train.tfkeras import keras

    model = keras.models.load_model(run / "model.keras", compile=False)
    probabilities = model(np.zeros((2, 48, 48, 1), np.float32)).numpy()
    assert probabilities.shape == (2, len(LABELS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_evaluate_json_on_keras_and_tflite_agree(trained_run, tmp_path: Path) -> None:
    data, run = trained_run
    keras_result = run_cli("evaluate", "--model", str(run / "model.keras"), "--data", str(data), "--json",
                           "--out", str(tmp_path / "report"))
    assert keras_result.returncode == 0, keras_result.stderr
    keras_report = json.loads(keras_result.stdout)
    assert {"accuracy", "macro_f1", "n", "per_class"} <= keras_report.keys()
    assert keras_report["n"] == 10 * len(LABELS)
    assert set(keras_report["per_class"]) == set(LABELS)
    assert (tmp_path / "report" / "confusion_matrix.png").stat().st_size > 0

    from edgeemo.train.tfkeras import keras, tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras.models.load_model(run / "model.keras"))
    tflite = tmp_path / "model_float.tflite"
    tflite.write_bytes(converter.convert())
    write_sidecar(tflite, {"stage": "test float conversion"}, labels=list(LABELS))
    tflite_result = run_cli("evaluate", "--model", str(tflite), "--data", str(data), "--json")
    assert tflite_result.returncode == 0, tflite_result.stderr
    tflite_report = json.loads(tflite_result.stdout)
    assert tflite_report["accuracy"] == pytest.approx(keras_report["accuracy"], abs=1.5 / keras_report["n"])


def test_json_output_stays_parseable_when_files_are_skipped(trained_run, tmp_path: Path) -> None:
    _, run = trained_run
    noisy = tmp_path / "faces"
    write_folder_dataset(noisy, per_class=2)
    (noisy / "fear" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    result = run_cli("evaluate", "--model", str(run / "model.keras"), "--data", str(noisy), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 2 * len(LABELS)
    assert "skipped 1 unreadable" in result.stderr


def test_a_model_that_differs_from_its_sidecar_is_refused(trained_run, tmp_path: Path) -> None:
    data, run = trained_run
    model = tmp_path / "model.keras"
    model.write_bytes((run / "model.keras").read_bytes())
    (tmp_path / "model.json").write_text((run / "model.json").read_text().replace(file_sha256(model), "0" * 64))
    result = run_cli("evaluate", "--model", str(model), "--data", str(data))
    assert result.returncode != 0 and "does not match its sidecar" in result.stderr


def test_resume_after_kill_continues_where_the_checkpoint_left_off(tmp_path: Path) -> None:
    data = write_folder_dataset(tmp_path / "faces", per_class=40)
    run = tmp_path / "run"
    args = [sys.executable, "-m", "edgeemo", "train", "--data", str(data), "--out", str(run),
            "--epochs", "4", "--batch-size", "8", "--precision", "fp32"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["epochs_done"] >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)  # a power cut, not a polite stop
    process.wait()
    done_at_kill = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done_at_kill < 4

    result = run_cli("train", "--data", str(data), "--out", str(run), "--resume")
    assert result.returncode == 0, result.stderr
    with open(run / "history.csv", newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [1, 2, 3, 4]
    assert read_sidecar(run / "model.keras").made_by["epochs_run"] == 4


def test_init_starts_from_the_given_model(trained_run, tmp_path: Path) -> None:
    data, run = trained_run
    tuned = tmp_path / "tuned"
    result = run_cli("train", "--data", str(data), "--out", str(tuned), "--init", str(run / "model.keras"),
                     "--epochs", "1", "--batch-size", "16", "--precision", "fp32", "--lr", "1e-9",
                     "--warmup-epochs", "0")
    assert result.returncode == 0, result.stderr

    from edgeemo.train.tfkeras import keras

    def first_kernel(path: Path) -> np.ndarray:
        return keras.models.load_model(path, compile=False).get_layer("s1c1").get_weights()[0]

    # At a learning rate of 1e-9 the weights barely move: they are the --init model's, not a fresh draw.
    assert np.allclose(first_kernel(tuned / "model.keras"), first_kernel(run / "model.keras"), atol=1e-6)
    made_by = read_sidecar(tuned / "model.keras").made_by
    assert made_by["config"]["init_from"] == str(run / "model.keras")
    # The starting model's record travels with the fine-tuned one, hash and all.
    assert made_by["init"]["sha256"] == file_sha256(run / "model.keras")
    assert made_by["init"]["made_by"]["epochs_run"] == 1
    assert made_by["train_seconds_with_init"] >= made_by["train_seconds"]


@pytest.mark.parametrize("content", [b"<html>not a model</html>", None])
def test_init_from_a_bad_model_is_one_clear_line(trained_run, tmp_path: Path, content: bytes | None) -> None:
    data, _ = trained_run
    init = tmp_path / "init.keras"
    if content is not None:
        init.write_bytes(content)
    result = run_cli("train", "--data", str(data), "--out", str(tmp_path / "run"), "--init", str(init),
                     "--epochs", "1", "--precision", "fp32")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"--init {init}" in result.stderr.strip().splitlines()[-1]

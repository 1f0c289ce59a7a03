"""On real hardware only (deselected by default; run on a Pi with `pytest -m requires_camera`
or `-m requires_edgetpu`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.requires_camera
def test_a_real_camera_delivers_frames(tmp_path: Path) -> None:
    source = os.environ.get("EDGEEMO_TEST_CAMERA", "picamera")  # or 0 for a USB webcam
    done = run_cli("run", "--source", source, "--db", str(tmp_path / "e.db"), "--max-frames", "60", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["frames"] == 60


@pytest.mark.requires_edgetpu
def test_an_edgetpu_model_runs_on_the_edge_tpu(tmp_path: Path) -> None:
    # no compiled model ships (edgetpu_compiler runs on x86 Debian only): make one and name it, e.g.
    #   edgeemo convert --int8 --edgetpu --model models/ferplus_cnn.keras --calib calibration/ferplus_train_500.npz \
    #       --votes ../shared/data/ferplus/ferplus_votes.csv --out models/ferplus_cnn_int8.tflite
    model = os.environ.get("EDGEEMO_TEST_EDGETPU_MODEL")
    if not model:
        pytest.fail("set EDGEEMO_TEST_EDGETPU_MODEL to an *_edgetpu.tflite model with its sidecar")
    assert Path(model).is_file(), f"{model}: no such model"
    done = run_cli("run", "--source", "samples/clip.mp4", "--model", model, "--db", str(tmp_path / "e.db"),
                   "--max-frames", "30")
    assert done.returncode == 0, done.stderr
    assert "on edgetpu" in done.stdout and "Edge TPU unavailable" not in done.stdout

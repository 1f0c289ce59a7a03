from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeemo.errors import EdgeemoError
from edgeemo.preprocess import expand_box, face_input
from edgeemo.sidecar import read_sidecar, write_sidecar


def test_face_input_crops_converts_and_resizes() -> None:
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    frame[20:80, 40:100] = (0, 0, 255)  # a red square (BGR)
    face = face_input(frame, (48, 48), box=(40, 20, 60, 60))
    assert face.shape == (48, 48) and face.dtype == np.uint8
    assert np.all(face == 76)  # BT.601 luma of pure red


def test_expand_box_is_clipped_to_the_image() -> None:
    assert expand_box((10, 10, 20, 20), 0.5, 35, 100) == (0, 0, 35, 40)
    with pytest.raises(ValueError):
        expand_box((200, 200, 10, 10), 0.0, 100, 100)


def test_sidecar_round_trip_and_hash_check(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    write_sidecar(model, {"stage": "test"}, labels=["angry", "happy"])
    sidecar = read_sidecar(model)
    assert sidecar.labels == ["angry", "happy"] and sidecar.input_size == (48, 48)
    model.write_bytes(b"model bytes, truncated?")
    with pytest.raises(EdgeemoError, match="does not match its sidecar"):
        read_sidecar(model)


def test_invalid_sidecar_is_named(tmp_path: Path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    (tmp_path / "m.json").write_text('{"labels": "oops"}')
    with pytest.raises(EdgeemoError, match="m.json: not a valid model sidecar"):
        read_sidecar(model)

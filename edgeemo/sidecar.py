"""The model contract: a sidecar JSON beside every model file (ARCHITECTURE.md, "Contracts")."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeemo.errors import EdgeemoError, first_line


class ModelSidecar(BaseModel):
    """What a consumer needs to use a model file correctly, and how the model was made."""

    model_config = ConfigDict(extra="allow")

    labels: list[str] = Field(min_length=1, description="the model's outputs, in order: the only source of labels")
    input_shape: tuple[int, int, int] = (48, 48, 1)
    input_range: tuple[int, int] = (0, 255)
    sha256: str
    model_file: str
    made_by: dict[str, Any] = Field(default_factory=dict)
    # the model's confusion on its honest validation faces (edgeemo.estimates.Calibration): what the
    # corrected satisfaction index and mix are computed from; None for a model never measured so
    calibration: dict[str, Any] | None = None

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the face crop is resized to."""
        return self.input_shape[0], self.input_shape[1]


def sidecar_path(model_path: Path) -> Path:
    """`models/fer_cnn.keras` -> `models/fer_cnn.json`."""
    return model_path.with_suffix(".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_calibration(model_path: Path, calibration: dict[str, Any]) -> ModelSidecar:
    """Put a measured calibration into a model's sidecar (the model file, and so its hash, unchanged)."""
    sidecar = read_sidecar(model_path).model_copy(update={"calibration": calibration})
    sidecar_path(model_path).write_text(sidecar.model_dump_json(indent=2) + "\n")
    return sidecar


def write_sidecar(model_path: Path, made_by: dict[str, Any], labels: list[str], **fields: Any) -> ModelSidecar:
    """Hash the model file and write its sidecar JSON beside it."""
    sidecar = ModelSidecar(
        sha256=file_sha256(model_path), model_file=model_path.name, made_by=made_by, labels=labels, **fields
    )
    sidecar_path(model_path).write_text(sidecar.model_dump_json(indent=2) + "\n")
    return sidecar


def read_sidecar(model_path: Path, verify_hash: bool = True) -> ModelSidecar:
    """Load and check a model's sidecar; a missing, invalid or mismatching one is an error."""
    path = sidecar_path(model_path)
    if not path.is_file():
        raise EdgeemoError(f"{path}: no sidecar JSON beside model {model_path}; every model needs one")
    try:
        sidecar = ModelSidecar.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise EdgeemoError(f"{path}: not a valid model sidecar ({first_line(exc)})") from exc
    except UnicodeDecodeError as exc:
        raise EdgeemoError(f"{path}: not a valid model sidecar (not UTF-8 text: {exc.reason} at byte "
                           f"{exc.start})") from exc
    except OSError as exc:
        raise EdgeemoError(f"{path}: cannot read the model sidecar ({exc.strerror or exc})") from exc
    if verify_hash:
        actual = file_sha256(model_path)
        if actual != sidecar.sha256:
            raise EdgeemoError(
                f"{model_path}: sha256 {actual[:12]}… does not match its sidecar "
                f"({sidecar.sha256[:12]}…); the file is corrupt or not the model the sidecar describes"
            )
    return sidecar

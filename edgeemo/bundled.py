"""The files edgeemo ships (models, calibration sets): found in a checkout or in the installed package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CALIBRATION = "fer2013_train_500.npz"
# FER+ (8 classes, labels from 10 annotators per face) rather than FER-2013 (7 classes, one
# annotator): the same size and speed, right far more often (models/MODEL_CARD.md says why).
DEFAULT_MODEL = "ferplus_cnn_int8.tflite"


def bundled(folder: str, name: str) -> Path:
    """A file shipped in models/ or calibration/ (the repository's, or the installed package data)."""
    from importlib import resources

    candidate = REPO_ROOT / folder / name
    if candidate.exists():
        return candidate
    return Path(str(resources.files(f"edgeemo.{folder}") / name))


def bundled_model(name: str) -> Path:
    return bundled("models", name)


def bundled_sidecars() -> list[Path]:
    """The sidecar JSON of every shipped model (a hub knows their calibrations without asking a device)."""
    from importlib import resources

    folder = REPO_ROOT / "models"
    files = (sorted(folder.iterdir()) if folder.is_dir()
             else sorted(Path(str(entry)) for entry in resources.files("edgeemo.models").iterdir()))
    models = {path.stem for path in files if path.suffix in (".keras", ".tflite")}
    return [path for path in files if path.suffix == ".json" and path.stem in models]  # not the drift reports

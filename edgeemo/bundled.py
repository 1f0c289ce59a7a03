"""The files edgeemo ships (models, calibration sets): found in a checkout or in the installed package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CALIBRATION = "fer2013_train_500.npz"


def bundled(folder: str, name: str) -> Path:
    """A file shipped in models/ or calibration/ (the repository's, or the installed package data)."""
    from importlib import resources

    candidate = REPO_ROOT / folder / name
    if candidate.exists():
        return candidate
    return Path(str(resources.files(f"edgeemo.{folder}") / name))


def bundled_model(name: str) -> Path:
    return bundled("models", name)

"""What every stage's commands share: the help formatter and the bundled files."""

from __future__ import annotations

import argparse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
Formatter = argparse.ArgumentDefaultsHelpFormatter
Subcommands = argparse._SubParsersAction
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

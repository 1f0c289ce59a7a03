"""Device-side model releases: verified install, atomic switch, rollback (`edgeemo model …`).

Layout under the models root (default /var/lib/edgeemo/models):

    releases/<sha256>/<name>.tflite + <name>.json    one folder per installed model
    current  -> releases/<sha256>                    what `edgeemo run` loads ([model] path)
    previous -> releases/<sha256>                    what `rollback` returns to

A model is installed only after its sha256 matches its sidecar, its copy in a staging folder
matches again, and that copy loads and answers one inference. `current` then changes by
renaming a new symlink over it (atomic on POSIX), so a power cut leaves either the old or
the new model, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeemo.edge.model import open_edge_model
from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import read_sidecar, sidecar_path

DEFAULT_ROOT = Path("/var/lib/edgeemo/models")
KEEP_RELEASES = 3


@dataclass
class ReleaseStatus:
    root: str
    current: str | None
    current_model: str | None
    previous: str | None
    releases: list[str]
    changed: bool = False
    message: str = ""


def models_root(root: Path | None) -> Path:
    return Path(root or os.environ.get("EDGEEMO_MODELS", DEFAULT_ROOT))


def _target(link: Path) -> str | None:
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _point(link: Path, release: str) -> None:
    """Make `link` point at releases/<release>, atomically (a new symlink renamed over it)."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(Path("releases") / release, temporary)
    os.replace(temporary, link)
    _fsync_dir(link.parent)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def status(root: Path | None = None, changed: bool = False, message: str = "") -> ReleaseStatus:
    root = models_root(root)
    releases = sorted(p.name for p in (root / "releases").iterdir()) if (root / "releases").is_dir() else []
    current = _target(root / "current")
    models = sorted((root / "releases" / current).glob("*.tflite")) if current else []
    return ReleaseStatus(str(root), current, models[0].name if models else None, _target(root / "previous"),
                         releases, changed, message)


def _trial(model_path: Path) -> None:
    """Load the model in the edge runtime (which checks its sha256) and run one inference on a gray face."""
    model = open_edge_model(model_path, threads=1)
    height, width = model.classifier.input_size
    probabilities = model.classifier.predict(np.full((1, height, width), 128, np.uint8))
    if probabilities.shape != (1, len(model.labels)) or not np.all(np.isfinite(probabilities)):
        raise EdgeemoError(f"{model_path}: trial inference gave {probabilities.shape} non-finite or misshapen output")


def install(model_file: Path, root: Path | None = None) -> ReleaseStatus:
    """Verify, stage, trial-load and switch `current` to `model_file`; the old current becomes previous."""
    model_file, root = Path(model_file), models_root(root)
    if not model_file.is_file():
        raise EdgeemoError(f"{model_file}: model file not found")
    if model_file.suffix != ".tflite":
        raise EdgeemoError(f"{model_file}: devices run .tflite models (with their sidecar JSON beside them)")
    sidecar = read_sidecar(model_file, verify_hash=True)  # refuses truncated/HTML/wrong files
    release = sidecar.sha256
    if _target(root / "current") == release:
        return status(root, False, f"{model_file.name} ({release[:12]}…) is already current")
    (root / "releases").mkdir(parents=True, exist_ok=True)
    final = root / "releases" / release
    if not final.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        try:
            staged = staging / model_file.name
            shutil.copyfile(model_file, staged)
            shutil.copyfile(sidecar_path(model_file), sidecar_path(staged))
            _trial(staged)  # re-checks the copy's sha256 against the copied sidecar first
            for path in staging.iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            staging.chmod(0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        _trial(final / model_file.name)
    old = _target(root / "current")
    if old is not None:
        _point(root / "previous", old)
    _point(root / "current", release)
    _prune(root)
    return status(root, True, f"installed {model_file.name} ({release[:12]}…)"
                  + (f"; previous {old[:12]}…" if old else ""))


def rollback(root: Path | None = None) -> ReleaseStatus:
    """Swap `current` and `previous`."""
    root = models_root(root)
    current, previous = _target(root / "current"), _target(root / "previous")
    if previous is None or not (root / "releases" / previous).is_dir():
        raise EdgeemoError(f"{root}: no previous release to roll back to")
    _point(root / "current", previous)
    if current is not None:
        _point(root / "previous", current)
    return status(root, True, f"rolled back to {previous[:12]}…")


def _prune(root: Path) -> None:
    """Keep current, previous and the newest others up to KEEP_RELEASES."""
    keep = {_target(root / "current"), _target(root / "previous")}
    others = sorted((p for p in (root / "releases").iterdir() if p.name not in keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in others[max(0, KEEP_RELEASES - len(keep)):]:
        shutil.rmtree(stale)


def to_json(result: ReleaseStatus) -> str:
    return json.dumps(asdict(result))

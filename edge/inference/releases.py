"""Device-side model releases: verified install, atomic switch, rollback (`edgeemo model …`).

Layout under the models root (default /var/lib/edgeemo/models):

    releases/<id>/<name>.tflite + <name>.json    one folder per installed model
    current  -> releases/<id>                    what `edgeemo run` loads ([model] path)
    previous -> releases/<id>                    what `rollback` returns to
    .lock                                        held by install and rollback

A release id is the sha256 of the model's bytes and its sidecar's together, so the same model
with a corrected sidecar is a new release. A model is installed only after its sha256 matches
its sidecar, its copy in a staging folder matches again, and that copy loads and answers one
inference. `current` then changes by renaming a new symlink over it (atomic on POSIX), so a
power cut leaves either the old or the new model, never a half-written one. One install or
rollback runs at a time (a lock file); staging folders a killed install left behind are
removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeemo.edge.inference.model import open_edge_model
from edgeemo.errors import EdgeemoError
from edgeemo.sidecar import read_sidecar, sidecar_path

DEFAULT_ROOT = Path("/var/lib/edgeemo/models")
KEEP_RELEASES = 3
LOCK_WAIT_S = 120.0


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
    return Path(root or os.environ.get("EDGEEMO_MODELS") or DEFAULT_ROOT)


def _target(link: Path) -> str | None:
    if link.exists() and not link.is_symlink():
        raise EdgeemoError(f"{link}: is a {'folder' if link.is_dir() else 'file'}, not the release symlink "
                           "`edgeemo model` manages; move it away and install again")
    return Path(os.readlink(link)).name if link.is_symlink() else None


def release_id(model_file: Path, model_sha256: str) -> str:
    """The model's sha256 and its sidecar's bytes, hashed together: a corrected sidecar is a new release."""
    digest = hashlib.sha256(model_sha256.encode())
    digest.update(sidecar_path(model_file).read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One install or rollback at a time on a models root; a second waits up to LOCK_WAIT_S."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".lock", "a")  # noqa: SIM115 - held for the with-block below
    except OSError as exc:
        raise EdgeemoError(f"{root}: cannot use this models root ({exc.strerror or exc}); is it a writable "
                           "folder? (--root or $EDGEEMO_MODELS)") from exc
    with handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EdgeemoError(f"{root}: another `edgeemo model` command has held the lock for "
                                       f"{LOCK_WAIT_S:.0f} s; try again when it is done") from None
                time.sleep(0.2)
        try:
            for stale in root.glob(".staging-*"):  # left by an install that was killed: nobody else holds the lock
                shutil.rmtree(stale, ignore_errors=True)
            yield
        except OSError as exc:
            raise EdgeemoError(f"{root}: {exc.strerror or exc} ({exc.filename or root}); nothing was switched "
                               "unless `current` says so") from exc
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    release = release_id(model_file, sidecar.sha256)
    with _locked(root):
        return _install(model_file, root, release, sidecar.sha256)


def _install(model_file: Path, root: Path, release: str, model_sha256: str) -> ReleaseStatus:
    if _target(root / "current") == release:
        return status(root, False, f"{model_file.name} (release {release[:12]}…) is already current")
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
    else:  # kept from before, perhaps under another file name
        _trial(next(final.glob("*.tflite")))
    old = _target(root / "current")
    if old is not None:
        _point(root / "previous", old)
    _point(root / "current", release)
    _prune(root)
    return status(root, True, f"installed {model_file.name} (model sha256 {model_sha256[:12]}…) as release "
                  f"{release[:12]}…" + (f"; previous release {old[:12]}…" if old else ""))


def rollback(root: Path | None = None) -> ReleaseStatus:
    """Swap `current` and `previous`."""
    root = models_root(root)
    with _locked(root):
        current, previous = _target(root / "current"), _target(root / "previous")
        if previous is None or not (root / "releases" / previous).is_dir():
            raise EdgeemoError(f"{root}: no previous release to roll back to")
        _point(root / "current", previous)
        if current is not None:
            _point(root / "previous", current)
        return status(root, True, f"rolled back to release {previous[:12]}…")


def _prune(root: Path) -> None:
    """Keep current, previous and the newest others up to KEEP_RELEASES."""
    keep = {_target(root / "current"), _target(root / "previous")}
    others = sorted((p for p in (root / "releases").iterdir() if p.name not in keep),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in others[max(0, KEEP_RELEASES - len(keep)):]:
        shutil.rmtree(stale)


def to_json(result: ReleaseStatus) -> str:
    return json.dumps(asdict(result))

"""`edgeemo calibrate`: build a calibration set from training faces."""

from __future__ import annotations

from pathlib import Path

from edgeemo.calibration.sets import balanced_sample, save_calibration_set
from edgeemo.errors import EdgeemoError
from edgeemo.train.data import load_faces, stratified_split


def build(data: str, n: int, out: Path, seed: int = 42, val_fraction: float = 0.1,
          input_size: tuple[int, int] = (48, 48)) -> dict:
    """Sample `n` class-balanced faces from the training part of the (seed, val_fraction) split."""
    if n < 1:
        raise EdgeemoError("--n must be at least 1")
    if out.suffix != ".npz":
        raise EdgeemoError(f"{out}: a calibration set is written as .npz")
    dataset = load_faces(data, "train", input_size)
    train_idx, _ = stratified_split(dataset.labels, val_fraction, seed)
    chosen = train_idx[balanced_sample(dataset.labels[train_idx], n, seed)]
    return save_calibration_set(out, dataset.images[chosen], dataset.labels[chosen], {
        "source": str(data),
        "selection": (f"class-balanced sample (seed {seed}) of the training part of a stratified "
                      f"{val_fraction:.0%} validation split (seed {seed}); no validation or test faces"),
        "seed": seed,
    })

"""`edgeemo calibrate`: build a calibration set from training faces."""

from __future__ import annotations

from pathlib import Path

from edgeemo.calibration.sets import balanced_sample, save_calibration_set
from edgeemo.cli_common import writable_folder
from edgeemo.errors import EdgeemoError
from edgeemo.train.data import load_split


def build(data: str, n: int, out: Path, seed: int = 42, val_fraction: float = 0.1,
          input_size: tuple[int, int] = (48, 48), votes: Path | None = None) -> dict:
    """Sample `n` class-balanced faces from the training part of the (seed, val_fraction) split."""
    if n < 1:
        raise EdgeemoError("--n must be at least 1")
    if out.suffix != ".npz":
        raise EdgeemoError(f"{out}: a calibration set is written as .npz")
    writable_folder(out.parent, "--out")  # before loading and sampling, not after
    train_set, _ = load_split(data, val_fraction, seed, input_size, votes)
    chosen = balanced_sample(train_set.labels, n, seed, len(train_set.names))
    return save_calibration_set(out, train_set.images[chosen], train_set.labels[chosen], {
        "source": str(data),
        **({"votes": str(votes)} if votes else {}),
        "selection": (f"class-balanced sample (seed {seed}) of the training part of a stratified "
                      f"{val_fraction:.0%} validation split (seed {seed}); no validation or test faces"),
        "seed": seed,
    }, train_set.names)

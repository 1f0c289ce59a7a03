"""`edgeemo calibrate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeemo.cli_common import Formatter, Subcommands


def _add_calibrate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "calibrate", formatter_class=Formatter, help="build an int8 calibration set from training faces",
        description="A class-balanced, seeded sample of training faces (never validation or test faces), "
        "stored as uint8 .npz with a manifest .json beside it.",
    )
    parser.add_argument("--data", required=True, help="training data: Kaggle folder tree or fer2013.csv")
    parser.add_argument("--n", type=int, default=500, help="number of faces")
    parser.add_argument("--out", required=True, type=Path, help="output .npz, e.g. calibration/NAME.npz")
    parser.add_argument("--seed", type=int, default=42, help="sampling and split seed (match the model's)")
    parser.add_argument("--votes", type=Path, help="FER+ ferplus_votes.csv: balance over the 8 FER+ classes")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="validation share left out (match the model's)")
    parser.set_defaults(handler=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    from edgeemo.calibration.build import build

    manifest = build(args.data, args.n, args.out, args.seed, args.val_fraction, votes=args.votes)
    counts = ", ".join(f"{k} {v}" for k, v in manifest["class_counts"].items())
    print(f"{args.out}: {manifest['n']} faces ({counts}); sha256 {manifest['sha256'][:12]}…")
    return 0


COMMANDS = (_add_calibrate,)

"""`edgeemo simulate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeemo.cli_common import Formatter, Subcommands


def _add_simulate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "simulate", formatter_class=Formatter, help="render store footage with a known truth from labelled faces",
        description="Shoppers walk through a simulated store camera's view, pause and leave, several at once; each "
        "wears one face of a labelled folder (one expression for the visit) at a distance drawn from the profile, "
        "which fixes the face's size. The light drifts, the sensor adds noise, and the footage goes through a real "
        "codec. Writes OUT/footage.mp4 (or .avi for JPEG) and OUT/truth.json (each shopper's label, votes, "
        "distance, times in view and face boxes). Deterministic by --seed.",
    )
    parser.add_argument("--faces", required=True, help="a FER-layout folder of label folders (or its root with "
                        "train/ and test/: --split picks one)")
    parser.add_argument("--split", default="test", help="with a dataset root: which split's faces")
    parser.add_argument("--votes", help="FER+ ferplus_votes.csv: cast the faces with FER+ majority labels and "
                        "record their votes")
    parser.add_argument("--out", required=True, type=Path, help="a new folder for footage and truth")
    parser.add_argument("--profile", default="near", help="near (faces 48-96 px), far (24-48 px, JPEG q70), or "
                        "a TOML file describing your own camera (see sim/profiles/)")
    parser.add_argument("--shoppers", type=int, default=100, help="how many shoppers walk through")
    parser.add_argument("--mix", default="natural", help="the shoppers' expressions: natural (the folder's own), "
                        "happy50, bad30, dirichlet, mixshift, or shares like happy=0.5,sad=0.2")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same footage")
    parser.add_argument("--background", type=Path, help="an image or video of your own store (default: a "
                        "generated shop wall)")
    parser.set_defaults(handler=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from edgeemo.errors import EdgeemoError
    from edgeemo.sim.footage import footage_name
    from edgeemo.sim.profile import load_profile
    from edgeemo.sim.simulate import load_cast, render_footage

    if not 1 <= args.shoppers <= 1_000_000:
        raise EdgeemoError(f"--shoppers {args.shoppers}: 1 to 1,000,000")
    profile = load_profile(args.profile)
    if args.out.exists() or args.out.is_symlink():
        raise EdgeemoError(f"--out {args.out}: already exists; choose a new folder (nothing is overwritten)")
    faces = load_cast(args.faces, args.split, args.votes)
    truth = render_footage(faces, profile, args.shoppers, args.mix, args.seed, args.out, args.background)
    from edgeemo.text import plural

    seen = sum(1 for s in truth.shoppers if truth.in_view(s.id))
    print(f"wrote {args.out / footage_name(profile.image)} ({plural(truth.frames, 'frame')}, "
          f"{truth.frames / truth.fps:.0f} s) and {args.out / 'truth.json'}: {plural(len(truth.shoppers), 'shopper')}, "
          f"{seen} with a face wholly in view")
    return 0


COMMANDS = (_add_simulate,)

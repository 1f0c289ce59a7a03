"""The `edgeemo` command: each stage registers its own argparse subcommands.

Stage modules import their heavy dependencies (TensorFlow, tfmot) only inside the command
handlers, so `edgeemo --help` and the edge side stay light. Errors the user can fix
(`EdgeemoError`) print one line and exit non-zero, no traceback; so does a command whose optional
dependencies (`needs`, an extra of pyproject.toml) are not installed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from edgeemo import __version__, extras, quiet
from edgeemo.calibration.cli import COMMANDS as CALIBRATION_COMMANDS
from edgeemo.cli_common import Formatter, add_global_flags
from edgeemo.convert.cli import COMMANDS as CONVERT_COMMANDS
from edgeemo.edge.cli import COMMANDS as EDGE_COMMANDS
from edgeemo.errors import EdgeemoError
from edgeemo.hub.cli import COMMANDS as HUB_COMMANDS
from edgeemo.sim.cli import COMMANDS as SIM_COMMANDS
from edgeemo.train.cli import COMMANDS as TRAIN_COMMANDS

COMMANDS = (*TRAIN_COMMANDS, *CALIBRATION_COMMANDS, *CONVERT_COMMANDS, *EDGE_COMMANDS, *HUB_COMMANDS, *SIM_COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeemo", formatter_class=Formatter,
        description="Facial-emotion analytics on the edge: train and ship compact FER models, run them in stores.",
    )
    parser.add_argument("--version", action="version", version=f"edgeemo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and third-party libraries' own messages on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    add_global_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        # stdout carries the data when --json or --format is given; logs must not mix into it.
        stream=sys.stderr if getattr(args, "json", False) or getattr(args, "format", None) else sys.stdout,
    )
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib"):  # SavedModel/converter chatter at INFO
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    quiet.show_native_logs(args.verbose)
    needs = getattr(args, "needs", ())
    try:
        extras.check(args.prog, needs)
        return args.handler(args)
    except extras.ExtraMissing as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    except EdgeemoError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:  # a module of an extra imported on a path the check did not foresee
        top = (exc.name or "").split(".")[0]
        extra = next((e for e in needs if any(top in group for group in extras.EXTRAS[e])), None)
        extra = extra or extras.extra_of(exc.name)
        if extra is None:
            raise
        missing = extras.ExtraMissing(args.prog, extra, top)
        print(missing, file=sys.stderr)
        return missing.exit_code
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130

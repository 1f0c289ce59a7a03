"""What every stage's commands share: the help formatter and argument checks."""

from __future__ import annotations

import argparse
from pathlib import Path

Formatter = argparse.ArgumentDefaultsHelpFormatter
Subcommands = argparse._SubParsersAction


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a negative frame or pass count is a typo, not a request)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def writable_folder(folder: Path, flag: str) -> Path:
    """Create an output folder up front, so a bad --out fails before minutes of work, not after."""
    from edgeemo.errors import EdgeemoError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".edgeemo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise EdgeemoError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from exc
    return folder

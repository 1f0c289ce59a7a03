"""What every stage's commands share: the help formatter, the global flags and argument checks."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

Subcommands = argparse._SubParsersAction


class Formatter(argparse.HelpFormatter):
    """Help that shows "(default: X)" only where an option has a default worth saying: not for a flag
    (off unless given), not for None (no default: the help says what happens instead), and not where the
    help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (default is None or default is argparse.SUPPRESS or isinstance(default, bool) or default == []
                or not action.option_strings or "default" in text or "%(default)" in text):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser under it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                yield from parsers(sub)


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """Accept the global flags after any subcommand too (`edgeemo hub serve -v`): each subcommand gets
    a copy whose default is SUPPRESS, so it sets the value only when given and never resets it."""
    for sub in parsers(parser):
        if sub is not parser:
            sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="debug logging, and third-party libraries' own messages on stderr")
            sub.set_defaults(prog=sub.prog)


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

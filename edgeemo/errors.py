"""User-facing errors: the CLI prints them as one line and exits non-zero, no traceback."""

from __future__ import annotations


class EdgeemoError(Exception):
    """A problem the user can fix; the message names the thing and what to do."""

    exit_code = 2


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ConfigError(EdgeemoError):
    """Bad configuration; exits 78 (EX_CONFIG) so systemd does not restart-loop on it."""

    exit_code = 78

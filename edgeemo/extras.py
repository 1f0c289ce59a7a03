"""Which optional dependency group (`pip install 'edgeemo[EXTRA]'`) each command needs.

A command whose extra is missing ends in one line naming the extra, not in a
`ModuleNotFoundError` traceback from deep inside a handler: the CLI checks a command's extra
before running it (`missing`), and turns an import of a module of an extra that still fails
into the same line (`extra_of`).
"""

from __future__ import annotations

import importlib.util

from edgeemo.errors import EdgeemoError

# Each extra's importable modules; a tuple is alternatives (any one will do).
EXTRAS: dict[str, tuple[tuple[str, ...], ...]] = {
    "train": (("tensorflow",), ("tf_keras",), ("tensorflow_model_optimization",)),
    "edge": (("ai_edge_litert", "tflite_runtime", "tensorflow"), ("prometheus_client",), ("shapely",), ("paho",)),
    "hub": (("starlette",), ("uvicorn",), ("jinja2",), ("python_multipart", "multipart"), ("argon2",),
            ("psycopg",), ("psycopg_pool",), ("paho",), ("httpx",)),
    "sim": (("av",),),
}


class ExtraMissing(EdgeemoError):
    """A command's optional dependencies are not installed; exits 69 (EX_UNAVAILABLE)."""

    exit_code = 69

    def __init__(self, command: str, extra: str, module: str) -> None:
        super().__init__(f"{command} needs the {extra} extra ({module} is not installed): "
                         f"pip install 'edgeemo[{extra}]'")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken module
        return False


def missing(extra: str) -> str | None:
    """The first of `extra`'s modules that is not installed (None: all are)."""
    for alternatives in EXTRAS[extra]:
        if not any(_installed(module) for module in alternatives):
            return alternatives[0]
    return None


def check(command: str, extras: tuple[str, ...]) -> None:
    """Raise ExtraMissing for the first of `extras` that is not installed."""
    for extra in extras:
        module = missing(extra)
        if module is not None:
            raise ExtraMissing(command, extra, module)


def extra_of(module: str | None) -> str | None:
    """The extra that brings `module` (a dotted name; its top level counts), None if none does."""
    top = (module or "").split(".")[0]
    for extra, groups in EXTRAS.items():
        if any(top in alternatives for alternatives in groups):
            return extra
    return None

"""The one place the Edge TPU delegate is loaded.

libedgetpu is a system library (Coral's `libedgetpu1-std` package); when it, or the
device, is missing the caller falls back to the CPU with one warning naming the cause.
"""

from __future__ import annotations

import ctypes
import logging
import platform
from typing import Any

from edgeemo.edge.inference.interpreter import runtime_module
from edgeemo.errors import EdgeemoError, first_line

log = logging.getLogger(__name__)

LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def load_edgetpu_delegate(device: str | None = None) -> tuple[Any | None, str]:
    """(delegate, '') when the Edge TPU is usable, else (None, why not).

    The delegate comes from the same runtime the interpreter will (a delegate of one
    runtime cannot be handed to another's interpreter).
    """
    library = LIBRARY.get(platform.system(), "libedgetpu.so.1")
    try:
        name, module = runtime_module()
    except EdgeemoError as exc:
        return None, str(exc)
    # tensorflow.lite keeps it under experimental; LiteRT and tflite-runtime at the top
    load_delegate = getattr(module, "load_delegate", None) or getattr(getattr(module, "experimental", None),
                                                                       "load_delegate", None)
    if load_delegate is None:
        return None, f"{name} has no load_delegate"
    try:  # LiteRT's failed Delegate prints an "Exception ignored" traceback when collected
        ctypes.CDLL(library)
    except OSError as exc:
        return None, f"{library}: {first_line(exc)}"
    try:
        return load_delegate(library, {"device": device} if device else {}), ""
    except (ValueError, OSError, RuntimeError) as exc:
        return None, f"{library}: {str(exc).strip() or type(exc).__name__}"

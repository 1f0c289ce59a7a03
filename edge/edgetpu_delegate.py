"""The one place the Edge TPU delegate is loaded.

libedgetpu is a system library (Coral's `libedgetpu1-std` package); when it, or the
device, is missing the caller falls back to the CPU with one warning naming the cause.
"""

from __future__ import annotations

import importlib
import logging
import platform
from typing import Any

log = logging.getLogger(__name__)

LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def load_edgetpu_delegate(device: str | None = None) -> tuple[Any | None, str]:
    """(delegate, '') when the Edge TPU is usable, else (None, why not)."""
    library = LIBRARY.get(platform.system(), "libedgetpu.so.1")
    options = {"device": device} if device else {}
    reasons = []
    for module_name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite.experimental"):
        try:
            load_delegate = importlib.import_module(module_name).load_delegate
        except (ImportError, AttributeError):
            continue
        try:
            return load_delegate(library, options), ""
        except (ValueError, OSError, RuntimeError) as exc:
            reasons.append(f"{library}: {str(exc).strip() or type(exc).__name__}")
            break
    return None, reasons[0] if reasons else "no TFLite runtime with load_delegate installed"

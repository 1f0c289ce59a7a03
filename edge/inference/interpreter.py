"""The TFLite interpreter, from whichever runtime is installed, behind one function.

Order: ai-edge-litert (LiteRT, the maintained successor), tflite-runtime (deprecated, stops
at Python 3.11), then tensorflow.lite as the last fallback. The runtime is only imported
here, so the edge side never pulls TensorFlow in unless nothing else exists.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from edgeemo.errors import EdgeemoError, first_line
from edgeemo.quiet import native_stderr_hidden

log = logging.getLogger(__name__)

RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
    ("tensorflow.lite", "tensorflow.lite"),
)


def runtime_module() -> tuple[str, Any]:
    """(runtime name, its interpreter module) of the first runtime that imports."""
    for name, module_name in RUNTIMES:
        try:
            return name, importlib.import_module(module_name)
        except ImportError:
            continue
    raise EdgeemoError(
        "no TFLite runtime installed; install the edge extra (pip install 'edgeemo[edge]', "
        "which brings ai-edge-litert)"
    )


def interpreter_class() -> tuple[str, Any]:
    """(runtime name, Interpreter class) of the first runtime that imports."""
    name, module = runtime_module()
    return name, module.Interpreter


def open_interpreter(model_path: Path, num_threads: int = 2, delegates: list | None = None) -> tuple[str, Any]:
    """A ready (allocated) interpreter for `model_path` and the runtime that provides it. The runtime's
    "INFO: Created TensorFlow Lite XNNPACK delegate" (C++, on fd 2, at the first allocation) is hidden
    unless `-v` asks for it."""
    name, interpreter_cls = interpreter_class()
    try:
        with native_stderr_hidden():
            interpreter = interpreter_cls(
                model_path=str(model_path), num_threads=num_threads, experimental_delegates=delegates or None
            )
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgeemoError(f"{model_path}: not a loadable TFLite model ({first_line(exc)})") from exc
    log.debug("%s: opened with %s", model_path, name)
    return name, interpreter

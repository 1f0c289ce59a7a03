"""Native libraries' chatter on stderr, hidden unless asked for (`-v`, or EDGEEMO_TF_LOGS=1).

TensorFlow's start-up lines (oneDNN, CUDA probes) and the TFLite runtime's "INFO: Created
TensorFlow Lite XNNPACK delegate for CPU." are written by C++ straight to file descriptor 2:
neither Python's logging nor `TF_CPP_MIN_LOG_LEVEL` reaches them, and LiteRT's Python API has
no switch for its log level. So the few calls that print them run with fd 2 pointed at
/dev/null; every failure among them still raises a Python exception, which the CLI reports
in one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "EDGEEMO_TF_LOGS"
_shown = False


def show_native_logs(show: bool) -> None:
    """`-v`: let native libraries write to stderr (this process and the processes it starts)."""
    global _shown
    _shown = show
    if show:
        os.environ[ENV] = "1"


def shown() -> bool:
    return _shown or os.environ.get(ENV) == "1"


@contextmanager
def native_stderr_hidden() -> Iterator[None]:
    """fd 2 to /dev/null for the block (Python's own sys.stderr is flushed first and restored after)."""
    if shown():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

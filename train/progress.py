"""A progress bar inside each training epoch (tqdm), so a long CPU epoch is not minutes of silence.

On a terminal, Keras draws its own bar and this one stays out of the way. Elsewhere (a log, a pipe,
a systemd unit) Keras prints one line per epoch, and this bar adds a line at most every `every_s`
seconds: enough to see the epoch move, never a flood of carriage returns in a log file.
"""

from __future__ import annotations

import sys
from typing import IO

from tqdm import tqdm

LOG_EVERY_S = 30.0


class _Lines:
    """A file for tqdm that turns each refresh (a carriage return, then the bar) into a line of its own."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, text: str) -> None:
        text = text.replace("\r", "").replace("\x1b[A", "").strip("\n")
        if text.strip():
            self.out.write(text + "\n")

    def flush(self) -> None:
        self.out.flush()


class EpochProgress:
    """`begin(epoch, epochs, steps)`, `step()` per batch, `end()`: one bar per epoch."""

    def __init__(self, out: IO[str] | None = None, every_s: float = LOG_EVERY_S) -> None:
        self.out = out or sys.stdout
        self.every_s = every_s
        self.bar: tqdm | None = None

    def begin(self, epoch: int, epochs: int, steps: int | None) -> None:
        self.bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="batch", file=_Lines(self.out),
                        mininterval=self.every_s, maxinterval=self.every_s, ascii=True, dynamic_ncols=False,
                        ncols=100, leave=False)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

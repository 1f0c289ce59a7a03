"""Training shows progress inside an epoch, also in a log (not a terminal), without flooding it."""

from __future__ import annotations

import io

from edgeemo.train.progress import EpochProgress


def test_a_bar_per_epoch_as_whole_lines() -> None:
    out = io.StringIO()
    progress = EpochProgress(out, every_s=0)  # every step refreshes: each refresh is its own line
    progress.begin(2, 3, 5)
    for _ in range(5):
        progress.step()
    progress.end()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and out.getvalue().endswith("\n")
    assert lines[0].startswith("epoch 2/3:   0%") and lines[-1].startswith("epoch 2/3: 100%") and "5/5" in lines[-1]


def test_a_long_epoch_in_a_log_is_a_few_lines_not_thousands() -> None:
    out = io.StringIO()
    progress = EpochProgress(out)  # the default: a line at most every 30 s
    progress.begin(1, 50, 2000)
    for _ in range(2000):
        progress.step()
    progress.end()
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) < 20 and lines[0].startswith("epoch 1/50:")  # 2,000 batches, a handful of lines

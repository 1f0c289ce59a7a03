"""`edgeemo evaluate --chain` arguments that cannot go together are refused before any work."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_a_chain_calibration_takes_no_profile_boxes_or_folds(tmp_path: Path) -> None:
    for extra in (["--chain", "near"], ["--chain", "--profile", "far"], ["--chain", "--boxes", "oracle"], ["--chain", "--cross-fit", "3"]):
        done = run_cli("evaluate", "--model", "models/nosuch.tflite", "--data", str(tmp_path), "--write-calibration",
                       *extra)
        assert done.returncode != 0 and "give no profile, --boxes or --cross-fit" in done.stderr, done.stderr


def test_a_profile_without_the_chain_is_refused(tmp_path: Path) -> None:
    for extra in (["--profile", "far"], ["--chain", "near", "--profile", "far"]):
        done = run_cli("evaluate", "--model", "models/nosuch.tflite", "--data", str(tmp_path), *extra)
        assert done.returncode != 0 and "a camera profile for --chain" in done.stderr, done.stderr

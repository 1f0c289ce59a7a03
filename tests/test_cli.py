"""The CLI as a user meets it: help, and bad input giving one clear line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeemo ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands_that_exist() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate"):
        assert command in result.stdout


def test_evaluate_missing_model(tmp_path: Path, folder_dataset: Path) -> None:
    result = run_cli("evaluate", "--model", str(tmp_path / "missing.keras"), "--data", str(folder_dataset))
    assert_one_line_error(result, "missing.keras", "no such model file")


@pytest.mark.parametrize("name", ["page.keras", "page.tflite"])
def test_evaluate_html_saved_as_a_model(tmp_path: Path, folder_dataset: Path, name: str) -> None:
    model = tmp_path / name
    model.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    result = run_cli("evaluate", "--model", str(model), "--data", str(folder_dataset))
    assert_one_line_error(result, name, "not a loadable")


def test_evaluate_unknown_model_format(tmp_path: Path, folder_dataset: Path) -> None:
    model = tmp_path / "weights.pt"
    model.write_bytes(b"\x00" * 16)
    assert_one_line_error(run_cli("evaluate", "--model", str(model), "--data", str(folder_dataset)), "weights.pt")


def test_train_missing_data(tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "nowhere", "no such file or directory")


def test_train_malformed_csv(tmp_path: Path) -> None:
    csv = tmp_path / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n3,1 2 3 oops,Training\n")
    result = run_cli("train", "--data", str(csv), "--out", str(tmp_path / "run"), "--epochs", "1")
    assert_one_line_error(result, "fer2013.csv:2")


def test_resume_without_a_run(tmp_path: Path, folder_dataset: Path) -> None:
    result = run_cli("train", "--data", str(folder_dataset), "--out", str(tmp_path / "run"), "--resume")
    assert_one_line_error(result, "nothing to resume")

"""The CLI as a user meets it: help, and bad input giving one clear line and a non-zero exit."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edgeemo.cli import build_parser
from tests.conftest import run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgeemo ")
    for fragment in fragments:
        assert fragment in lines[0]


COMMANDS = ("train", "evaluate", "teacher-targets", "calibrate", "convert", "drift", "edgetpu-check", "run", "report", "bench", "detect", "model",
            "zones", "hub", "simulate")
SUBCOMMANDS = {"model": ("install", "rollback", "status"), "zones": ("preview",),
               "hub": ("serve", "import", "export", "upkeep", "backup", "retire", "user", "store", "dead-letters",
                       "bench")}


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(commands.choices)


def test_every_command_is_listed_and_answers_help(capsys: pytest.CaptureFixture) -> None:
    parser = build_parser()
    assert _choices(parser) == list(COMMANDS)
    listed = run_cli("--help")
    assert listed.returncode == 0 and all(command in listed.stdout for command in COMMANDS)
    for command in COMMANDS:
        command_parser = parser._subparsers._group_actions[0].choices[command]
        if command in SUBCOMMANDS:
            assert _choices(command_parser) == list(SUBCOMMANDS[command]), command
        for words in ([command], *([command, sub] for sub in SUBCOMMANDS.get(command, ()))):
            with pytest.raises(SystemExit) as ended:
                build_parser().parse_args([*words, "--help"])
            assert ended.value.code == 0, words
            shown = capsys.readouterr().out
            assert shown.startswith(f"usage: edgeemo {' '.join(words)}") and "--help" in shown, words


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


def test_every_option_has_help_and_defaults_only_where_they_exist() -> None:
    from edgeemo.cli_common import parsers

    for parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{parser.prog} {'/'.join(action.option_strings) or action.dest}: no help text"
        shown = parser.format_help()
        for empty in ("(default: None)", "(default: False)", "(default: [])"):
            assert empty not in shown, f"{parser.prog}: {empty}"
    train = build_parser().parse_args(["report", "--db", "x", "--out", "y"])
    assert train.min_visits == 5  # a real default ...
    assert "(default: 5)" in " ".join(build_parser()._subparsers._group_actions[0].choices["report"]
                                     .format_help().split())  # ... is shown


@pytest.mark.parametrize("words", [["-v", "hub", "store", "list"], ["hub", "store", "list", "-v"],
                                   ["hub", "-v", "store", "list"], ["run", "--verbose"]])
def test_global_flags_after_the_subcommand(words: list[str]) -> None:
    assert build_parser().parse_args(words).verbose is True


def test_no_flag_means_not_verbose() -> None:
    assert build_parser().parse_args(["hub", "store", "list"]).verbose is False


def test_quiet_by_default_third_party_messages_with_v(tmp_path: Path) -> None:
    """The TFLite runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" (C++, on fd 2) only with -v."""
    args = ("run", "--source", "samples/clip.mp4", "--max-frames", "5", "--db", str(tmp_path / "e.db"))
    quiet = run_cli(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    verbose = run_cli(*args, "-v")
    assert verbose.returncode == 0 and "XNNPACK" in verbose.stderr  # the same run does print it when asked


def test_evaluate_defaults_to_the_model_run_uses_and_draws_the_roc_it_reports(tmp_path: Path,
                                                                             folder_dataset: Path) -> None:
    import json

    from edgeemo.bundled import DEFAULT_MODEL

    done = run_cli("evaluate", "--data", str(folder_dataset), "--json", "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["model"]).name == DEFAULT_MODEL  # what `run` and `bench` use without --model
    reported = [label for label, c in report["per_class"].items() if c["roc_auc"] is not None]
    assert len(reported) == 7  # FER-2013's seven classes are in the data; contempt has no face, so no curve
    roc = tmp_path / "report" / "roc.png"
    assert roc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and roc.stat().st_size > 10_000

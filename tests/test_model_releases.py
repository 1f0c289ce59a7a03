"""`edgeemo model install/rollback/status`: verified, atomic, and a bad model changes nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edgeemo.edge.inference import releases
from edgeemo.errors import EdgeemoError
from tests.conftest import REPO, padded_model_copy, run_cli

INT8 = REPO / "models" / "fer_cnn_int8.tflite"


def _current(root: Path) -> str:
    return os.readlink(root / "current")


def test_install_switches_current_keeps_previous_and_rolls_back(tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = releases.install(INT8, root)
    assert first.changed and first.previous is None and first.current_model == "fer_cnn_int8.tflite"
    again = releases.install(INT8, root)
    assert not again.changed and "already current" in again.message
    v2 = padded_model_copy(tmp_path / "v2", "v2")
    second = releases.install(v2, root)
    assert second.changed and second.previous == first.current and second.current != first.current
    assert (root / "current" / "fer_cnn_int8.tflite").read_bytes() == v2.read_bytes()
    back = releases.rollback(root)
    assert back.current == first.current and back.previous == second.current
    assert not list(root.glob(".staging-*")) and not list(root.glob(".current.*"))


def test_old_releases_are_pruned_to_three(tmp_path: Path) -> None:
    root = tmp_path / "models"
    for tag in ("a", "b", "c", "d", "e"):
        releases.install(padded_model_copy(tmp_path / tag, tag), root)
    state = releases.status(root)
    assert len(state.releases) == 3 and {state.current, state.previous} <= set(state.releases)


@pytest.mark.parametrize("damage", ["truncated", "html", "wrong-hash", "no-sidecar", "html-rehashed"])
def test_a_bad_model_is_refused_and_current_stays(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "models"
    releases.install(INT8, root)
    before = _current(root)
    bad = tmp_path / "bad" / "fer_cnn_int8.tflite"
    bad.parent.mkdir()
    shutil.copy(INT8.with_suffix(".json"), bad.with_suffix(".json"))
    if damage == "truncated":
        bad.write_bytes(INT8.read_bytes()[:500_000])
    elif damage in ("html", "html-rehashed"):
        bad.write_text("<html><body>404 Not Found</body></html>")
    elif damage == "wrong-hash":
        padded = padded_model_copy(tmp_path / "p", "x")
        shutil.copy(padded, bad)  # a valid model, but not the one the sidecar names
    else:
        shutil.copy(INT8, bad)
        bad.with_suffix(".json").unlink()
    if damage == "html-rehashed":
        sidecar = json.loads(bad.with_suffix(".json").read_text())
        import hashlib

        sidecar["sha256"] = hashlib.sha256(bad.read_bytes()).hexdigest()
        bad.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(EdgeemoError):
        releases.install(bad, root)
    assert _current(root) == before
    assert len(releases.status(root).releases) == 1 and not list(root.glob(".staging-*"))


def test_the_cli_refuses_in_one_line_and_reports_json(tmp_path: Path) -> None:
    root = tmp_path / "models"
    done = run_cli("model", "--root", str(root), "--json", "install", str(INT8))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is True
    bad = tmp_path / "fer_cnn_int8.tflite"
    bad.write_bytes(INT8.read_bytes()[:1000])
    shutil.copy(INT8.with_suffix(".json"), bad.with_suffix(".json"))
    done = run_cli("model", "--root", str(root), "install", str(bad))
    assert done.returncode == 2 and "does not match its sidecar" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run_cli("model", "--root", str(root), "rollback")
    assert done.returncode == 2 and "no previous release" in done.stderr


def test_run_loads_the_current_release_folder(tmp_path: Path) -> None:
    root = tmp_path / "models"
    releases.install(INT8, root)
    done = run_cli("run", "--source", str(REPO / "samples" / "clip.mp4"), "--model", str(root / "current"),
                   "--db", str(tmp_path / "e.db"), "--max-frames", "5")
    assert done.returncode == 0, done.stderr


def test_the_same_model_with_a_corrected_sidecar_is_installed(tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = tmp_path / "fixed"
    folder.mkdir()
    model = folder / INT8.name
    shutil.copyfile(INT8, model)
    sidecar = json.loads(INT8.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    first = releases.install(model, root)
    sidecar["made_by"]["note"] = "corrected provenance"
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    second = releases.install(model, root)
    assert second.changed and second.current != first.current
    assert "corrected provenance" in (root / "current" / INT8.with_suffix(".json").name).read_text()


def test_a_kept_release_is_reinstalled_under_another_file_name(tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = releases.install(INT8, root)
    releases.install(padded_model_copy(tmp_path / "v2", "v2"), root)
    renamed = tmp_path / "renamed" / "store_model.tflite"
    renamed.parent.mkdir()
    shutil.copyfile(INT8, renamed)
    shutil.copyfile(INT8.with_suffix(".json"), renamed.with_suffix(".json"))
    again = releases.install(renamed, root)
    assert again.changed and again.current == first.current


def test_concurrent_installs_take_turns_and_both_releases_stay_reachable(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = tmp_path / "models"
    v2, v3 = padded_model_copy(tmp_path / "v2", "v2"), padded_model_copy(tmp_path / "v3", "v3")
    processes = [subprocess.Popen([sys.executable, "-m", "edgeemo", "model", "--root", str(root), "--json",
                                   "install", str(model)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for model in (v2, v3)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    state = releases.status(root)
    assert {state.current, state.previous} == {json.loads(out)["current"] for out, _ in outputs}
    assert len(state.releases) == 2 and not list(root.glob(".staging-*"))


def test_a_staging_folder_left_by_a_killed_install_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / ".staging-killed").mkdir(parents=True)
    (root / ".staging-killed" / "half.tflite").write_bytes(b"\0" * 100)
    releases.install(INT8, root)
    assert not list(root.glob(".staging-*"))


@pytest.mark.parametrize("make_bad, words", [
    (lambda root: root.write_text("not a folder"), "cannot use this models root"),
    (lambda root: (root / "current").mkdir(parents=True), "current: is a folder, not the release symlink"),
])
def test_a_broken_models_root_is_one_line(tmp_path: Path, make_bad, words: str) -> None:
    root = tmp_path / "models"
    make_bad(root)
    done = run_cli("model", "--root", str(root), "install", str(INT8))
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_an_unwritable_models_root_is_one_line(tmp_path: Path) -> None:
    from tests.conftest import ReadOnlyDir

    root = tmp_path / "models"
    root.mkdir()
    with ReadOnlyDir(root):
        done = run_cli("model", "--root", str(root), "install", str(INT8))
    assert done.returncode == 2 and "Traceback" not in done.stderr and str(root) in done.stderr, done.stderr


def test_every_hash_the_install_prints_says_what_it_is(tmp_path: Path) -> None:
    import re

    root = tmp_path / "models"
    done = run_cli("model", "--root", str(root), "install", str(INT8))
    assert done.returncode == 0, done.stderr
    sidecar = json.loads(INT8.with_suffix(".json").read_text())
    lines = [line for line in done.stdout.splitlines() if " INFO " not in line]
    assert lines[0].startswith(f"installed {INT8.name} (model sha256 {sidecar['sha256'][:12]}…) as release ")
    assert lines[1].startswith(f"current: {INT8.name} (release ")
    for line in lines:  # no bare hash: each is named by the word before it
        for found in re.finditer(r"[0-9a-f]{12,}", line):
            assert re.search(r"(sha256|release) $", line[: found.start()]), line

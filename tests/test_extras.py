"""A command whose optional dependencies are missing ends in one line naming the extra to install.

Every command x the extra it needs, with that extra's modules made unimportable in a subprocess
(fast); and the issue's targets in real fresh venvs that hold only `[edge]` or only `[hub]`, as
the README's install lines make them (slow: the venvs are built once per pyproject.toml and
kept under .venv/extras/).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeemo import extras
from tests.conftest import REPO

# command line (enough to pass argparse) -> the extra it needs
NEEDS = {
    ("train", "--out", "x"): "train",
    ("evaluate", "--data", "x"): "train",
    ("teacher-targets", "--model", "m", "--data", "d", "--out", "o"): "train",
    ("convert", "--int8"): "train",
    ("drift", "--float", "f", "--int8", "i", "--data", "d"): "train",
    ("run",): "edge",
    ("bench", "--source", "x"): "edge",
    ("detect", "x.png"): "edge",
    ("model", "status"): "edge",
    ("zones", "preview", "--config", "c.toml", "--out", "o.png"): "edge",
    ("hub", "serve"): "hub",
    ("hub", "import", "d.db", "--store", "s", "--device", "d"): "hub",
    ("hub", "export"): "hub",
    ("hub", "upkeep"): "hub",
    ("hub", "backup", "--to", "b.db"): "hub",
    ("hub", "user", "list"): "hub",
    ("hub", "store", "list"): "hub",
    ("hub", "dead-letters", "list"): "hub",
    ("hub", "bench"): "hub",
}

# Makes the named top-level modules unimportable, as in an environment that lacks them.
BLOCKER = """
import sys
blocked = set(sys.argv[1].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from edgeemo.cli import main
sys.exit(main(sys.argv[2:]))
"""


def assert_names_the_extra(result: subprocess.CompletedProcess, command: str, extra: str) -> None:
    assert result.returncode == extras.ExtraMissing.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"edgeemo {command} needs the {extra} extra ("), lines[0]
    assert lines[0].endswith(f"pip install 'edgeemo[{extra}]'"), lines[0]


@pytest.mark.parametrize("words", list(NEEDS), ids=" ".join)
def test_each_command_names_its_missing_extra(words: tuple[str, ...], tmp_path: Path) -> None:
    extra = NEEDS[words]
    modules = {module for group in extras.EXTRAS[extra] for module in group}
    modules -= {module for other, groups in extras.EXTRAS.items() if other != extra
                for group in groups for module in group}  # paho, tensorflow: shared, left importable
    result = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(sorted(modules)), *words], cwd=tmp_path,
                            check=False, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO)})
    command = " ".join(word for word in words if not word.startswith("-") and word in
                       {"train", "evaluate", "teacher-targets", "convert", "drift", "run", "bench", "detect",
                        "model", "status", "zones", "preview", "hub", "serve", "import", "export", "upkeep",
                        "backup", "user", "list", "store", "dead-letters"})
    assert_names_the_extra(result, command, extra)
    assert not any(tmp_path.iterdir()), "a refused command wrote nothing"


def test_an_import_the_check_missed_still_names_the_extra(tmp_path: Path) -> None:
    """A handler that imports a module of an extra the command did not declare: the same one line."""
    script = BLOCKER.replace("from edgeemo.cli import main", "from edgeemo.cli import main\n"
                             "import edgeemo.extras as e\ne.check = lambda *a: None")
    result = subprocess.run([sys.executable, "-c", script, "uvicorn,starlette", "hub", "serve"], cwd=tmp_path,
                            check=False, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO)})
    assert_names_the_extra(result, "hub serve", "hub")


def test_every_command_declares_what_it_needs() -> None:
    """A new command that imports an extra's modules must say so (here: every command listed above does)."""
    from edgeemo.cli import build_parser

    parser = build_parser()
    for words, extra in NEEDS.items():
        args = parser.parse_args(list(words))
        assert args.needs == (extra,), words


# -- real venvs -----------------------------------------------------------------------------------
def extra_venv(extra: str) -> Path:
    """A venv with edgeemo installed as the README says (`pip install -e '.[EXTRA]'`) and nothing else,
    built once per pyproject.toml and Python version."""
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + sys.version.encode()).hexdigest()[:12]
    home = REPO / ".venv" / "extras"
    venv = home / f"{extra}-{key}"
    stamp = venv / ".installed"
    if not stamp.exists():
        for old in home.glob(f"{extra}-*"):
            shutil.rmtree(old, ignore_errors=True)
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", f"{REPO}[{extra}]"],
                       check=True, cwd=REPO, timeout=1200)
        stamp.touch()
    return venv


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "words", "needed"), [
    ("edge", ("hub", "serve"), "hub"),
    ("edge", ("train", "--data", "faces", "--out", "run"), "train"),
    ("edge", ("evaluate", "--data", "faces"), "train"),
    ("hub", ("run", "--source", "clip.mp4"), "edge"),
    ("hub", ("detect", "photo.jpg"), "edge"),
], ids=lambda value: " ".join(value) if isinstance(value, tuple) else value)
def test_a_venv_with_one_extra(extra: str, words: tuple[str, ...], needed: str, tmp_path: Path) -> None:
    venv = extra_venv(extra)
    result = subprocess.run([str(venv / "bin" / "edgeemo"), *words], cwd=tmp_path, capture_output=True, text=True, check=False,
                            timeout=300)
    command = " ".join(words[:2] if words[0] == "hub" else words[:1])
    assert_names_the_extra(result, command, needed)
    assert not any(tmp_path.iterdir()), "a refused command wrote nothing"
    works = subprocess.run([str(venv / "bin" / "edgeemo"), "--help"], capture_output=True, text=True, timeout=300, check=False)
    assert works.returncode == 0 and "hub" in works.stdout  # the installed extra itself is usable

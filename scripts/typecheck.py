"""Type-check the installed package layout with mypy (`make typecheck`, run by .ci/run).

The repository keeps each stage at the top (train/, edge/, hub/, ...) and pyproject.toml maps them into
one package (`edgeemo.train` is train/). The editable install does that mapping with an import hook,
which mypy does not run, so this builds the package as users import it, out of symlinks to the sources,
in build/typecheck/, runs `mypy -p edgeemo` there with the settings in pyproject.toml, and names the
real files in what it reports (train/trainer.py, not edgeemo/train/trainer.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / "build" / "typecheck"


def package_dirs() -> dict[str, str]:
    """{"edgeemo.train": "train", ...}: the subpackages pyproject.toml maps from top-level folders."""
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: folder for name, folder in setup["package-dir"].items() if name != "edgeemo"}


def build_tree() -> dict[str, str]:
    """build/typecheck/edgeemo: the ground floor's files, and a link per mapped stage; {tree path: real path}."""
    shutil.rmtree(TREE, ignore_errors=True)
    root = TREE / "edgeemo"
    root.mkdir(parents=True)
    for entry in (REPO / "edgeemo").iterdir():
        if entry.name != "__pycache__":
            (root / entry.name).symlink_to(entry)
    real = {"edgeemo/": "edgeemo/"}
    for name, folder in package_dirs().items():
        (root / name.split(".", 1)[1]).symlink_to(REPO / folder)
        real[f"{name.replace('.', '/')}/"] = f"{folder}/"
    return real


def main() -> int:
    real = build_tree()
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), "-p", "edgeemo"],
                          cwd=TREE, capture_output=True, text=True, check=False)
    prefixes = sorted(real, key=len, reverse=True)  # edgeemo/edge/ before edgeemo/
    pattern = re.compile("^(" + "|".join(re.escape(prefix) for prefix in prefixes) + ")", re.MULTILINE)
    print(pattern.sub(lambda match: real[match.group(1)], done.stdout + done.stderr), end="")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

"""The house's shape, checked: floors that import only downwards, the device↔hub contract written
once, and modules and route functions a newcomer can read in one sitting (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

STAGES = ("train", "calibration", "convert", "edge", "hub", "sim")
EDGE_FLOORS = ("capture", "vision", "inference", "analytics", "service")
EDGE_TOP = ("cli", "config", "loop", "runtime", "bench", "survey")
# the sideways imports between edge floors: the debugging view draws a capture Frame; BlazeFace
# runs on the one TFLite interpreter loader (the only place a runtime is imported)
EDGE_SIDEWAYS = {("service", "capture"), ("vision", "inference")}
# hub/'s floors, bottom first, and the floors each stands on: ingest and reading both stand on storage and never
# meet (the pages read the ingest's counters through a Protocol, not an import); admin reads with reading
HUB_FLOORS = ("storage", "ingest", "reading", "admin", "web")
HUB_BELOW = {
    "storage": set(),
    "ingest": {"storage"},
    "reading": {"storage"},
    "admin": {"storage", "reading"},
    "web": {"storage", "reading", "admin"},
}
# hub/'s own ground, beside the floors at the top of the folder: hub.toml's sections, a store's calendar and the
# calibrations, which every floor may import (they import no floor); and the commands, which no floor imports
HUB_GROUND = ("config", "localtime", "estimating")
HUB_TOP = ("cli", "cli_shared", "admin_cli")


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every edgeemo module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("edgeemo.")}


def _package(name: str) -> str:
    """`edgeemo.edge.vision.haar.HaarDetector` -> `edge.vision`; `edgeemo.hub.storage.db` -> `hub.storage`;
    `edgeemo.hub.localtime` -> `hub`."""
    parts = name.split(".")[1:]
    if parts[:1] == ["edge"] and len(parts) > 1 and parts[1] in EDGE_FLOORS:
        return f"edge.{parts[1]}"
    if parts[:1] == ["hub"] and len(parts) > 1 and parts[1] in (*HUB_FLOORS, "bench"):
        return f"hub.{parts[1]}"
    return parts[0] if parts else ""


def _hub_part(name: str) -> str | None:
    """Where in hub/ an imported name lives: a floor, `bench`, `ground`, `top`; None outside hub/ (or the bare
    `edgeemo.hub`, a docstring)."""
    parts = name.split(".")[1:]
    if parts[:1] != ["hub"] or len(parts) == 1:
        return None
    if parts[1] in (*HUB_FLOORS, "bench"):
        return parts[1]
    return "ground" if parts[1] in HUB_GROUND else "top"


def test_the_ground_floor_imports_no_stage() -> None:
    for path in _modules(REPO / "edgeemo"):
        if path.name in ("cli.py", "__main__.py"):  # the command line sits on top of every stage
            continue
        stages = {_package(name).split(".")[0] for name in _imports(path)} & set(STAGES)
        assert not stages, f"{path.relative_to(REPO)} imports {sorted(stages)}: the ground floor stays below the stages"


def test_edge_floors_import_only_downwards() -> None:
    for floor in EDGE_FLOORS:
        for path in _modules(REPO / "edge" / floor):
            for name in _imports(path):
                target = _package(name)
                where = f"{path.relative_to(REPO)} imports {name}"
                assert not target.startswith("hub"), where
                if target == "edge":  # the top: config, loop, runtime, bench, cli
                    pytest.fail(f"{where}: a floor never imports the top of edge/")
                if target.startswith("edge.") and target != f"edge.{floor}":
                    assert (floor, target.split(".")[1]) in EDGE_SIDEWAYS, f"{where}: floors do not import sideways"


def test_hub_floors_import_only_downwards() -> None:
    for floor in HUB_FLOORS:
        for path in _modules(REPO / "hub" / floor):
            for name in _imports(path):
                part = _hub_part(name)
                where = f"{path.relative_to(REPO)} imports {name}"
                if part in (None, "ground", floor):
                    continue
                assert part not in ("top", "bench"), f"{where}: a floor never imports the commands or the bench"
                assert part in HUB_BELOW[floor], f"{where}: {floor}/ stands on {sorted(HUB_BELOW[floor])} only"


def test_the_hubs_ground_imports_no_floor() -> None:
    for stem in HUB_GROUND:
        path = REPO / "hub" / f"{stem}.py"
        above = [name for name in _imports(path) if _hub_part(name) not in (None, "ground")]
        assert not above, f"{path.relative_to(REPO)} imports {above}: hub/'s ground sits below every floor"


def test_hub_is_its_floors_and_a_few_modules_at_the_top() -> None:
    assert {p.stem for p in (REPO / "hub").glob("*.py")} == {"__init__", *HUB_GROUND, *HUB_TOP}
    folders = {p.name for p in (REPO / "hub").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {*HUB_FLOORS, "bench", "templates", "static"}, folders


def test_device_and_hub_share_only_the_ground_floor() -> None:
    for stage, other in (("edge", "hub"), ("hub", "edge")):
        for path in _modules(REPO / stage):
            assert not [n for n in _imports(path) if _package(n).split(".")[0] == other], \
                f"{path.relative_to(REPO)} imports {other}/: what both need lives in edgeemo/"


def test_the_simulator_sits_above_the_device_and_nothing_but_commands_load_it() -> None:
    """sim/ drives the device's own loop with footage of train/'s labelled faces: it may import the ground floor,
    edge/ and train/, never the hub; only command lines (and `evaluate --chain`, inside its handler) import sim/."""
    for path in _modules(REPO / "sim"):
        stages = {_package(name).split(".")[0] for name in _imports(path)} & set(STAGES)
        assert stages <= {"sim", "edge", "train"}, f"{path.relative_to(REPO)} imports {sorted(stages)}"
    for stage in ("edge", "hub", "calibration", "convert", "edgeemo"):
        for path in _modules(REPO / stage):
            if path.name == "cli.py":
                continue
            assert not [n for n in _imports(path) if n.startswith("edgeemo.sim")], f"{path.relative_to(REPO)} imports sim/"
    users = {path.relative_to(REPO).as_posix() for path in _modules(REPO / "train")
             if [n for n in _imports(path) if n.startswith("edgeemo.sim")]}
    assert users <= {"train/evaluate.py"}, users


def test_the_hub_runtime_never_loads_the_bench() -> None:
    for path in _modules(REPO / "hub"):
        if "bench" in path.relative_to(REPO / "hub").parts or path.name == "cli.py":
            continue
        assert not [n for n in _imports(path) if n.startswith("edgeemo.hub.bench")], path


def test_the_wire_contract_is_written_once() -> None:
    """Topic levels, name patterns and the re-send limit appear only in edgeemo/wire.py."""
    literals = [r"\^\[A-Za-z0-9_\.-\]", r"\+/\+/", r"/(aggregates|availability|resend)\b",
                r"MAX_(RESEND|REQUEST)\s*=", r"fromisoformat"]
    for stage in ("edge", "hub"):
        for path in _modules(REPO / stage):
            text = path.read_text()
            for literal in literals:
                assert not re.search(literal, text), f"{path.relative_to(REPO)} repeats {literal!r} of edgeemo.wire"


def test_edge_is_a_few_files_at_the_top_and_no_module_is_long() -> None:
    top = [p.name for p in (REPO / "edge").iterdir() if p.is_file()]
    assert len(top) <= 8, top
    assert {p.stem for p in (REPO / "edge").glob("*.py")} == {"__init__", *EDGE_TOP}
    for folder in ("edgeemo", *STAGES, "scripts", "tests"):
        for path in _modules(REPO / folder):
            lines = len(path.read_text().splitlines())
            assert lines <= 350, f"{path.relative_to(REPO)}: {lines} lines; split it by what it does"


def test_no_route_function_of_the_dashboard_is_long() -> None:
    for path in _modules(REPO / "hub" / "web"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 80, f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines"

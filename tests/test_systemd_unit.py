"""The unit file, checked by systemd's own tools: verify clean, security exposure <= 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "edgeemo.service"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


UNITS = ["edgeemo.service", "edgeemo-hub.service"]  # the device's and the fleet hub's


def _unit_here(tmp_path: Path, name: str = "edgeemo.service") -> Path:
    """The unit with ExecStart pointing at this checkout's edgeemo (verify checks it exists)."""
    edgeemo = Path(sys.executable).parent / "edgeemo"
    assert edgeemo.exists()
    text = (REPO / "systemd" / name).read_text()
    text = text.replace("/opt/edgeemo/venv/bin/edgeemo", str(edgeemo)).replace("/opt/edgeemo-hub/venv/bin/edgeemo",
                                                                                str(edgeemo))
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_is_clean(tmp_path: Path, name: str) -> None:
    done = subprocess.run([ANALYZE, "verify", str(_unit_here(tmp_path, name))], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("name", UNITS)
def test_security_exposure_is_at_most_2(tmp_path: Path, name: str) -> None:
    done = subprocess.run([ANALYZE, "security", "--offline=yes", str(_unit_here(tmp_path, name))],
                          capture_output=True, text=True, check=False)
    match = re.search(rf"Overall exposure level for {re.escape(name)}: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security --offline=yes {name}: exposure {exposure}")
    assert exposure <= 2.0


def test_the_unit_keeps_the_contract_with_the_runtime() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=30", "RestartPreventExitStatus=78", "Restart=on-failure",
                 "StateDirectory=edgeemo", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                 "SupplementaryGroups=video", "After=time-sync.target"):
        assert line in text, line
    assert "--config /etc/edgeemo/edgeemo.toml" in text


def test_the_coral_drop_in_verifies_with_the_unit(tmp_path: Path) -> None:
    unit = _unit_here(tmp_path)
    drop_in = tmp_path / "edgeemo.service.d"
    drop_in.mkdir()
    shutil.copy(REPO / "systemd" / "edgeemo.service.d" / "coral.conf", drop_in / "coral.conf")
    # drop-ins are read from the unit search path; ":" keeps the built-in paths after ours
    env = {"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (drop_in / "zz-probe.conf").write_text("[Service]\nNoSuchKey=1\n")  # the drop-in really is read
    done = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, check=False, env=env)
    assert "NoSuchKey" in done.stderr

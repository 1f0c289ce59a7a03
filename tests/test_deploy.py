"""The Ansible rollout end to end, against a real sshd on 127.0.0.1 acting as the device.

The device is a temporary directory (`edgeemo_root_prefix`); apt, users and systemd steps
are skipped in that mode. The playbook builds a real virtualenv there, installs the real
wheel with the edge extra, templates and validates the config, and installs models
through `edgeemo model install`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CLIP, REPO, free_port, padded_model_copy

DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
SSHD = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin")
pytestmark = [pytest.mark.slow]


def _ansible(tool: str) -> str:
    path = BIN / tool
    if not path.exists():
        pytest.skip(f"{tool} is not installed (pip install '.[dev]')")
    return str(path)


def test_playbook_syntax_and_production_lint() -> None:
    done = subprocess.run([_ansible("ansible-playbook"), "-i", "inventory.example.yml", "--syntax-check", "site.yml",
                           "rollback.yml", "hub.yml"], cwd=DEPLOY, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([_ansible("ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
                          cwd=DEPLOY, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    [built] = out.glob("edgeemo-*.whl")
    return built


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory):
    """A real sshd on loopback with a throwaway key: (port, key, prefix folder)."""
    if SSHD is None:
        pytest.skip("sshd is not installed (make test installs Debian's openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("the sshd device test runs as root (sshd's privilege separation)")
    _ansible("ansible-playbook")
    work = tmp_path_factory.mktemp("device")
    key, host_key = work / "id_ed25519", work / "host_ed25519"
    for path in (key, host_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    (work / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    port = free_port()
    config = work / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {work / 'sshd.pid'}",
        f"AuthorizedKeysFile {work / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
    ]))
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"sshd did not start: {process.communicate()[0]!r}")
            time.sleep(0.1)
    yield port, key, work / "root"
    process.terminate()
    process.wait(timeout=10)


def _inventory(device, wheel: Path) -> Path:
    port, key, prefix = device
    host = {
        "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "ansible_remote_tmp": str(prefix.parent / "remote-tmp"),
        "edgeemo_root_prefix": str(prefix), "edgeemo_python": sys._base_executable,
        "edgeemo_wheel": str(wheel),
    }
    inventory = {"all": {"children": {"stores": {"children": {"store_test": {
        "vars": {"edgeemo_store_id": "store-test"}, "hosts": {"device": host}}}}}}}
    path = prefix.parent / "inventory.json"
    path.write_text(json.dumps(inventory))
    return path


def _play(device, wheel: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    work = device[2].parent
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(work / "local-tmp"),
           "ANSIBLE_HOME": str(work / "ansible-home"), "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run([_ansible("ansible-playbook"), "-i", str(_inventory(device, wheel)), playbook, *extra],
                          cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=900, check=False)


def _recap(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("device"))
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}


def _status(device) -> dict:
    prefix = device[2]
    done = subprocess.run([str(prefix / "opt/edgeemo/venv/bin/edgeemo"), "model", "--root",
                           str(prefix / "var/lib/edgeemo/models"), "--json", "status"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rollout_is_idempotent_refuses_a_corrupt_model_and_rolls_back(device, wheel: Path, tmp_path: Path) -> None:
    from edgeemo.edge.inference.releases import release_id

    def release_of(model: Path) -> str:  # a release is the model's bytes and its sidecar's
        return release_id(model, json.loads(model.with_suffix(".json").read_text())["sha256"])

    bundled = release_of(REPO / "models" / "ferplus_cnn_int8.tflite")  # the role's default model

    first = _play(device, wheel, "site.yml")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert _status(device)["current"] == bundled

    second = _play(device, wheel, "site.yml")
    assert second.returncode == 0, second.stdout[-3000:]
    recap = _recap(second.stdout)
    print(f"second run: {recap}")
    assert recap["changed"] == 0 and recap["failed"] == 0, second.stdout[-3000:]

    v2 = padded_model_copy(tmp_path / "v2", "v2")
    pushed = _play(device, wheel, "site.yml", "--tags", "model", "-e", f"edgeemo_model={v2}")
    assert pushed.returncode == 0, pushed.stdout[-3000:]
    state = _status(device)
    v2_sha = release_of(v2)
    assert state["current"] == v2_sha and state["previous"] == bundled

    corrupt = padded_model_copy(tmp_path / "v3", "v3")
    corrupt.write_bytes(corrupt.read_bytes()[: 400_000])  # a transfer cut short
    refused = _play(device, wheel, "site.yml", "--tags", "model", "-e", f"edgeemo_model={corrupt}")
    assert refused.returncode != 0
    assert "does not match its sidecar" in refused.stdout
    assert _status(device)["current"] == v2_sha  # current unchanged

    back = _play(device, wheel, "rollback.yml")
    assert back.returncode == 0, back.stdout[-3000:]
    state = _status(device)
    assert state["current"] == bundled and state["previous"] == v2_sha

    prefix = device[2]
    run = subprocess.run([str(prefix / "opt/edgeemo/venv/bin/edgeemo"), "run", "--config",
                          str(prefix / "etc/edgeemo/edgeemo.toml"), "--source", str(CLIP), "--max-frames", "30"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (prefix / "var/lib/edgeemo/edgeemo.db").exists()

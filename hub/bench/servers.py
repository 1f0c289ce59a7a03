"""Throwaway servers on loopback for the bench and the tests: mosquitto and a PostgreSQL cluster.

Real servers, made and removed here: a mosquitto from a generated config, and a PostgreSQL
cluster made with `initdb` in a temporary folder (as the `postgres` user when running as
root, which `initdb` refuses), reached with trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edgeemo.errors import EdgeemoError


class ServerError(EdgeemoError):
    """A throwaway server could not be started (what is missing, what to install)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")
    if found is None:
        raise ServerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    return found


# mosquitto started as root drops to the `mosquitto` user, which cannot read or write files in
# root's temporary folders (password file, ACL, persistence): a throwaway broker stays root.
ROOT_STAYS_ROOT = "user root\n" if os.geteuid() == 0 else ""


class Mosquitto:
    """mosquitto on 127.0.0.1:`port` with `extra` config lines; answering when start() returns."""

    def __init__(self, folder: Path, port: int | None = None, extra: str = "", anonymous: bool = True) -> None:
        self.folder, self.port = Path(folder), port or free_port()
        self.config = self.folder / f"mosquitto-{self.port}.conf"
        persistence = "" if "persistence " in extra else "persistence false\n"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous {str(anonymous).lower()}\n"
                               f"{persistence}{extra}{ROOT_STAYS_ROOT}")
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise ServerError(f"mosquitto did not start: {self.process.communicate()[0][-400:]!r}") from None
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop it; returns what it logged."""
        if self.process is None:
            return ""
        self.process.terminate()
        try:
            output = self.process.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            output = self.process.communicate()[0]
        self.process = None
        return output.decode(errors="replace")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise ServerError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")
    return found


class Postgres:
    """A PostgreSQL cluster in a temporary folder on 127.0.0.1:`port`, database `hub`."""

    def __init__(self, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.settings = settings or {}
        self.folder = Path(tempfile.mkdtemp(prefix="edgeemo-pg-"))
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, check=False)
        if done.returncode:
            raise ServerError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-400:]}")

    def start(self) -> Postgres:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "edgeemo", "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        self.resume()
        import psycopg

        with psycopg.connect(f"postgresql://edgeemo@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE hub")
        return self

    def resume(self) -> None:
        """Start the server on the cluster (again, after `halt`)."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 " + " ".join(
            f"-c {key}={value}" for key, value in self.settings.items())
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w",
                  "start")

    def halt(self) -> None:
        """Stop the server, keeping the cluster (an outage, for the tests)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://edgeemo@127.0.0.1:{self.port}/hub"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

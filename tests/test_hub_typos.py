"""Typos fail loudly on the hub: a store no device ever sent is refused with the known names (404 on
pages and the API, one line from the CLI), a store is never made up by a mistyped `store set`, and a
mistyped --db never creates an empty hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.storage import stores
from edgeemo.hub.storage.db import open_database
from tests.conftest import REPO
from tests.test_hub_store import interval
from tests.test_hub_web import client_for, hub  # noqa: F401 - the fixture

MISSING = "missing.db"


def hub_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeemo", "hub", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120, env={"PYTHONPATH": str(REPO)})


def one_line(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr
    return done.stderr


@pytest.fixture
def small_hub(tmp_path: Path) -> Path:
    db = tmp_path / "hub.db"
    database = open_database(str(db))
    write_batch(database, [interval(store="store-042", device="pi-1", minute=m) for m in range(3)])
    database.close()
    return db


@pytest.mark.parametrize("args", [
    ("export", "--store", "store-042"), ("export",), ("upkeep",), ("backup", "--to", "copy.db"), ("user", "list"),
    ("user", "remove", "bob"), ("store", "list"), ("store", "set", "s", "--timezone", "UTC"), ("store", "rederive"),
    ("dead-letters", "list"), ("dead-letters", "export", "--out", "letters.jsonl"), ("serve",),
], ids=" ".join)
def test_a_missing_database_is_refused_and_not_created(tmp_path: Path, args: tuple[str, ...]) -> None:
    one_line(hub_cli(*args, "--db", MISSING, cwd=tmp_path), MISSING, "no hub database there", "hub serve --create")
    assert list(tmp_path.iterdir()) == []  # nothing created: not the database, not an output file


def test_only_an_explicit_command_or_flag_creates_one(tmp_path: Path) -> None:
    user = subprocess.run([sys.executable, "-m", "edgeemo", "hub", "user", "add", "adam", "--role", "admin", "--db",
                           "new.db", "--create"], cwd=tmp_path, input="a-long-password\n", capture_output=True,
                          text=True, check=False, env={"PYTHONPATH": str(REPO)})
    assert user.returncode == 0 and (tmp_path / "new.db").is_file(), user.stderr
    assert hub_cli("user", "list", "--db", "new.db", cwd=tmp_path).stdout == "adam\tadmin\n"  # now it exists
    device_db = tmp_path / "device.db"
    ran = subprocess.run([sys.executable, "-m", "edgeemo", "run", "--source", str(REPO / "samples" / "clip.mp4"),
                          "--db", str(device_db)], cwd=REPO, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    imported = hub_cli("import", str(device_db), "--db", "imported.db", "--store", "s", "--device", "d", cwd=tmp_path)
    assert imported.returncode == 0 and (tmp_path / "imported.db").is_file(), imported.stderr


def test_an_unknown_store_is_refused_with_the_known_ones(small_hub: Path, tmp_path: Path) -> None:
    db = str(small_hub)
    one_line(hub_cli("export", "--store", "nosuch", "--db", db, cwd=tmp_path), "no store 'nosuch'", "store-042")
    one_line(hub_cli("export", "--store", "store-42", "--db", db, cwd=tmp_path), "did you mean 'store-042'?")
    one_line(hub_cli("store", "set", "stor-042", "--timezone", "Europe/Paris", "--db", db, cwd=tmp_path),
             "no store 'stor-042'", "did you mean 'store-042'?")
    one_line(hub_cli("store", "rederive", "nosuch", "--db", db, cwd=tmp_path), "no store 'nosuch'")
    database = open_database(db)
    assert stores.list_store_zones(database) == [{"store": "store-042", "timezone": "UTC"}]  # no phantom store
    database.close()
    added = hub_cli("store", "set", "store-043", "--add", "--timezone", "Europe/Paris", "--db", db, cwd=tmp_path)
    assert added.returncode == 0, added.stderr  # a store ahead of its devices: said so explicitly
    exported = hub_cli("export", "--store", "store-043", "--db", db, cwd=tmp_path)
    assert exported.returncode == 0 and exported.stderr == ""  # known now, and empty for a reason


def test_pages_and_the_api_answer_404_for_an_unknown_store(hub) -> None:  # noqa: F811 - the fixture
    client = client_for(hub, "vera", "viewer-password")
    page = client.get("/stores/laod-000")
    assert page.status_code == 404
    assert "no store &#39;laod-000&#39; on this hub; did you mean &#39;load-000&#39;?" in page.text, page.text
    assert "load-001" in page.text and "quiet" in page.text  # the known ones, listed
    assert client.get("/stores/load-000").status_code == 200
    api = client.get("/api/stores/nosuch/series")
    assert api.status_code == 404 and "no store 'nosuch'" in api.json()["error"]
    assert client.get("/api/stores/load-000/series").status_code == 200
    compare = client.get("/api/compare?stores=load-000,nosuch")
    assert compare.status_code == 404 and "nosuch" in compare.json()["error"]
    assert client.get("/compare?stores=load-000&stores=nosuch").status_code == 404


def test_the_admin_stores_page_sets_no_phantom_store(hub) -> None:  # noqa: F811 - the fixture
    client = client_for(hub, "adam", "admin-password")
    page = client.get("/admin/stores")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post("/admin/stores", data={"store": "nosuch", "timezone": "Europe/Paris", "csrf": csrf})
    assert answer.status_code == 200 and "no store &#39;nosuch&#39;" in answer.text
    assert "nosuch" not in [entry["store"] for entry in stores.list_store_zones(hub)]


def test_a_postgresql_database_that_does_not_exist_is_named_at_once(postgres_cluster, tmp_path: Path) -> None:
    """The server's own reason, in one line, without the pool's 10 s wait (which used to hide it)."""
    import time

    url = postgres_cluster.url.rsplit("/", 1)[0] + "/no_such_hub"
    started = time.monotonic()
    done = hub_cli("store", "list", "--db", url, cwd=tmp_path)
    elapsed = time.monotonic() - started
    one_line(done, "cannot connect to", 'database "no_such_hub" does not exist')
    assert elapsed < 8, f"{elapsed:.1f} s: the pool's 10 s timeout again"

"""The admins' refusals page: refusals by device and reason, dead letters with export and delete (the CLI's
actions), admins only, every change behind the session's CSRF token; an unknown device is a 404."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from edgeemo.hub.admin import auth
from edgeemo.hub.ingest.writer import add_reject_counts, keep_dead_letter
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.dead_letters import list_dead_letters
from tests.test_hub_web import client_for

NOW = int(time.time())


@pytest.fixture
def refused(hub_url: str):
    database = open_database(hub_url)
    keep_dead_letter(database, "s1", "d2", "edgeemo/s1/d2/aggregates", b'{"zone": "poison"}', "poisoned row", NOW)
    keep_dead_letter(database, "s1", "d3", "edgeemo/s1/d3/aggregates", b"\x00\xff", "another\nline", NOW)
    with database.transaction(write=True) as tx:
        add_reject_counts(tx, {("s1", "d2", "malformed"): [3, "not JSON"], ("s1", "d2", "flood"): [40, "over budget"],
                               ("s2", "d9", "malformed"): [1, "not JSON"]}, NOW)
    auth.add_user(database, "adam", "admin-password", "admin")
    auth.add_user(database, "vera", "viewer-password", "viewer")
    yield database
    database.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_admins_only(refused) -> None:
    anonymous = client_for(refused)
    assert anonymous.get("/admin/refusals").status_code == 303
    viewer = client_for(refused, "vera", "viewer-password")
    assert viewer.get("/admin/refusals").status_code == 403
    assert viewer.get("/admin/refusals/dead-letters.jsonl").status_code == 403
    assert viewer.post("/admin/refusals", data={"action": "delete-all", "csrf": csrf_of(viewer.get("/").text)}
                       ).status_code == 403
    assert len(list_dead_letters(refused)) == 2
    assert "/admin/refusals" not in viewer.get("/").text  # not in a viewer's menu


def test_refusals_by_device_and_reason_and_the_dead_letters(refused) -> None:
    page = client_for(refused, "adam", "admin-password").get("/admin/refusals")
    assert page.status_code == 200
    assert re.search(r"<strong>flood</strong> 40 · <strong>malformed</strong> 4", page.text)
    table = page.text.split('id="refusals"')[1].split("</table>")[0]
    assert table.count("<tr>") == 4 and "s2/d9" in table and "over budget" in table  # a header and three counters
    letters = page.text.split('id="dead-letters"')[1].split("</table>")[0]
    assert "s1/d2" in letters and "s1/d3" in letters and "poisoned row" in letters
    one = client_for(refused, "adam", "admin-password").get("/admin/refusals?device=s1/d2")
    table = one.text.split('id="refusals"')[1].split("</table>")[0]
    assert "s2/d9" not in table and "malformed" in table and "flood" in table
    assert "s1/d3" not in one.text.split('id="dead-letters"')[1]
    unknown = client_for(refused, "adam", "admin-password").get("/admin/refusals?device=s1/d4")
    assert unknown.status_code == 404 and "no device &#39;s1/d4&#39;" in unknown.text and "s1/d2" in unknown.text


def test_export_is_the_clis_file(refused, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    export = client_for(refused, "adam", "admin-password").get("/admin/refusals/dead-letters.jsonl")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    bodies = {json.loads(line)["device"]: base64.b64decode(json.loads(line)["body"]) for line in export.text.splitlines()}
    assert bodies == {"d2": b'{"zone": "poison"}', "d3": b"\x00\xff"}  # as received, byte for byte
    if refused.dialect == "sqlite":
        cli = tmp_path / "cli.jsonl"
        assert run_cli("hub", "dead-letters", "export", "--db", refused.url, "--out", str(cli)).returncode == 0
        assert cli.read_text() == export.text


def test_delete_one_then_all_behind_csrf(refused) -> None:
    admin = client_for(refused, "adam", "admin-password")
    page = admin.get("/admin/refusals")
    digest = next(letter["digest"] for letter in list_dead_letters(refused) if letter["device"] == "d3")
    forged = admin.post("/admin/refusals", data={"action": "delete", "digest": digest, "csrf": "made-up"})
    assert forged.status_code == 403 and len(list_dead_letters(refused)) == 2
    prefix = admin.post("/admin/refusals", data={"action": "delete", "digest": digest[:12], "csrf": csrf_of(page.text)})
    assert "whole digest" in prefix.text and len(list_dead_letters(refused)) == 2  # never a prefix
    done = admin.post("/admin/refusals", data={"action": "delete", "digest": digest, "csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "deleted 1 dead letter<" in done.text
    assert [letter["device"] for letter in list_dead_letters(refused)] == ["d2"]
    everything = admin.post("/admin/refusals", data={"action": "delete-all", "csrf": csrf_of(page.text)})
    assert "deleted 1 dead letter<" in everything.text and list_dead_letters(refused) == []
    assert "No dead letters" in admin.get("/admin/refusals").text

"""The dashboard against the issue's attacks (issue 34, F13, F16): every response carries the security
headers, a forged X-Forwarded-For moves no lock unless a trusted proxy sent it, and five wrong passwords
from one address lock that name there, not for its owner elsewhere."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.testclient import TestClient

from edgeemo.hub.admin import auth
from edgeemo.hub.bench.servers import free_port
from edgeemo.hub.config import HubConfig, WebSection
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.web import LOGIN_CSRF_COOKIE, create_app
from edgeemo.hub.web.site import SECURITY_HEADERS
from tests.test_hub_web import log_in


@pytest.fixture
def database(tmp_path):
    database = open_database(str(tmp_path / "hub.db"))
    auth.add_user(database, "vera", "viewer-password", "viewer")
    yield database
    database.close()


@pytest.mark.parametrize("path, status", [("/favicon.ico", 204), ("/static", 307), ("/no-such-page", 404),
                                          ("/static/app.js", 200), ("/static/nothing.js", 404)])
def test_every_response_carries_the_security_headers(database, path: str, status: int) -> None:
    """/favicon.ico (204) and /static (307) had none of the headers every other response has."""
    response = TestClient(create_app(HubConfig(), database), follow_redirects=False).get(path)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        if name != "Cache-Control":
            assert response.headers.get(name) == value, (path, name)
    assert response.headers.get("cache-control")


@contextlib.contextmanager
def serving(app, web: WebSection):
    """The app on a real uvicorn with the proxy options `hub serve` gives it; its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           **web.server_options()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def attempt(client: httpx.Client, name: str, password: str, forwarded: str) -> int:
    form = client.get("/login")
    return client.post("/login", headers={"X-Forwarded-For": forwarded}, data={
        "name": name, "password": password, "next": "/", "csrf": form.cookies[LOGIN_CSRF_COOKIE]}).status_code


@pytest.mark.slow
def test_a_forged_forwarded_for_moves_no_lock(database) -> None:
    """25 failures from 127.0.0.1 with rotating X-Forwarded-For values locked nothing: uvicorn trusted the
    header from loopback. Now the peer's address counts unless [web] trusted_proxies names the sender."""
    web = WebSection(login_failures_per_name=1000, login_failures_per_address=20)
    with serving(create_app(HubConfig(web=web), database), web) as url, httpx.Client(base_url=url) as client:
        codes = [attempt(client, f"n{i}", "wrong-password", f"203.0.113.{i}") for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429  # the 21st: 127.0.0.1 is locked, forged header or not
    trusting = WebSection(login_failures_per_name=1000, login_failures_per_address=20, trusted_proxies=["127.0.0.1"])
    with serving(create_app(HubConfig(web=trusting), database), trusting) as url, \
            httpx.Client(base_url=url) as client:  # behind a proxy that sets the header: each client its own
        assert [attempt(client, f"n{i}", "wrong-password", f"203.0.113.{i}") for i in range(21)] == [401] * 21


def test_wrong_passwords_lock_a_name_from_that_address_only(database) -> None:
    """Five wrong passwords locked a known name for 15 minutes for everyone, its owner included."""
    web = WebSection(login_failures_per_name=5, login_failures_per_address=20)
    app = create_app(HubConfig(web=web), database)
    guesser = TestClient(app, follow_redirects=False, client=("198.51.100.7", 40000))
    owner = TestClient(app, follow_redirects=False, client=("192.0.2.10", 40000))
    assert [log_in(guesser, "vera", "guess-x").status_code for _ in range(6)] == [401] * 5 + [429]
    assert log_in(guesser, "vera", "viewer-password").status_code == 429  # locked from there, right or not
    assert log_in(owner, "vera", "viewer-password").status_code == 303  # her own address is not


def test_trusted_proxies_must_be_addresses(tmp_path) -> None:
    from edgeemo.errors import ConfigError
    from edgeemo.hub.config import load_config

    config = tmp_path / "hub.toml"
    config.write_text('[web]\ntrusted_proxies = ["127.0.0.1", "everyone"]\n')
    with pytest.raises(ConfigError, match="web.trusted_proxies"):
        load_config(config)
    config.write_text('[web]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    assert load_config(config).web.server_options() == {"proxy_headers": True,
                                                        "forwarded_allow_ips": "127.0.0.1,10.0.0.0/8,::1"}

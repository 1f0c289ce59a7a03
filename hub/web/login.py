"""Logging in and out: a double-submit CSRF token on the login form, a session cookie after it.

Failed logins are logged (name and address, never the password) and throttled per name and address
and per address (`throttle.py`; the address is the peer's unless `[web] trusted_proxies` names it); the password check runs in a worker thread, one at a time (Argon2id
uses every core for a moment), so a burst of logins never stalls the event loop or the health
check.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from edgeemo.hub.admin import auth
from edgeemo.hub.web.site import LOGIN_CSRF_COOKIE, SECURITY_HEADERS, SESSION_COOKIE, Site
from edgeemo.hub.web.throttle import LoginThrottle

log = logging.getLogger(__name__)
MAX_PASSWORD = 1024  # longer is refused unhashed: Argon2 would still read it all


class LoginRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site
        web = site.web
        self.throttle = LoginThrottle(web.login_failures_per_name, web.login_failures_per_address,
                                      web.login_window_s, web.login_lockout_s)
        self.hashing = threading.BoundedSemaphore(1)

    def routes(self) -> list[Route]:
        return [Route("/login", self.form, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"])]

    def page(self, target: str, status: int = 200, error: str | None = None,
             headers: dict[str, str] | None = None) -> Response:
        """The login form with a fresh double-submit CSRF token (a used one never comes back)."""
        token = secrets.token_urlsafe(24)
        response = self.site.page("login.html", None, status=status, next=target, csrf=token, error=error)
        response.headers.update(headers or {})
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=self.site.web.secure_cookies)
        return response

    def form(self, request: Request) -> Response:
        return self.page(safe_target(request.query_params.get("next", "/")))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        return await run_in_threadpool(self.check_login, request, form)

    def check_login(self, request: Request, form) -> Response:
        self.site.check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE))
        name, password = str(form.get("name", ""))[:200], str(form.get("password", ""))
        target = safe_target(str(form.get("next", "/")))
        address = request.client.host if request.client else "unknown"
        wait_s, locked_now = self.throttle.attempt(name, address)  # counts as failed until it succeeds
        if wait_s > 0:
            log.warning("hub: login refused for %r from %s: locked for %.0f s more after failed logins",
                        name[:64], address, wait_s)
            minutes = math.ceil(wait_s / 60)
            return self.page(target, status=429, headers={"Retry-After": str(math.ceil(wait_s))},
                             error=f"too many failed logins: try again in {minutes} minute{'s' * (minutes > 1)}")
        role = None
        if auth.NAME_PATTERN.fullmatch(name) and len(password) <= MAX_PASSWORD:
            with self.hashing:
                role = auth.verify(self.site.database, name, password)
        if role is None:
            log.warning("hub: failed login for %r from %s", name[:64], address)
            if locked_now:
                log.warning("hub: logins for %r from %s (or any from %s) locked for %d s", name[:64], address,
                            address, self.site.web.login_lockout_s)
            return self.page(target, status=401, error="wrong name or password")
        self.throttle.succeeded(name, address)
        web = self.site.web
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(SESSION_COOKIE, auth.start_session(self.site.database, name, web.session_hours),
                            max_age=int(web.session_hours * 3600), httponly=True, samesite="strict",
                            secure=web.secure_cookies)
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        return await run_in_threadpool(self.end, request, form)

    def end(self, request: Request, form) -> Response:
        session = self.site.need(request)
        self.site.check_csrf(form, session.csrf)
        auth.end_session(self.site.database, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def safe_target(target: str) -> str:
    """Where to go after logging in: a path on this site, else the overview."""
    if not target.startswith("/") or target[1:2] in ("/", "\\") or len(target) > 2048:
        return "/"
    return target

"""Logging in and out: a double-submit CSRF token on the login form, a session cookie after it."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from edgeemo.hub import auth
from edgeemo.hub.web.site import LOGIN_CSRF_COOKIE, SECURITY_HEADERS, SESSION_COOKIE, Site


class LoginRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [Route("/login", self.form, methods=["GET"]), Route("/login", self.login, methods=["POST"]),
                Route("/logout", self.logout, methods=["POST"])]

    def page(self, target: str, status: int = 200, error: str | None = None) -> Response:
        """The login form with a fresh double-submit CSRF token (a used one never comes back)."""
        token = secrets.token_urlsafe(24)
        response = self.site.page("login.html", None, status=status, next=target, csrf=token, error=error)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=self.site.web.secure_cookies)
        return response

    async def form(self, request: Request) -> Response:
        return self.page(request.query_params.get("next", "/"))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        self.site.check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE))
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = str(form.get("next", "/"))
        if not target.startswith("/") or target[1:2] in ("/", "\\"):  # no way off this site
            target = "/"
        role = auth.verify(self.site.database, name, password)
        if role is None:
            return self.page(target, status=401, error="wrong name or password")
        web = self.site.web
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(SESSION_COOKIE, auth.start_session(self.site.database, name, web.session_hours),
                            max_age=int(web.session_hours * 3600), httponly=True, samesite="strict",
                            secure=web.secure_cookies)
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.site.need(request)
        self.site.check_csrf(await request.form(), session.csrf)
        auth.end_session(self.site.database, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

"""The dashboard and its API: a Starlette (ASGI) app, server-rendered pages, Chart.js vendored.

Everything but `GET /api/health`, the login page and the static files needs a session; admin
pages need the admin role. Forms carry a CSRF token (the session's, or on the login form a
double-submit cookie); cookies are HttpOnly and SameSite=Strict, and the Content-Security-
Policy allows scripts from this origin only, so the chart data travels in JSON blocks, not in
inline code. Every page's numbers come from `edgeemo.hub.reading.queries`, which the API serves as
JSON or CSV and `edgeemo hub export` writes.

`site.py` holds what the routes share; `login.py`, `pages.py`, `refusals.py` and `api.py` the routes.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from edgeemo.errors import first_line
from edgeemo.hub.config import HubConfig
from edgeemo.hub.reading.known import UnknownName
from edgeemo.hub.reading.params import QueryError
from edgeemo.hub.storage.db import DATABASE_ERRORS, Database
from edgeemo.hub.web.api import ApiRoutes
from edgeemo.hub.web.guard import HeaderedStaticFiles, RefuseControlCharacters, SecurityHeaders
from edgeemo.hub.web.login import LoginRoutes
from edgeemo.hub.web.pages import PageRoutes
from edgeemo.hub.web.refusals import RefusalRoutes
from edgeemo.hub.web.site import (
    HUB,
    LOGIN_CSRF_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    STATIC_HEADERS,
    IngestStatus,
    Site,
    UpkeepStatus,
)

__all__ = ["LOGIN_CSRF_COOKIE", "SESSION_COOKIE", "create_app"]
log = logging.getLogger(__name__)


def create_app(config: HubConfig, database: Database, ingest: IngestStatus | None = None,
               upkeep: UpkeepStatus | None = None) -> Starlette:
    site = Site(config, database, ingest, upkeep)

    def http_error(request: Request, exc: HTTPException, session_known: bool = True) -> Response:
        headers = dict(SECURITY_HEADERS, **(exc.headers or {}))
        if request.url.path.startswith("/api/") or exc.status_code in (303,):
            body = {"error": exc.detail} if exc.status_code != 303 else None
            return JSONResponse(body, status_code=exc.status_code, headers=headers)
        session = None
        if session_known:
            try:
                session = site.session_of(request)
            except DATABASE_ERRORS:  # an error page must not fail on the database
                session = None
        response = site.page("error.html", session, status=exc.status_code, error=exc.detail)
        response.headers.update(exc.headers or {})
        return response

    def database_error(request: Request, exc: Exception) -> Response:
        """The database failed under a request (down, full, locked): one log line, a 503, no traceback."""
        log.error("hub: %s %s: database error (%s)", request.method, request.url.path, first_line(exc))
        return http_error(request, HTTPException(503, "the fleet database is not answering; try again in a "
                                                      "minute (the hub's log says why)"), session_known=False)

    def query_error(request: Request, exc: QueryError) -> Response:
        return http_error(request, HTTPException(400, str(exc)))

    def unknown_name(request: Request, exc: UnknownName) -> Response:
        return http_error(request, HTTPException(404, str(exc)))

    routes = [
        Route("/favicon.ico", lambda request: Response(status_code=204, headers=STATIC_HEADERS)),  # nothing to show
        *PageRoutes(site).routes(), *RefusalRoutes(site).routes(), *LoginRoutes(site).routes(),
        *ApiRoutes(site).routes(),
        Mount("/static", HeaderedStaticFiles(directory=HUB / "static", headers=STATIC_HEADERS), name="static"),
    ]
    # Any: each handler takes its own exception type, which Starlette's annotation (Exception) cannot say
    handlers: dict[Any, Any] = {HTTPException: http_error, QueryError: query_error, UnknownName: unknown_name,
                                **{kind: database_error for kind in DATABASE_ERRORS}}
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, headers=SECURITY_HEADERS),
                                                Middleware(RefuseControlCharacters, headers=SECURITY_HEADERS)],
                     exception_handlers=handlers)

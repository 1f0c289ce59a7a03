"""What the app refuses before any route runs, and the headers its static files carry.

A NUL, CR, LF or other control character in a path or query is refused here with a 400 that
says so, not left to the database (PostgreSQL refuses NUL in text: a 503 and a false ERROR
in the log) or to h11 (CR/LF in a header: a dropped connection).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_QUERY_BYTES = 4096  # twelve store names and every parameter fit many times over
CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class RefuseControlCharacters:
    """ASGI middleware: 400 for a control character in the path or the (decoded) query string, 414
    for a query string longer than any the dashboard makes."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app, self.headers = app, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            problem = None
            if len(query) > MAX_QUERY_BYTES:
                problem = (414, f"the query string is longer than {MAX_QUERY_BYTES} bytes")
            elif CONTROL.search(scope.get("path", "").encode("utf-8", "replace")) or CONTROL.search(
                    unquote_to_bytes(query.replace(b"+", b" "))):
                problem = (400, "the path or query holds a control character (NUL, CR, LF, ...): remove it")
            if problem is not None:
                response = JSONResponse({"error": problem[1]}, status_code=problem[0], headers=self.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: every response carries the security headers, whatever made it (a route that forgot
    them, /favicon.ico's 204, the router's redirect from /static to /static/, a 404 or 405); a header a
    response sets itself (the static files' Cache-Control) is kept."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in self.headers if name not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeaderedStaticFiles(StaticFiles):
    """Static files with the pages' security headers (cacheable, unlike the pages)."""

    def __init__(self, *, headers: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.extra_headers = headers

    async def get_response(self, path: str, scope: Scope):
        response = await super().get_response(path, scope)
        response.headers.update(self.extra_headers)
        return response

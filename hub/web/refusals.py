"""The admins' refusals page: what the hub refused, by device and reason, and the dead letters with the
actions `edgeemo hub dead-letters` has (export, delete one, delete all), behind the admin role and CSRF."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgeemo.hub.admin.refusals import refusals_page
from edgeemo.hub.storage.dead_letters import delete_dead_letters, list_dead_letters
from edgeemo.hub.web.site import SECURITY_HEADERS, Site, attachment
from edgeemo.text import plural


class RefusalRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [Route("/admin/refusals", self.page, methods=["GET", "POST"]),
                Route("/admin/refusals/dead-letters.jsonl", self.export)]

    async def page(self, request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(self.show, request, form)

    def show(self, request: Request, form) -> Response:
        session = self.site.need(request, admin=True)
        message = None
        if form is not None:
            self.site.check_csrf(form, session.csrf)
            if form.get("action") == "delete-all":
                message = f"deleted {plural(delete_dead_letters(self.site.database), 'dead letter')}"
            else:
                digest = str(form.get("digest", ""))
                if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
                    message = "name a dead letter by its whole digest"  # never a prefix that might match several
                else:
                    message = f"deleted {plural(delete_dead_letters(self.site.database, digest), 'dead letter')}"
        device = request.query_params.get("device") or None
        return self.site.page("refusals.html", session, message=message, **refusals_page(self.site.database, device))

    def export(self, request: Request) -> Response:
        """Every dead letter with its body (base64), one JSON object a line: `hub dead-letters export`'s file."""
        self.site.need(request, admin=True)
        letters = list_dead_letters(self.site.database, with_body=True)
        return Response("".join(json.dumps(letter) + "\n" for letter in letters), media_type="application/x-ndjson",
                        headers={**SECURITY_HEADERS, "Content-Disposition": attachment("dead-letters.jsonl")})

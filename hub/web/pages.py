"""The dashboard's pages: fleet overview, one store, compare, and the admin's users page (plain
`def` handlers, or a form read and then a worker thread: no database call on the event loop)."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgeemo.errors import EdgeemoError
from edgeemo.hub.admin import auth
from edgeemo.hub.localtime import readable_time
from edgeemo.hub.reading import params, queries
from edgeemo.hub.reading.known import check_store
from edgeemo.hub.storage import stores
from edgeemo.hub.web.site import Site


class PageRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [Route("/", self.overview), Route("/stores/{store}", self.store), Route("/compare", self.compare),
                Route("/admin/users", self.users, methods=["GET", "POST"]),
                Route("/admin/stores", self.stores, methods=["GET", "POST"])]

    def overview(self, request: Request) -> Response:
        session = self.site.need(request)
        held = self.site.held_back() if session.is_admin else None  # counts k hides: admins only
        return self.site.page("overview.html", session, overview=self.site.overview(), held=held)

    def store(self, request: Request) -> Response:
        session = self.site.need(request)
        store = request.path_params["store"]
        params = dict(request.query_params)
        data = self.site.store(store, params)
        held = self.site.held_back(store, params) if session.is_admin else None
        return self.site.page("store.html", session, store=store, params=params, data=data, held=held,
                              query=request.url.query)

    def compare(self, request: Request) -> Response:
        session = self.site.need(request)
        params = request.query_params
        result = self.site.compare(params) if params.getlist("stores") else None
        return self.site.page("compare.html", session, stores=queries.list_stores(self.site.database), result=result,
                              params=dict(params), query=request.url.query)

    async def users(self, request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(self.edit_users, request, form)

    def edit_users(self, request: Request, form) -> Response:
        session = self.site.need(request, admin=True)
        database, message = self.site.database, None
        if form is not None:
            self.site.check_csrf(form, session.csrf)
            name = str(form.get("name", ""))
            try:
                if form.get("action") == "remove":
                    if name == session.name:
                        raise auth.UserError("you cannot remove yourself")
                    message = f"removed {name}" if auth.remove_user(database, name) else f"no user {name}"
                else:
                    auth.add_user(database, name, str(form.get("password", "")), str(form.get("role", "viewer")))
                    message = f"saved {name}"
            except auth.UserError as exc:
                message = str(exc)
        return self.site.page("users.html", session, users=auth.list_users(database), message=message)

    async def stores(self, request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(self.edit_stores, request, form)

    def edit_stores(self, request: Request, form) -> Response:
        """Admins: every store's time zone, and setting one (its roll-ups re-derived)."""
        session = self.site.need(request, admin=True)
        message = None
        if form is not None:
            self.site.check_csrf(form, session.csrf)
            store, name = str(form.get("store", "")), str(form.get("timezone", "")).strip()
            try:
                known = check_store(self.site.database, params.check_name(store, "store"))
                read = stores.set_timezone(self.site.database, known, name)
                message = f"{store}: {name}" + (" (unchanged)" if read is None else
                                                 f" (roll-ups re-derived from {read} intervals)")
            except EdgeemoError as exc:
                message = str(exc)
        now = time.time()
        rows = [dict(entry, now=readable_time(entry["timezone"], now))
                for entry in stores.list_store_zones(self.site.database)]
        return self.site.page("stores.html", session, stores=rows, message=message)

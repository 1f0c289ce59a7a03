"""The dashboard and its API: a Starlette (ASGI) app, server-rendered pages, Chart.js vendored.

Everything but `GET /api/health`, the login page and the static files needs a session; admin
pages need the admin role. Forms carry a CSRF token (the session's, or on the login form a
double-submit cookie); cookies are HttpOnly and SameSite=Strict, and the Content-Security-
Policy allows scripts from this origin only, so the chart data travels in JSON blocks, not in
inline code. Every page's numbers come from `edgeemo.hub.queries`, which the API serves as
JSON or CSV and `edgeemo hub export` writes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote

import psycopg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edgeemo.aggregates import iso
from edgeemo.errors import first_line
from edgeemo.hub import auth, queries
from edgeemo.hub.config import HubConfig
from edgeemo.hub.db import Database
from edgeemo.hub.queries import QueryError, choose_bucket, min_visits, time_range

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_COOKIE, LOGIN_CSRF_COOKIE = "edgeemo_session", "edgeemo_login_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def to_csv(rows: list[dict]) -> str:
    """Flat rows as CSV (nested values as JSON), the columns of the first row first."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v)
                         for k, v in row.items()})
    return out.getvalue()


def create_app(config: HubConfig, database: Database, ingest_stats=None) -> Starlette:
    web = config.web
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    templates.filters["tojson_block"] = lambda value: json.dumps(value).replace("<", "\\u003c")

    def session_of(request: Request) -> auth.Session | None:
        return auth.find_session(database, request.cookies.get(SESSION_COOKIE))

    def need(request: Request, admin: bool = False) -> auth.Session:
        session = session_of(request)
        if session is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "log in first (POST /login), then send the session cookie")
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            raise HTTPException(303, headers={"Location": f"/login?next={target}"})
        if admin and not session.is_admin:
            raise HTTPException(403, "this needs the admin role")
        return session

    def page(name: str, session: auth.Session | None, status: int = 200, **context) -> HTMLResponse:
        html = templates.get_template(name).render(session=session, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def data(request: Request, payload, rows: list[dict] | None = None, name: str = "data") -> Response:
        if request.query_params.get("format", "json") == "csv":
            return Response(to_csv(rows if rows is not None else payload), media_type="text/csv", headers={
                **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'})
        return JSONResponse(payload, headers=SECURITY_HEADERS)

    def check_csrf(form, expected: str | None) -> None:
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
            raise HTTPException(403, "the form is stale or was not sent by this site: reload the page")

    # -- login ---------------------------------------------------------------------------------
    def login_page(target: str, status: int = 200, error: str | None = None) -> Response:
        """The login form with a fresh double-submit CSRF token (a used one never comes back)."""
        token = secrets.token_urlsafe(24)
        response = page("login.html", None, status=status, next=target, csrf=token, error=error)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=web.secure_cookies)
        return response

    async def login_form(request: Request) -> Response:
        return login_page(request.query_params.get("next", "/"))

    async def login(request: Request) -> Response:
        form = await request.form()
        check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE))
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        target = str(form.get("next", "/"))
        if not target.startswith("/") or target[1:2] in ("/", "\\"):  # no way off this site
            target = "/"
        role = auth.verify(database, name, password)
        if role is None:
            return login_page(target, status=401, error="wrong name or password")
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(SESSION_COOKIE, auth.start_session(database, name, web.session_hours),
                            max_age=int(web.session_hours * 3600), httponly=True, samesite="strict",
                            secure=web.secure_cookies)
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    async def logout(request: Request) -> Response:
        session = need(request)
        check_csrf(await request.form(), session.csrf)
        auth.end_session(database, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- pages ---------------------------------------------------------------------------------
    def overview_data() -> dict:
        return queries.overview(database, web.min_visits, web.stale_after_s)

    def store_params(params: dict) -> tuple[int, int, int, str | None]:
        """A store view's [since, until), k and zone from the query string."""
        since, until = time_range(params)
        return since, until, min_visits(params, web.min_visits), params.get("zone") or None

    def store_data(store: str, params: dict) -> dict:
        since, until, k, zone = store_params(params)
        bucket = choose_bucket(params, since, until)
        return {
            "series": queries.series(database, store, since, until, bucket, k, zone),
            "emotions": queries.emotion_mix(database, store, since, until, k, zone),
            "heatmap": queries.heatmap(database, store, since, until, k, zone),
            "devices": queries.devices(database, store, since, until, k, web.stale_after_s),
        }

    def compare_data(params) -> dict:
        stores = [s for value in params.getlist("stores") for s in value.split(",") if s]
        since, until = time_range(params)
        bucket = choose_bucket(params, since, until)
        k = min_visits(params, web.min_visits)
        if params.get("since2") or params.get("days2") or params.get("until2"):
            if len(stores) != 1:
                raise QueryError("comparing two periods takes one store")
            since2, until2 = time_range(params, suffix="2")
            panels = [dict(queries.series(database, stores[0], since, until, bucket, k), label="period 1"),
                      dict(queries.series(database, stores[0], since2, until2, bucket, k), label="period 2")]
        else:
            if not 2 <= len(stores) <= 12:
                raise QueryError("compare 2 to 12 stores (stores=a,b), or one store and two periods (since2=...)")
            panels = [dict(queries.series(database, store, since, until, bucket, k), label=store) for store in stores]
        return {"bucket": bucket, "min_visits": k, "panels": panels}

    async def overview_page(request: Request) -> Response:
        session = need(request)
        return page("overview.html", session, overview=overview_data())

    async def store_page(request: Request) -> Response:
        session = need(request)
        store = request.path_params["store"]
        params = dict(request.query_params)
        return page("store.html", session, store=store, params=params, data=store_data(store, params),
                    query=request.url.query)

    async def compare_page(request: Request) -> Response:
        session = need(request)
        params = request.query_params
        stores = queries.list_stores(database)
        result = compare_data(params) if params.getlist("stores") else None
        return page("compare.html", session, stores=stores, result=result, params=dict(params),
                    query=request.url.query)

    async def users_page(request: Request) -> Response:
        session = need(request, admin=True)
        message = None
        if request.method == "POST":
            form = await request.form()
            check_csrf(form, session.csrf)
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
        return page("users.html", session, users=auth.list_users(database), message=message)

    # -- API -----------------------------------------------------------------------------------
    async def api_health(request: Request) -> Response:
        report = queries.health(database)
        report = dict(report, open_gaps=len(report["open_gaps"]), status="ok", database=database.dialect)
        if ingest_stats is not None:
            stats = ingest_stats()
            last_commit = stats["last_commit_at"]
            report.update(mqtt_connected=stats["connected"], received=stats["received"], stored_new=stats["new"],
                          stored_changed=stats["changed"], duplicates=stats["duplicates"],
                          db_errors=stats["db_errors"], last_commit_at=iso(last_commit) if last_commit else None,
                          last_commit_at_unix=last_commit)
        return JSONResponse(report, headers=SECURITY_HEADERS)

    async def api_gaps(request: Request) -> Response:
        need(request)
        gaps = queries.health(database)["open_gaps"]
        return data(request, {"open_gaps": gaps}, gaps, "gaps")

    async def api_overview(request: Request) -> Response:
        need(request)
        result = overview_data()
        return data(request, result, result["stores"], "overview")

    async def api_stores(request: Request) -> Response:
        need(request)
        stores = [{"store": s} for s in queries.list_stores(database)]
        return data(request, {"stores": stores}, stores, "stores")

    async def api_store(request: Request) -> Response:
        need(request)
        store, view = request.path_params["store"], request.path_params["view"]
        params = dict(request.query_params)
        since, until, k, zone = store_params(params)
        if view == "series":
            result = queries.series(database, store, since, until, choose_bucket(params, since, until), k, zone)
            return data(request, result, result["series"], f"{store}-series")
        if view == "emotions":
            result = queries.emotion_mix(database, store, since, until, k, zone)
            rows = [{"label": label, "share": share} for label, share in result["shares"].items()]
            return data(request, result, rows, f"{store}-emotions")
        if view == "heatmap":
            result = queries.heatmap(database, store, since, until, k, zone)
            return data(request, result, [cell for row in result["cells"] for cell in row], f"{store}-heatmap")
        if view == "devices":
            rows = queries.devices(database, store, since, until, k, web.stale_after_s)
            return data(request, {"store": store, "devices": rows}, rows, f"{store}-devices")
        raise HTTPException(404, f"no view {view!r}: series, emotions, heatmap or devices")

    async def api_compare(request: Request) -> Response:
        need(request)
        result = compare_data(request.query_params)
        rows = [dict(point, panel=panel["label"]) for panel in result["panels"] for point in panel["series"]]
        return data(request, result, rows, "compare")

    async def api_users(request: Request) -> Response:
        need(request, admin=True)
        users = auth.list_users(database)
        return data(request, {"users": users}, users, "users")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(SECURITY_HEADERS, **(exc.headers or {}))
        if request.url.path.startswith("/api/") or exc.status_code in (303,):
            body = {"error": exc.detail} if exc.status_code != 303 else None
            return JSONResponse(body, status_code=exc.status_code, headers=headers)
        return page("error.html", session_of(request), status=exc.status_code, error=exc.detail)

    async def database_error(request: Request, exc: Exception) -> Response:
        """The database failed under a request (down, full, locked): one log line, a 503, no traceback."""
        log.error("hub: %s %s: database error (%s)", request.method, request.url.path, first_line(exc))
        return await http_error(request, HTTPException(503, "the fleet database is not answering; try again "
                                                            "in a minute (the hub's log says why)"))

    async def query_error(request: Request, exc: QueryError) -> Response:
        return await http_error(request, HTTPException(400, str(exc)))

    routes = [
        Route("/favicon.ico", lambda request: Response(status_code=204)),  # browsers ask; nothing to show
        Route("/", overview_page), Route("/stores/{store}", store_page), Route("/compare", compare_page),
        Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]), Route("/admin/users", users_page, methods=["GET", "POST"]),
        Route("/api/health", api_health), Route("/api/gaps", api_gaps), Route("/api/overview", api_overview),
        Route("/api/stores", api_stores), Route("/api/stores/{store}/{view}", api_store),
        Route("/api/compare", api_compare), Route("/api/users", api_users),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={
        HTTPException: http_error, QueryError: query_error, sqlite3.Error: database_error,
        psycopg.Error: database_error})

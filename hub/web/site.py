"""What every route of the dashboard shares: the templates, sessions, responses and the views'
data (the same numbers for a page, its API twin and its CSV)."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.admin import auth
from edgeemo.hub.admin.held_back import held_back
from edgeemo.hub.config import HubConfig
from edgeemo.hub.estimating import load_calibrations
from edgeemo.hub.localtime import readable_range, readable_time
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.reading import queries
from edgeemo.hub.reading.known import check_store
from edgeemo.hub.reading.numbers import EstimateSettings, compare_ranges
from edgeemo.hub.reading.params import QueryError, check_name, choose_bucket, min_visits, time_range
from edgeemo.hub.reading.render import to_csv
from edgeemo.hub.storage.db import Database
from edgeemo.hub.storage.stores import zone_of
from edgeemo.text import no_negative_zero
from edgeemo.wire import parse_iso

HUB = Path(__file__).resolve().parent.parent  # templates/ and static/ live beside the hub's modules
SESSION_COOKIE, LOGIN_CSRF_COOKIE = "edgeemo_session", "edgeemo_login_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}  # the same, cacheable


def attachment(filename: str) -> str:
    """A Content-Disposition header for a download (RFC 6266): a plain ASCII name and the exact one
    percent-encoded, so no quote, CR, LF or NUL in a name can reach the header."""
    plain = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)[:128]
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename[:128], safe='')}"


def shown_time(text: str | None, timezone: str, year: bool = True) -> str:
    """An ISO time from the API as the store's people read it (its zone named), "never" for none."""
    return "never" if not text else readable_time(timezone, parse_iso(text), year=year)


def shown_range(since: str, until: str, timezone: str) -> str:
    """[since, until) from the API (ISO) as dates in the store's zone."""
    return readable_range(timezone, parse_iso(since), parse_iso(until))


def fixed2(value: float) -> str:
    """A figure to two decimals, never "-0.00" (a reader takes it for a negative figure)."""
    return no_negative_zero(f"{value:.2f}")


def shown_count(value: int | None) -> str:
    """1377 as 1,377; none as a dash."""
    return "–" if value is None else f"{value:,}"


def _format(pattern: str, *args: Any, **kwargs: Any) -> str:
    """Jinja's `format` filter (printf-style), with a number that rounds to zero shown unsigned: 0.00, not -0.00
    (+0.00 where the pattern asks for a sign)."""
    return no_negative_zero(pattern % (kwargs or args), plus="%+" in pattern)


class IngestStatus(Protocol):
    """What the web side reads of the MQTT ingest (`edgeemo.hub.ingest.mqtt_ingest.MqttIngest`)."""

    stats: Any

    def stalled(self) -> bool: ...


class UpkeepStatus(Protocol):
    """What the web side reads of the upkeep (`edgeemo.hub.storage.upkeep.Upkeep`)."""

    @property
    def problem(self) -> str | None: ...


class Site:
    """The hub's web side: config, database, templates, and the helpers every route uses."""

    def __init__(self, config: HubConfig, database: Database, ingest: IngestStatus | None = None,
                 upkeep: UpkeepStatus | None = None) -> None:
        self.config, self.web, self.database, self.ingest = config, config.web, database, ingest
        self.upkeep = upkeep
        self._overview: tuple[float, dict | None] = (0.0, None)
        self._overview_lock = threading.Lock()
        self.estimates = EstimateSettings(load_calibrations(config.estimates.models_dir),
                                          config.estimates.precision_floor)
        self.templates = Environment(loader=FileSystemLoader(HUB / "templates"), autoescape=select_autoescape(["html"]))
        self.templates.filters["tojson_block"] = lambda value: json.dumps(value).replace("<", "\\u003c")
        self.templates.filters.update(local_time=shown_time, local_range=shown_range, count=shown_count, fixed2=fixed2)
        self.templates.filters["format"] = _format  # printf as Jinja's, without "-0.00"
        self.templates.globals.update(groups=DEFAULT_GROUPS, precision_floor=self.estimates.floor)
        self._held_back: tuple[float, dict | None] = (0.0, None)

    # -- sessions --------------------------------------------------------------------------------
    def session_of(self, request: Request) -> auth.Session | None:
        return auth.find_session(self.database, request.cookies.get(SESSION_COOKIE))

    def need(self, request: Request, admin: bool = False) -> auth.Session:
        """The request's session; API calls without one get 401, pages a redirect to the login."""
        session = self.session_of(request)
        if session is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "log in first (POST /login), then send the session cookie")
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            raise HTTPException(303, headers={"Location": f"/login?next={target}"})
        if admin and not session.is_admin:
            raise HTTPException(403, "this needs the admin role")
        return session

    @staticmethod
    def check_csrf(form, expected: str | None) -> None:
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
            raise HTTPException(403, "the form is stale or was not sent by this site: reload the page")

    # -- responses -------------------------------------------------------------------------------
    def page(self, name: str, session: auth.Session | None, status: int = 200, **context) -> HTMLResponse:
        html = self.templates.get_template(name).render(session=session, **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    @staticmethod
    def data(request: Request, payload, rows: list[dict] | None = None, name: str = "data") -> Response:
        """`payload` as JSON, or `rows` (the payload itself by default) as CSV with ?format=csv."""
        kind = request.query_params.get("format", "json")
        if kind not in ("json", "csv"):
            raise QueryError(f"format={kind[:16]!r}: choose json or csv")
        if kind == "csv":
            return Response(to_csv(rows if rows is not None else payload), media_type="text/csv", headers={
                **SECURITY_HEADERS, "Content-Disposition": attachment(f"{name}.csv")})
        return JSONResponse(payload, headers=SECURITY_HEADERS)

    # -- the views' numbers ----------------------------------------------------------------------
    def overview(self) -> dict:
        """The fleet overview, computed at most once per upkeep round: its days change when the upkeep seals
        them, and at a chain's size the corrected estimates of every store take longer than a page should."""
        with self._overview_lock:
            made_at, found = self._overview
            if found is None or not 0 <= time.monotonic() - made_at < self.config.retention.upkeep_every_s:
                found = fleet.overview(self.database, self.web.min_visits, self.web.stale_after_s,
                                       estimates=self.estimates)
                self._overview = (time.monotonic(), found)
            return found

    def held_back(self, store: str | None = None, params: dict | None = None) -> dict:
        """For admins: the visits a store's range (or, with no store, the fleet's last 30 days: computed once
        per upkeep round, like the overview) holds back, in cells under k or not over yet."""
        if store is not None:
            since, until, k, zone = self.store_params(store, params or {})
            bucket = choose_bucket(params or {}, since, until)
            return held_back(self.database, store, since, until, bucket, k, zone)
        with self._overview_lock:
            made_at, found = self._held_back
            if found is None or not 0 <= time.monotonic() - made_at < self.config.retention.upkeep_every_s:
                now = int(time.time())
                found = held_back(self.database, None, now - 30 * 86400, now, "day", self.web.min_visits)
                self._held_back = (time.monotonic(), found)
            return found

    def timezone(self, store: str) -> str:
        with self.database.transaction() as tx:
            return zone_of(tx, store)

    def store_params(self, store: str, params: dict) -> tuple[int, int, int, str | None]:
        """A store view's [since, until) (dates in the store's own zone), k and zone from the query string; a
        store the hub does not know is a 404 naming the ones it does."""
        check_store(self.database, check_name(store, "store"))
        since, until = time_range(params, timezone=self.timezone(store))
        zone = check_name(params["zone"], "zone") if params.get("zone") else None
        return since, until, min_visits(params, self.web.min_visits), zone

    def store(self, store: str, params: dict) -> dict:
        check_name(store, "store")
        since, until, k, zone = self.store_params(store, params)
        bucket = choose_bucket(params, since, until)
        database, estimates = self.database, self.estimates
        return {
            "series": queries.series(database, store, since, until, bucket, k, zone, estimates),
            "emotions": queries.emotion_mix(database, store, since, until, k, zone, estimates, bucket),
            "heatmap": queries.heatmap(database, store, since, until, k, zone, estimates, bucket=bucket),
            "devices": queries.devices(database, store, since, until, k, self.web.stale_after_s, estimates=estimates,
                                       bucket=bucket, zone=zone),
        }

    def compare(self, params) -> dict:
        """Two to twelve stores over one range, or one store over two periods."""
        values = params.getlist("stores")
        if sum(len(value) + 1 for value in values) > 13 * 65:  # longer than twelve names can be
            raise QueryError("stores: compare at most 12 stores")
        stores = [check_name(s, "store") for value in values for s in value.split(",") if s]
        periods = bool(params.get("since2") or params.get("days2") or params.get("until2"))
        if periods and len(stores) != 1:
            raise QueryError("comparing two periods takes one store")
        if not periods and not 2 <= len(stores) <= 12:
            raise QueryError("compare 2 to 12 stores (stores=a,b), or one store and two periods (since2=...)")
        for store in stores:  # a well-formed request first (400), then names the hub knows (404)
            check_store(self.database, store)
        ranges = {store: time_range(params, timezone=self.timezone(store)) for store in stores}  # each its own days
        since, until = time_range(params)
        bucket = choose_bucket(params, since, until)
        k = min_visits(params, self.web.min_visits)
        periods = bool(params.get("since2") or params.get("days2") or params.get("until2"))
        if periods:
            if len(stores) != 1:
                raise QueryError("comparing two periods takes one store")
            since2, until2 = time_range(params, suffix="2", timezone=self.timezone(stores[0]))
            choose_bucket({"bucket": bucket}, since2, until2)  # the second period within the bucket's limits too
            found = [queries.series(self.database, stores[0], *period, bucket, k, None, self.estimates)
                     for period in sorted([ranges[stores[0]], (since2, until2)])]  # the earlier first: "from" it
        else:
            if not 2 <= len(stores) <= 12:
                raise QueryError("compare 2 to 12 stores (stores=a,b), or one store and two periods (since2=...)")
            found = [queries.series(self.database, store, *ranges[store], bucket, k, None, self.estimates)
                     for store in stores]
        panels = []
        for series in found:  # each panel with its dates, in its store's own calendar
            dates = shown_range(series["since"], series["until"], series["timezone"])
            panels.append(dict(series, dates=dates, label=dates if periods else series["store"]))
        if periods and panels[0]["label"] == panels[1]["label"]:
            raise QueryError(f"since2/until2: the second period covers the same hours as the first "
                             f"({panels[0]['label']}); choose other dates")
        return {"bucket": bucket, "min_visits": k, "mode": "periods" if periods else "stores", "panels": panels,
                "differences": compare_ranges(panels)}

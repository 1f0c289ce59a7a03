"""The JSON API (and CSV with ?format=csv): every page's numbers, plus the open health check.

Plain `def` handlers: Starlette runs them in worker threads, so a slow query never holds up the
event loop (nor `/api/health`)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgeemo.errors import first_line
from edgeemo.hub.admin import auth
from edgeemo.hub.reading import queries
from edgeemo.hub.reading.params import check_name, choose_bucket
from edgeemo.hub.storage.db import DATABASE_ERRORS
from edgeemo.hub.storage.dead_letters import list_dead_letters
from edgeemo.hub.web.site import SECURITY_HEADERS, Site
from edgeemo.text import plural
from edgeemo.wire import iso


class ApiRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [Route("/api/health", self.health), Route("/api/gaps", self.gaps), Route("/api/overview", self.overview),
                Route("/api/stores", self.stores), Route("/api/stores/{store}/{view}", self.store),
                Route("/api/compare", self.compare), Route("/api/users", self.users),
                Route("/api/dead-letters", self.dead_letters)]

    def health(self, request: Request) -> Response:
        """Open to all (a monitor's probe): device counts, gaps, refusals and whether ingest makes progress
        ("degraded", with the problems named, when it does not); no customer numbers."""
        try:
            report = queries.health(self.site.database)
        except DATABASE_ERRORS as exc:  # the probe must answer most when something is wrong
            report = {"database_error": first_line(exc)[:200], "open_gaps": [], "dead_letters": 0}
        problems = [f"the database is not answering ({report['database_error']})"] if "database_error" in report \
            else []
        if report["dead_letters"]:
            problems.append(f"{plural(report['dead_letters'], 'dead letter')}: messages that could not be stored "
                            "(edgeemo hub dead-letters list)")
        report = dict(report, open_gaps=len(report["open_gaps"]), database=self.site.database.dialect)
        upkeep = self.site.upkeep.problem if self.site.upkeep is not None else None
        if upkeep:
            problems.append(f"upkeep: {upkeep}")
        ingest = self.site.ingest
        if ingest is not None:
            stalled, stats = ingest.stalled(), ingest.stats
            if stats.failure is not None:
                problems.append(f"ingest stopped: {stats.failure}")
            elif stalled:
                problems.append(f"ingest stalled: a message has waited {stats.oldest_waiting_s:.0f} s to be stored")
            if stats.gap_problem:
                problems.append(f"gap repair failed: {stats.gap_problem}")
            last_commit = stats.last_commit_at
            report.update(mqtt_connected=stats.connected, mqtt_subscribed=stats.subscribed, received=stats.received,
                          stored_new=stats.new,
                          stored_changed=stats.changed, duplicates=stats.duplicates, flood=stats.flood,
                          db_errors=stats.db_errors, oldest_waiting_s=stats.oldest_waiting_s,
                          last_commit_at=iso(last_commit) if last_commit else None, last_commit_at_unix=last_commit)
        report.update(status="degraded" if problems else "ok", problems=problems)
        return JSONResponse(report, headers=SECURITY_HEADERS)

    def gaps(self, request: Request) -> Response:
        self.site.need(request)
        gaps = queries.health(self.site.database)["open_gaps"]
        return self.site.data(request, {"open_gaps": gaps}, gaps, "gaps")

    def overview(self, request: Request) -> Response:
        self.site.need(request)
        result = self.site.overview()
        return self.site.data(request, result, result["stores"], "overview")

    def stores(self, request: Request) -> Response:
        self.site.need(request)
        stores = [{"store": s} for s in queries.list_stores(self.site.database)]
        return self.site.data(request, {"stores": stores}, stores, "stores")

    def store(self, request: Request) -> Response:
        self.site.need(request)
        store, view = check_name(request.path_params["store"], "store"), request.path_params["view"]
        params = dict(request.query_params)
        since, until, k, zone = self.site.store_params(store, params)
        database, data = self.site.database, self.site.data
        estimates = self.site.estimates
        if view == "series":
            result = queries.series(database, store, since, until, choose_bucket(params, since, until), k, zone,
                                    estimates)
            return data(request, result, result["series"], f"{store}-series")
        if view == "emotions":
            result = queries.emotion_mix(database, store, since, until, k, zone, estimates,
                                         choose_bucket(params, since, until))
            rows = []
            for label, share in result["shares"].items():
                interval = result["intervals"][label] or {}  # None when suppressed
                rows.append({"label": label, "share": share, "low": interval.get("low"), "high": interval.get("high"),
                             "method": interval.get("method"), "imprecise": interval.get("imprecise"),
                             "share_raw": result["shares_raw"][label]})
            return data(request, result, rows, f"{store}-emotions")
        if view == "heatmap":
            result = queries.heatmap(database, store, since, until, k, zone, estimates,
                                     bucket=choose_bucket(params, since, until))
            return data(request, result, [cell for row in result["cells"] for cell in row], f"{store}-heatmap")
        if view == "devices":
            rows = queries.devices(database, store, since, until, k, self.site.web.stale_after_s, estimates=estimates,
                                   bucket=choose_bucket(params, since, until), zone=zone)
            return data(request, {"store": store, "devices": rows}, rows, f"{store}-devices")
        raise HTTPException(404, f"no view {view!r}: series, emotions, heatmap or devices")

    def compare(self, request: Request) -> Response:
        self.site.need(request)
        result = self.site.compare(request.query_params)
        rows = [dict(point, panel=panel["label"]) for panel in result["panels"] for point in panel["series"]]
        return self.site.data(request, result, rows, "compare")

    def users(self, request: Request) -> Response:
        self.site.need(request, admin=True)
        users = auth.list_users(self.site.database)
        return self.site.data(request, {"users": users}, users, "users")

    def dead_letters(self, request: Request) -> Response:
        """Admins only: the messages that could not be stored (with ?body=1, as received, base64)."""
        self.site.need(request, admin=True)
        letters = list_dead_letters(self.site.database, with_body=request.query_params.get("body") == "1")
        return self.site.data(request, {"dead_letters": letters}, letters, "dead-letters")

"""The JSON API (and CSV with ?format=csv): every page's numbers, plus the open health check."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgeemo.hub import auth, queries
from edgeemo.hub.queries import choose_bucket
from edgeemo.hub.web.site import SECURITY_HEADERS, Site
from edgeemo.wire import iso


class ApiRoutes:
    def __init__(self, site: Site) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        return [Route("/api/health", self.health), Route("/api/gaps", self.gaps), Route("/api/overview", self.overview),
                Route("/api/stores", self.stores), Route("/api/stores/{store}/{view}", self.store),
                Route("/api/compare", self.compare), Route("/api/users", self.users)]

    async def health(self, request: Request) -> Response:
        """Open to all (a monitor's probe): device counts, gaps, refusals and ingest; no customer numbers."""
        report = queries.health(self.site.database)
        report = dict(report, open_gaps=len(report["open_gaps"]), status="ok", database=self.site.database.dialect)
        if self.site.ingest_stats is not None:
            stats = self.site.ingest_stats()
            last_commit = stats["last_commit_at"]
            report.update(mqtt_connected=stats["connected"], received=stats["received"], stored_new=stats["new"],
                          stored_changed=stats["changed"], duplicates=stats["duplicates"],
                          db_errors=stats["db_errors"], last_commit_at=iso(last_commit) if last_commit else None,
                          last_commit_at_unix=last_commit)
        return JSONResponse(report, headers=SECURITY_HEADERS)

    async def gaps(self, request: Request) -> Response:
        self.site.need(request)
        gaps = queries.health(self.site.database)["open_gaps"]
        return self.site.data(request, {"open_gaps": gaps}, gaps, "gaps")

    async def overview(self, request: Request) -> Response:
        self.site.need(request)
        result = self.site.overview()
        return self.site.data(request, result, result["stores"], "overview")

    async def stores(self, request: Request) -> Response:
        self.site.need(request)
        stores = [{"store": s} for s in queries.list_stores(self.site.database)]
        return self.site.data(request, {"stores": stores}, stores, "stores")

    async def store(self, request: Request) -> Response:
        self.site.need(request)
        store, view = request.path_params["store"], request.path_params["view"]
        params = dict(request.query_params)
        since, until, k, zone = self.site.store_params(params)
        database, data = self.site.database, self.site.data
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
            rows = queries.devices(database, store, since, until, k, self.site.web.stale_after_s)
            return data(request, {"store": store, "devices": rows}, rows, f"{store}-devices")
        raise HTTPException(404, f"no view {view!r}: series, emotions, heatmap or devices")

    async def compare(self, request: Request) -> Response:
        self.site.need(request)
        result = self.site.compare(request.query_params)
        rows = [dict(point, panel=panel["label"]) for panel in result["panels"] for point in panel["series"]]
        return self.site.data(request, result, rows, "compare")

    async def users(self, request: Request) -> Response:
        self.site.need(request, admin=True)
        users = auth.list_users(self.site.database)
        return self.site.data(request, {"users": users}, users, "users")

"""Is the dashboard responsive under load and outage? `edgeemo hub serve` on a throwaway PostgreSQL
with GENERATED load data (one store, three years of 1-minute intervals), then:

1. quiet: /api/health alone, every 0.1 s;
2. loaded: the same while 4 clients log in over and over (Argon2id each time) and one renders the
   3-year store page by week, over and over;
3. a zone change of the big store (every interval re-read) while a client logs in;
4. outage: PostgreSQL stopped; how long a logged-in page, /login and /api/health take to answer.

    .venv/bin/python scripts/bench_hub_responsive.py --out reports/hub/responsive.json

Targets (issue 19): /api/health p95 <= 50 ms under the load; a page answers within 2 s with the
database down. Run it on a quiet machine: the hub, PostgreSQL and the clients share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from edgeemo.hub.admin import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.bench.servers import Postgres, free_port
from edgeemo.hub.storage import stores
from edgeemo.hub.storage.db import open_database

DAYS = 3 * 365


def log_in(client: httpx.Client, name: str, password: str) -> int:
    form = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "next": "/api/stores",
                                       "csrf": form.cookies["edgeemo_login_csrf"]}).status_code


def summary(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(statistics.quantiles(ms, n=20)[-1], 1), "max_ms": round(ms[-1], 1)}


def poll_health(base: str, seconds: float) -> list[float]:
    samples = []
    with httpx.Client(base_url=base, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.get("/api/health").raise_for_status()
            samples.append(time.perf_counter() - started)
            time.sleep(0.1)
    return samples


def big_page(days: int) -> str:
    return f"/stores/{loadgen.store_name(0)}?days={days}&bucket=week"


def under_load(base: str, seconds: float, page: str) -> dict:
    stop = threading.Event()
    logins: list[float] = []
    pages: list[float] = []

    def login_loop(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                started = time.perf_counter()
                assert log_in(client, f"clerk{i}", "clerk-password") == 303
                logins.append(time.perf_counter() - started)

    def page_loop() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            assert log_in(client, "bench", "bench-password") == 303
            while not stop.is_set():
                started = time.perf_counter()
                client.get(page).raise_for_status()
                pages.append(time.perf_counter() - started)

    workers = [threading.Thread(target=login_loop, args=(i,)) for i in range(4)] + [threading.Thread(target=page_loop)]
    for worker in workers:
        worker.start()
    time.sleep(2)  # every worker under way
    health = poll_health(base, seconds)
    stop.set()
    for worker in workers:
        worker.join(120)
    return {"health": summary(health), "logins": summary(logins), "big_page": summary(pages),
            "logins_per_s": round(len(logins) / (seconds + 2), 1)}


def zone_change(base: str, url: str) -> dict:
    """Set the big store's zone (its roll-ups re-derived from every interval) while a client logs in
    and the health check is polled."""
    result: dict = {}

    def change() -> None:
        database = open_database(url)
        started = time.perf_counter()
        result["intervals"] = stores.set_timezone(database, loadgen.store_name(0), "America/Los_Angeles")
        result["s"] = round(time.perf_counter() - started, 1)
        database.close()

    worker = threading.Thread(target=change)
    worker.start()
    time.sleep(1)  # under way
    with httpx.Client(base_url=base, timeout=120) as client:
        started = time.perf_counter()
        status = log_in(client, "clerk0", "clerk-password")
        result["login_during"] = {"status": status, "s": round(time.perf_counter() - started, 2)}
    health = poll_health(base, 3)
    worker.join()
    result["health_during"] = summary(health)
    return result


def outage(base: str, postgres: Postgres) -> dict:
    with httpx.Client(base_url=base, timeout=60) as client:
        assert log_in(client, "bench", "bench-password") == 303
        client.get("/").raise_for_status()
        postgres.halt()
        timings = {}
        for name, path, expected in (("page", "/", 503), ("second_page", "/stores/load-000", 503),
                                     ("login_form", "/login", 200), ("health", "/api/health", 200)):
            started = time.perf_counter()
            status = client.get(path).status_code
            timings[name] = {"status": status, "expected": expected, "s": round(time.perf_counter() - started, 2)}
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each phase polls the health check")
    parser.add_argument("--days", type=int, default=DAYS, help="days of generated data (the big page shows them all)")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args()
    postgres = Postgres(settings={"fsync": "off"}).start()
    server = None
    try:
        database = open_database(postgres.url)
        started = time.monotonic()
        rows = loadgen.generate(database, stores=1, days=args.days)
        database.analyze()
        load_s = time.monotonic() - started
        auth.add_user(database, "bench", "bench-password", "viewer")
        for i in range(4):
            auth.add_user(database, f"clerk{i}", "clerk-password", "viewer")
        database.close()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "edgeemo", "hub", "serve", "--db", postgres.url,
                                   "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/health", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("bench_hub_responsive: the hub did not start") from None
                time.sleep(0.2)
        result = {"load_data": f"GENERATED: 1 store x {args.days} days of 1-minute aggregates", "load_rows": rows,
                  "load_s": round(load_s, 1), "big_page": big_page(args.days), "cpus": os.cpu_count(),
                  "quiet": {"health": summary(poll_health(base, args.seconds))},
                  "loaded": under_load(base, args.seconds, big_page(args.days))}
        result["zone_change"] = zone_change(base, postgres.url)
        result["outage"] = outage(base, postgres)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        postgres.stop()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

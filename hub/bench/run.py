"""`edgeemo hub bench`: fleet-scale ingest and query speed through a real broker and database.

1. Load data (GENERATED, labelled so in the output): `--stores` × `--days` of 1-minute
   aggregates with their roll-ups, so queries run at fleet size.
2. Queries: the hub's web app on a local port; a logged-in client times the fleet overview
   and a store page (last 7 days, the page's default, and 90 days by day).
3. Ingest: `--hubs` real `edgeemo hub serve` processes (one MQTT 5 share group: the way a
   fleet scales its hub past one Python process) open their persistent sessions and go away;
   `--devices` simulated devices publish a backlog of `--messages` each (1% of them twice, as a
   re-sending device would) while the broker queues it; the hubs come back and drain it.
   `ingest_msgs_per_s` is the drain rate (messages / time from the last hub's reconnect until
   every interval is in the database), `lost` the intervals published but not stored.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.bench import loadgen
from edgeemo.hub.bench.servers import Mosquitto, Postgres, free_port
from edgeemo.hub.config import HubConfig, MqttSection
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.upkeep import run_upkeep
from edgeemo.payload_build import build_payload
from edgeemo.wire import AGGREGATES, device_topic

FLEET_BROKER = "max_queued_messages 0\nmax_inflight_messages 4000\n"  # as the shipped fleet config: never drop
BENCH_PREFIX = "edgeemo"
BENCH_MODEL = {"name": "ferplus_cnn_int8.tflite", "sha256": "0" * 64}  # GENERATED devices: a stand-in identity


def _device_name(i: int) -> tuple[str, str]:
    return f"bench-{i // 4:04d}", f"cam-{i % 4}"


def _publish(url: str, first: int, last: int, messages: int, start: int) -> int:
    """One publisher process: devices [first, last) each publish `messages` intervals (QoS 1)."""
    import json
    from urllib.parse import urlsplit

    import paho.mqtt.client as mqtt

    acked = threading.Semaphore(0)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{first}")
    client.on_publish = lambda c, u, mid, reason, properties: acked.release()
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    parts = urlsplit(url)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    labels = loadgen.LABELS
    sent = 0
    for j in range(messages):
        for i in range(first, last):
            store, device = _device_name(i)
            visits = (i + j) % 4
            payload = build_payload(store_id=store, device_id=device, zone="all", seq=j + 1, start=start + 60 * j,
                                    length_s=60, labels=labels, faces_seen=visits + 1,
                                    visits_by_emotion={"happy": visits // 2, "neutral": visits - visits // 2},
                                    groups=DEFAULT_GROUPS.for_labels(labels), dwell_s_total=12.5 * visits,
                                    model=BENCH_MODEL)
            body = json.dumps(payload, separators=(",", ":"))
            topic = device_topic(BENCH_PREFIX, store, device, AGGREGATES)
            for _ in range(2 if (i * messages + j) % 100 == 7 else 1):  # 1% re-sent
                client.publish(topic, body, qos=1)
                sent += 1
    for _ in range(sent):
        acked.acquire(timeout=120)
    client.disconnect()
    client.loop_stop()
    return sent


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1] * 1000, 1) if len(samples) > 1 else round(samples[0] * 1000, 1)


def _time_pages(config: HubConfig, database, requests: int, pages: dict[str, str] | None = None) -> dict:
    """Each page's p95 and median over `requests` logged-in GETs (after a warm-up), served on a local port."""
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    import uvicorn

    from edgeemo.hub.admin import auth
    from edgeemo.hub.web import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, database), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    auth.add_user(database, "bench", "bench-password", "viewer")
    base = f"http://127.0.0.1:{port}"
    pages = pages or {"overview": "/", "store": f"/stores/{loadgen.store_name(7)}",
                      "store_90d": f"/stores/{loadgen.store_name(7)}?days=90&bucket=day"}
    timings: dict[str, list[float]] = {name: [] for name in pages}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            login = client.get("/login")
            client.post("/login", data={"name": "bench", "password": "bench-password", "next": "/",
                                        "csrf": login.cookies.get("edgeemo_login_csrf")})
            for name, path in pages.items():
                client.get(path).raise_for_status()  # warm-up
                for _ in range(requests):
                    t = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[name].append(time.perf_counter() - t)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return {f"{name}_p95_ms": _p95(samples) for name, samples in timings.items()} | {
        f"{name}_median_ms": round(statistics.median(samples) * 1000, 1) for name, samples in timings.items()}


def _count_bench_rows(database) -> int:
    with database.transaction() as tx:
        return tx.one("SELECT count(*) FROM intervals WHERE store LIKE 'bench-%'")[0]


class HubProcess:
    """`edgeemo hub serve` in a process of its own (one of a share group), its log watched."""

    def __init__(self, folder: Path, url: str, broker_url: str, index: int) -> None:
        self.config = folder / f"hub-{index}.toml"
        self.config.write_text(f'db = "{url}"\n[mqtt]\nurl = "{broker_url}"\nclient_id = "edgeemo-hub-bench-{index}"\n'
                               '[gaps]\ncheck_every_s = 3600\n')
        self.port = free_port()
        self.connected_at: float | None = None
        self.process: subprocess.Popen | None = None
        self.log: list[str] = []

    def start(self) -> None:
        self.connected_at = None
        self.process = subprocess.Popen([sys.executable, "-m", "edgeemo", "hub", "serve", "--config", str(self.config),
                                         "--listen", f"127.0.0.1:{self.port}"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._watch, args=(self.process,), daemon=True).start()

    def _watch(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None  # started with stdout=PIPE
        for line in process.stdout:
            self.log.append(line)
            if "connected to the broker" in line and self.connected_at is None:
                self.connected_at = time.time()

    def wait_connected(self, timeout_s: float = 60) -> float:
        deadline = time.monotonic() + timeout_s
        assert self.process is not None, "start() first"
        while self.connected_at is None:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("hub serve did not connect: " + "".join(self.log[-5:]))
            time.sleep(0.02)
        return self.connected_at

    def health(self) -> dict:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=30).json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def _ingest(folder: Path, url: str, broker_url: str, database, devices: int, messages: int, hubs: int) -> dict:
    import httpx

    group = [HubProcess(folder, url, broker_url, i) for i in range(hubs)]
    try:
        for hub in group:  # open the persistent sessions and the shared subscription, then go away
            hub.start()
        for hub in group:
            hub.wait_connected()
        time.sleep(0.5)
        for hub in group:
            hub.stop()
        now = int(time.time())
        start = now - now % 60 - (messages + 1) * 60
        workers = min(4, devices)
        bounds = [devices * k // workers for k in range(workers + 1)]
        t = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            published = sum(pool.starmap(_publish, [(broker_url, bounds[k], bounds[k + 1], messages, start)
                                                    for k in range(workers)]))
        publish_s = time.perf_counter() - t
        expected = devices * messages
        for hub in group:  # the backlog waits in the broker; the hubs come back and drain it
            hub.start()
        drain_from = max(hub.wait_connected() for hub in group)
        seen, last_change, done_at = -1, time.monotonic(), None
        while True:  # until the hubs have taken every message, or nothing moves for 30 s (polling their
            # /api/health, not the database: a count over 13M rows would compete with the ingest)
            try:
                taken = sum(hub.health().get("received", 0) for hub in group)
            except httpx.HTTPError:  # a hub's web side not up yet
                taken = 0
            if taken >= published:
                done_at = max(hub.health().get("last_commit_at_unix") or 0 for hub in group) or time.time()
                break
            if taken != seen:
                seen, last_change = taken, time.monotonic()
            elif time.monotonic() - last_change > 30:
                break
            time.sleep(0.25)  # the end is the hubs' own last commit time: polling often only costs them CPU
        time.sleep(0.5)  # let the last acknowledgements and statistics settle
        health = [hub.health() for hub in group]
    finally:
        for hub in group:
            hub.stop()
    stored = _count_bench_rows(database)
    drain_s = (done_at or time.time()) - drain_from
    return {"hub_processes": hubs, "devices": devices, "published": published, "publish_s": round(publish_s, 2),
            "drain_s": round(drain_s, 2), "ingest_msgs_per_s": round(published / drain_s),
            "received": sum(h.get("received", 0) for h in health), "lost": expected - stored,
            "duplicates_absorbed": sum(h.get("duplicates", 0) for h in health),
            "rejected": sum(sum(h.get("rejected", {}).values()) for h in health)}


def run_bench(args: argparse.Namespace) -> dict:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edgeemo-hub-bench-")))
        if args.db == "postgresql":
            postgres = Postgres(settings={"shared_buffers": "1GB"}).start()
            stack.callback(postgres.stop)
            url = postgres.url
        elif args.db == "sqlite":
            url = str(folder / "hub.db")
        else:
            url = args.db
        if args.mqtt:
            broker_url = args.mqtt
        else:
            broker = Mosquitto(folder, extra=FLEET_BROKER).start()
            stack.callback(broker.stop)
            broker_url = broker.url
        database = open_database(url)
        stack.callback(database.close)
        config = HubConfig(db=url, mqtt=MqttSection(url=broker_url, client_id=f"edgeemo-hub-bench-{os.getpid()}"))
        if getattr(args, "scenario", "fleet") == "chain":
            from edgeemo.hub.bench.chain import run_chain

            return run_chain(args, config, database, lambda pages: _time_pages(config, database, args.requests, pages))
        t = time.perf_counter()
        rows = loadgen.generate(database, args.stores, args.days)
        run_upkeep(database, config.web.min_visits, config.retention.raw_days)  # what `hub serve` does first
        load_s = time.perf_counter() - t
        pages = _time_pages(config, database, args.requests)
        ingest = _ingest(folder, url, broker_url, database, args.devices, args.messages, args.hubs)
    return {
        "database": "postgresql" if url.startswith("postgres") else "sqlite",
        "load_data": f"GENERATED: {args.stores} stores x {args.days} days of 1-minute aggregates",
        "load_rows": rows, "load_s": round(load_s, 1), **pages, **ingest,
        "cpus": os.cpu_count(),
    }

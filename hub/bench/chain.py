"""`edgeemo hub bench --scenario chain`: a 1,000-store × 4-camera chain, a year of roll-ups and 90
days of raw rows, GENERATED and labelled so.

Building every store minute by minute would take this machine hours (two billion rows), and a
store page reads one store's rows through the (store, bucket) index whatever the others hold:
so `--sample-stores` stores (20) are generated in full, minute by minute for a year (4 devices,
their hourly cells; the raw intervals of the last 90 days, what retention keeps), and their days
sealed by the upkeep as `hub serve` does; the other stores exist as what the overview reads of
them (a year of sealed released days and their 4 devices). Timed over HTTP: the overview (served
from a cache refreshed once per upkeep round, as `hub serve` does), a sample store's year by
week, `/api/health`; and the overview computed from scratch, in-process. Bytes per store-year come from PostgreSQL's own
sizes of each table divided by its rows, times the rows one store writes in a year.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from edgeemo.hub.bench import loadgen
from edgeemo.hub.config import HubConfig
from edgeemo.hub.estimating import load_calibrations, rollup_key
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.reading.numbers import EstimateSettings
from edgeemo.hub.storage.schema import DAY, DEVICES, RELEASED_DAILY
from edgeemo.hub.storage.upkeep import run_upkeep

CHAIN_STORES, DEVICES_PER_STORE, YEAR_DAYS, RAW_DAYS = 1000, 4, 365, 90


def _released_days(database, first: int, stores: int, now: int, seed: int = 1) -> int:
    """Sealed released days (and device rows) of stores `first`..`stores`-1: a year of 4 cameras' days each
    (the overview reads no emotions: those are left out)."""
    rng = np.random.default_rng(seed)
    today = now - now % DAY
    days = np.arange(today - (YEAR_DAYS - 1) * DAY, today + DAY, DAY, dtype=np.int64)
    key = rollup_key(loadgen.shipped_model()["sha256"], loadgen.GROUPS)
    labels, model = json.dumps(loadgen.LABELS), json.dumps(loadgen.shipped_model(), separators=(",", ":"))
    rows = 0
    with database.transaction(write=True) as tx:
        for index in range(first, stores):
            store = loadgen.store_name(index)
            for number in range(DEVICES_PER_STORE):
                visits = rng.poisson(13 * 60 * 0.9, size=len(days))
                positive = rng.binomial(visits, 0.3)
                negative = rng.binomial(visits - positive, 0.25)
                n = len(days)
                tx.copy(RELEASED_DAILY.name, RELEASED_DAILY.names(),
                        zip([store] * n, [f"cam-{number + 1}"] * n, ["all"] * n, days.tolist(), [key] * n,
                            visits.tolist(), visits.tolist(), positive.tolist(), negative.tolist(),
                            (visits * 30.0).tolist()))
                rows += n
            tx.copy(DEVICES.name, "store, device, online, last_seen, last_start, labels, model, groups",
                    [(store, f"cam-{n + 1}", 1, now, now - 60, labels, model, loadgen.GROUPS)
                     for n in range(DEVICES_PER_STORE)])
    return rows


def _bytes_per_store_year(database, sample_stores: int) -> dict:
    """Each table's bytes a row (PostgreSQL's sizes, indexes included) times one store's rows of a year."""
    if database.dialect != "postgresql":
        return {"bytes_per_store_year": None, "bytes_note": "measured on PostgreSQL only"}
    with database.transaction() as tx:
        def size_and_rows(table: str, where: str = "") -> tuple[int, int]:  # a partitioned table: its leaves
            size = tx.one(f"SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree("
                          f"'{table}') WHERE isleaf AND relid <> '{table}'::regclass), "
                          f"pg_total_relation_size('{table}'))")[0]
            return int(size or 0), int(tx.one(f"SELECT count(*) FROM {table}{where}")[0])

        hourly, hourly_rows = size_and_rows("hourly")
        emotions, emotion_rows = size_and_rows("hourly_emotions")
        released, released_rows = size_and_rows("released_daily")
        sealed_emotions, sealed_emotion_rows = size_and_rows("released_daily_emotions")
        sample_days = tx.one("SELECT count(*) FROM (SELECT DISTINCT store, device, zone, day FROM "
                             "released_daily_emotions) d")[0]
        raw, raw_rows = size_and_rows("intervals")
    per_row = {"hourly": hourly / hourly_rows, "hourly_emotions": emotions / emotion_rows,
               "released_daily": released / released_rows,
               "released_daily_emotions": sealed_emotions / sealed_emotion_rows, "intervals": raw / raw_rows}
    cells = DEVICES_PER_STORE * 24 * YEAR_DAYS
    year = {"hourly": cells * per_row["hourly"],
            "hourly_emotions": cells * (emotion_rows / hourly_rows) * per_row["hourly_emotions"],
            "released_daily": DEVICES_PER_STORE * YEAR_DAYS * per_row["released_daily"],
            "released_daily_emotions": DEVICES_PER_STORE * YEAR_DAYS * (sealed_emotion_rows / sample_days)
            * per_row["released_daily_emotions"]}
    raw_kept = DEVICES_PER_STORE * 1440 * RAW_DAYS * per_row["intervals"]
    return {"bytes_per_row": {name: round(value, 1) for name, value in per_row.items()},
            "rollup_bytes_per_store_year": round(sum(year.values())),
            "rollup_bytes_per_store_year_by_table": {name: round(value) for name, value in year.items()},
            "raw_bytes_per_store_kept": round(raw_kept),
            "chain_bytes_estimate": {"rollups_per_year": round(sum(year.values()) * CHAIN_STORES),
                                     "raw_kept": round(raw_kept * CHAIN_STORES)}}


def _time_overview(database, config: HubConfig, runs: int = 7) -> dict:
    """The overview computed from scratch (what the page's cache spares the viewers, once per upkeep round)."""
    estimates = EstimateSettings(load_calibrations(config.estimates.models_dir), config.estimates.precision_floor)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fleet.overview(database, config.web.min_visits, config.web.stale_after_s, estimates=estimates)
        samples.append(time.perf_counter() - t)
    return {"overview_uncached_median_ms": round(statistics.median(samples) * 1000, 1),
            "overview_uncached_max_ms": round(max(samples) * 1000, 1)}


def run_chain(args: argparse.Namespace, config: HubConfig, database, time_pages: Callable[[dict], dict]) -> dict:
    now = int(time.time())
    t = time.perf_counter()
    raw_rows = loadgen.generate(database, args.sample_stores, YEAR_DAYS, now=now, devices=DEVICES_PER_STORE,
                                raw_days=RAW_DAYS)
    run_upkeep(database, config.web.min_visits, RAW_DAYS, now=now)  # the sample stores' days sealed
    synthetic = _released_days(database, args.sample_stores, CHAIN_STORES, now)
    database.analyze()
    load_s = time.perf_counter() - t
    sizes = _bytes_per_store_year(database, args.sample_stores)
    uncached = _time_overview(database, config)
    store = loadgen.store_name(min(7, args.sample_stores - 1))
    pages = time_pages({"overview": "/", "store_year_by_week": f"/stores/{store}?days=365&bucket=week",
                        "health": "/api/health"})
    return {
        "scenario": "chain", "database": database.dialect,
        "load_data": (f"GENERATED: {CHAIN_STORES} stores x {DEVICES_PER_STORE} devices; {args.sample_stores} of them "
                      f"minute by minute for {YEAR_DAYS} days (hourly cells for the year, raw intervals for the last "
                      f"{RAW_DAYS}), the other {CHAIN_STORES - args.sample_stores} as a year of sealed released "
                      "days (what the overview reads of them)"),
        "raw_rows": raw_rows, "released_day_rows_synthetic": synthetic, "load_s": round(load_s, 1),
        **pages, **uncached, **sizes, "cpus": os.cpu_count(),
    }

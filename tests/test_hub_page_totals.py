"""One page, one total (issue 31, item 7): for one range, a store's headline (the series' total), its
chart's buckets, its emotion mix, its heatmap and its devices table count the same visits, on both
engines, summed from the cells or from the sealed days, for every bucket and a camera zone. A store
in Los Angeles, two devices with two zones each, busy hours and a few hours under k around the
clock: a view that started its range at another hour or midnight than the series, or ignored the
zone, would count other cells."""

from __future__ import annotations

import json
import re
import time

import pytest

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.admin import auth
from edgeemo.hub.bench import loadgen
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.localtime import day_start, local_iso
from edgeemo.hub.storage import stores
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.upkeep import run_upkeep
from edgeemo.payload_build import build_payload
from tests.test_hub_web import client_for

LA = "America/Los_Angeles"
K = 5
RANGES = ["days=1", "days=2&bucket=hour", "days=3&bucket=day", "days=3&bucket=day&zone=door", "days=1&zone=till",
          "days=4&bucket=week", "SINCE_UNTIL"]


def minute(device: str, zone: str, start: int, visits: int, seq: int) -> Interval:
    happy = visits // 2
    payload = build_payload(store_id="la", device_id=device, zone=zone, seq=seq, start=start, length_s=60,
                            labels=loadgen.LABELS, faces_seen=visits,
                            visits_by_emotion={"happy": happy, "sad": visits - happy - visits // 3,
                                               "neutral": visits // 3},
                            groups=DEFAULT_GROUPS.for_labels(loadgen.LABELS), dwell_s_total=5.0 * visits,
                            model=loadgen.shipped_model())
    parsed = parse_message("la", device, json.dumps(payload).encode(), 1 << 16, time.time() + 3600)
    assert isinstance(parsed, Interval), parsed
    return parsed


@pytest.fixture
def hub(hub_url: str):
    """Four days of a Los Angeles store: each device's zone has an hour of 6 + (hour mod 4) visits every
    hour (released) but every fifth, which has 3 (under k: in no number)."""
    database = open_database(hub_url)
    stores.set_timezone(database, "la", LA)
    now = int(time.time())
    first = now - now % 3600 - 4 * 86400
    intervals, seq = [], {"cam-a": 0, "cam-b": 0}
    for hour in range(first, now - now % 3600 + 3600, 3600):
        for device in ("cam-a", "cam-b"):
            for zone in ("door", "till"):
                seq[device] += 1
                visits = 3 if (hour // 3600) % 5 == 0 else 6 + (hour // 3600) % 4
                intervals.append(minute(device, zone, hour + 600, visits, seq[device]))
    write_batch(database, intervals)
    auth.add_user(database, "vera", "viewer-password", "viewer")
    yield database
    database.close()


def views(client, query: str) -> dict[str, int]:
    """Every count of visits a store page shows for one range, by where it is shown."""
    api = "/api/stores/la/{}?" + query
    series = client.get(api.format("series")).json()
    mix = client.get(api.format("emotions")).json()
    heat = client.get(api.format("heatmap")).json()
    devices = client.get(api.format("devices")).json()["devices"]
    return {
        "headline": series["total"]["visits"],
        "chart": sum(p["visits"] for p in series["series"]),
        "emotion mix": mix["visits"],
        "heatmap": sum(c["visits"] or 0 for row in heat["cells"] for c in row),
        "devices": sum(d["visits"] or 0 for d in devices),
        "devices' zones": sum(z["visits"] or 0 for d in devices for z in d["zones"].values()),
    }


@pytest.mark.parametrize("sealed", [False, True], ids=["cells", "sealed days"])
def test_headline_charts_devices_and_api_count_the_same_visits(hub, sealed: bool) -> None:
    if sealed:
        run_upkeep(hub, K, 90)  # the days sealed, as `hub serve` does every minute: day ranges read them
    client = client_for(hub, "vera", "viewer-password")
    now = time.time()
    since = local_iso(LA, day_start(LA, now - 3 * 86400))[:10]
    until = local_iso(LA, day_start(LA, now - 86400))[:10]
    for query in RANGES:
        query = query.replace("SINCE_UNTIL", f"since={since}&until={until}")
        counts = views(client, query)
        assert counts["headline"] > 100, (query, counts)
        assert set(counts.values()) == {counts["headline"]}, (query, counts)
        page = client.get(f"/stores/la?{query}").text  # the page says the same number, in both places
        shown = {re.sub(r"\D", "", n) for n in re.findall(r'id="(?:total-visits|devices-total)">([\d,]+)<', page)}
        assert shown == {str(counts["headline"])}, (query, shown)

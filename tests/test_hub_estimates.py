"""The hub's numbers with their error, on both engines: a device running a shipped (calibrated)
model gets the corrected index with its interval, an unknown model the raw count marked as such
(and so does any figure it is part of), a thin bucket is imprecise, a suppressed one shows no
estimate at all, and a change is significant only when it survives Holm's correction over the
page. The API, its CSV and `edgeemo hub export` carry the same fields."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from edgeemo import bundled
from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups
from edgeemo.calibrations import band_calibrations
from edgeemo.hub.admin import auth
from edgeemo.hub.config import HubConfig
from edgeemo.hub.estimating import load_calibrations
from edgeemo.hub.ingest.messages import Interval, parse_message
from edgeemo.hub.ingest.writer import write_batch
from edgeemo.hub.reading import overview as fleet
from edgeemo.hub.reading import queries
from edgeemo.hub.reading.numbers import EstimateSettings, compare_ranges
from edgeemo.hub.storage.db import open_database
from edgeemo.payload_build import build_payload
from edgeemo.wire import iso
from tests.conftest import REPO
from tests.test_hub_web import client_for

DAY = 86400
NOW = 1_795_000_000 - 1_795_000_000 % DAY + 12 * 3600  # noon, Nov 2026
SHIPPED = json.loads(bundled.bundled_model(bundled.DEFAULT_MODEL).with_suffix(".json").read_text())
LABELS = SHIPPED["labels"]
CALIBRATED = {"name": "ferplus_cnn_int8", "sha256": SHIPPED["sha256"]}
UNKNOWN = {"name": "my_own_model", "sha256": "ab" * 32}


def day_of(store: str, device: str, day: int, happy: int, sad: int, neutral: int = 0, model=CALIBRATED,
           seq: int = 1, groups: SatisfactionGroups | None = None, minute: int = 0) -> Interval:
    """One minute at 10:00 on `day` days before NOW, with these dominant labels."""
    start = NOW - NOW % DAY - day * DAY + 10 * 3600 + 60 * minute
    emotions = {"happy": happy, "sad": sad, "neutral": neutral}
    visits = happy + sad + neutral
    payload = build_payload(store_id=store, device_id=device, zone="all", seq=seq, start=start, length_s=60,
                            labels=LABELS, faces_seen=visits, visits_by_emotion=emotions,
                            groups=groups or DEFAULT_GROUPS.for_labels(LABELS), dwell_s_total=5.0 * visits,
                            model=model)
    parsed = parse_message(store, device, json.dumps(payload).encode(), 1 << 16, NOW + DAY)
    assert isinstance(parsed, Interval), parsed
    return parsed


@pytest.fixture
def database(hub_url: str):
    db = open_database(hub_url)
    yield db
    db.close()


def settings() -> EstimateSettings:
    return EstimateSettings(load_calibrations(), 0.15)


def stores_of(database, now: int = NOW) -> dict[str, dict]:
    found = fleet.overview(database, 5, 3600, now=now, estimates=settings())
    return {s["store"]: s for s in found["stores"]}


def test_a_calibrated_model_is_corrected_and_an_unknown_one_counted(database) -> None:
    write_batch(database, [day_of("fixed", "cam", 0, 300, 200, 500),
                           day_of("own", "cam", 0, 300, 200, 500, model=UNKNOWN),
                           day_of("mixed", "cam-a", 0, 300, 200, 500),
                           day_of("mixed", "cam-b", 0, 30, 20, 50, model=UNKNOWN)])
    stores = stores_of(database)
    fixed, own, mixed = stores["fixed"], stores["own"], stores["mixed"]
    assert fixed["satisfaction_today_raw"] == own["satisfaction_today_raw"] == 0.1
    assert fixed["satisfaction_today_method"] == "corrected" and own["satisfaction_today_method"] == "count"
    # visits of no measured size: the calibration of every size, the index read off its corrected mix
    counts = band_calibrations(SHIPPED["calibration"])[None].counts
    labels = SHIPPED["labels"]
    q = np.array([{"happy": 0.3, "sad": 0.2, "neutral": 0.5}.get(label, 0.0) for label in labels])
    sign = np.array([1.0 if x == "happy" else -1.0 if x in DEFAULT_GROUPS.negative else 0.0 for x in labels])
    expected = sign @ np.linalg.solve((counts / counts.sum(axis=1, keepdims=True)).T, q)
    assert fixed["satisfaction_today"] == pytest.approx(expected, abs=1e-4)
    assert own["satisfaction_today"] == 0.1  # the raw count, said to be one
    for store in (fixed, own):
        assert store["satisfaction_today_low"] < store["satisfaction_today"] < store["satisfaction_today_high"]
        assert store["satisfaction_today_imprecise"] is False
    assert mixed["satisfaction_today_method"] == "count"  # one uncalibrated device: the figure is raw
    assert mixed["satisfaction_today"] == pytest.approx(0.1, abs=1e-4)


def test_a_thin_bucket_is_imprecise_and_a_suppressed_one_shows_nothing(database) -> None:
    write_batch(database, [day_of("thin", "cam", 0, 4, 2), day_of("tiny", "cam", 0, 2, 1)])
    thin, tiny = stores_of(database)["thin"], stores_of(database)["tiny"]
    assert thin["visits_today"] == 6 and thin["satisfaction_today_imprecise"] is True
    assert thin["satisfaction_today_high"] - thin["satisfaction_today_low"] > 0.3
    assert tiny["visits_today"] is None  # 3 < k: k-anonymity exactly as before
    assert all(tiny[f"satisfaction_today{suffix}"] is None
               for suffix in ("", "_low", "_high", "_method", "_imprecise", "_raw"))
    assert tiny["satisfaction_change_today"] is None and tiny["satisfaction_change_today_significant"] is None


def test_a_change_is_significant_only_when_it_survives_the_page(database) -> None:
    """today against yesterday, 400 visits each, the index up by 0.1 (p = 0.03 alone): significant on
    a page of one store, noise on a page of forty such stores (Holm: 0.03 > 0.05/40)."""
    write_batch(database, [day_of("alone", "cam", 1, 140, 60, 200, model=UNKNOWN),
                           day_of("alone", "cam", 0, 160, 40, 200, model=UNKNOWN, seq=2)])
    alone = stores_of(database)["alone"]
    assert alone["satisfaction_change_today"] == pytest.approx(0.1)
    assert alone["satisfaction_change_today_significant"] is True
    assert alone["satisfaction_change_today_low"] > 0
    assert alone["satisfaction_change_7d"] is None and alone["satisfaction_change_7d_significant"] is None
    write_batch(database, [interval for n in range(39) for interval in (
        day_of(f"other-{n:02d}", "cam", 1, 140, 60, 200, model=UNKNOWN),
        day_of(f"other-{n:02d}", "cam", 0, 160, 40, 200, model=UNKNOWN, seq=2))])
    crowded = stores_of(database)
    assert len(crowded) == 40
    assert {s["satisfaction_change_today_significant"] for s in crowded.values()} == {False}
    assert crowded["alone"]["satisfaction_change_today"] == pytest.approx(0.1)  # the change itself stays


def viewer(database) -> TestClient:
    auth.add_user(database, "vera", "viewer-password", "viewer")
    return client_for(database, "vera", "viewer-password")


def test_the_api_and_its_csv_carry_the_interval_and_the_raw_count(database) -> None:
    write_batch(database, [day_of("a", "cam", d, 60 + 10 * d, 40, 100, seq=d + 1) for d in range(3)]
                + [day_of("b", "cam", d, 120, 20, 60, seq=d + 1) for d in range(3)])
    client = viewer(database)
    since, until = iso(NOW - NOW % DAY - 2 * DAY), iso(NOW - NOW % DAY + DAY)
    series = client.get(f"/api/stores/a/series?since={since}&until={until}&bucket=day").json()
    day = series["series"][0]
    assert day["visits"] == 220 and day["satisfaction_raw"] == round((80 - 40) / 220, 4)  # two days ago
    assert day["satisfaction_method"] == "corrected" and day["satisfaction_low"] < day["satisfaction_high"]
    assert series["total"]["visits"] == 3 * 200 + 30 and series["total"]["satisfaction_se"] > 0
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/api/stores/a/series?since={since}&until={until}&bucket=day&format=csv").text)))
    assert {"satisfaction_low", "satisfaction_high", "satisfaction_method", "satisfaction_imprecise",
            "satisfaction_raw"} <= set(rows[0])
    compared = client.get(f"/api/compare?stores=a,b&since={since}&until={until}&bucket=day").json()
    (pair,) = compared["differences"]
    assert (pair["from"], pair["to"]) == ("a", "b") and pair["significant"] is True and pair["low"] > 0
    mix = client.get(f"/api/stores/b/emotions?since={since}&until={until}").json()
    assert mix["shares_raw"]["happy"] == 0.6 and mix["intervals"]["happy"]["method"] == "corrected"
    assert mix["intervals"]["happy"]["low"] < mix["shares"]["happy"] < mix["intervals"]["happy"]["high"]
    overview = list(csv.DictReader(io.StringIO(client.get("/api/overview?format=csv").text)))
    assert "satisfaction_change_7d_significant" in overview[0] and "satisfaction_30d_raw" in overview[0]


def test_export_carries_them_and_a_models_dir_adds_an_operators_calibration(hub_url: str, tmp_path: Path) -> None:
    database = open_database(hub_url)
    write_batch(database, [day_of("own", "cam", 0, 300, 200, 500, model=UNKNOWN)])
    database.close()
    export = [sys.executable, "-m", "edgeemo", "hub", "export", "--db", hub_url, "--store", "own", "--format", "json",
              "--since", "2026-11-01", "--until", "2026-12-31"]
    before = json.loads(subprocess.run(export, cwd=REPO, capture_output=True, text=True, check=True).stdout)
    (point,) = [p for p in before["stores"][0]["series"] if not p["suppressed"]]
    assert point["satisfaction_method"] == "count" and point["satisfaction_index"] == 0.1
    assert point["raw_share_happy"] == 0.3 and before["stores"][0]["emotion_mix"]["intervals"]["happy"]["method"] == "count"
    models = tmp_path / "models"
    models.mkdir()
    (models / "my_own_model.json").write_text(json.dumps({**SHIPPED, "sha256": UNKNOWN["sha256"]}))
    (models / "broken.json").write_text("{not json")  # skipped with a warning, not a stop
    config = tmp_path / "hub.toml"
    config.write_text(f'[estimates]\nmodels_dir = "{models}"\n')
    after = json.loads(subprocess.run([*export, "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                                      check=True).stdout)
    (point,) = [p for p in after["stores"][0]["series"] if not p["suppressed"]]
    assert point["satisfaction_method"] == "corrected" and point["satisfaction_raw"] == 0.1
    assert point["satisfaction_index"] != 0.1 and point["satisfaction_low"] < point["satisfaction_index"]
    mix = after["stores"][0]["emotion_mix"]  # the range's corrected mix beside the buckets' raw shares
    assert mix["visits"] == 1000 and mix["shares_raw"]["happy"] == 0.3
    assert mix["intervals"]["happy"]["method"] == "corrected" and mix["intervals"]["happy"]["value"] != 0.3


def test_the_example_config_names_every_setting() -> None:
    """hub/hub.example.toml is the reference of the hub's settings: it loads, and has every key."""
    import tomllib

    from edgeemo.hub.config import load_config

    example = REPO / "hub" / "hub.example.toml"
    config = load_config(example)
    assert config.estimates.precision_floor == 0.15
    text = example.read_text()
    from pydantic import BaseModel

    for name in HubConfig.model_fields:
        section = type(getattr(config, name))
        if isinstance(section, type) and issubclass(section, BaseModel):
            assert f"[{name}]" in text, name
            for key in section.model_fields:
                assert f"\n{key} =" in text or f"\n# {key} =" in text, f"[{name}] {key}"
    assert tomllib.loads(text)["estimates"] == {"precision_floor": 0.15}


def test_devices_on_one_model_share_its_calibration_error() -> None:
    """Fifty devices of 1,000 visits on the shipped model are as certain as one of 50,000, not seven
    times more: their calibration is one measurement, so their counts are corrected together."""
    from edgeemo.hub.estimating import Estimator, rollup_key
    from edgeemo.hub.ingest.messages import _groups_json

    groups = DEFAULT_GROUPS.for_labels(LABELS)
    key = rollup_key(SHIPPED["sha256"], _groups_json(tuple(groups.positive), tuple(groups.negative)))
    estimator = Estimator(load_calibrations(), {}, 0.15)
    one = estimator.index({("s/one", key): [50_000, 15_000, 10_000]})
    many = estimator.index({(f"s/cam-{n}", key): [1_000, 300, 200] for n in range(50)})
    assert many.method == one.method == "corrected"
    assert many.value == pytest.approx(one.value) and many.standard_error == pytest.approx(one.standard_error)



def test_a_device_that_changes_its_groups_is_corrected_with_the_groups_of_each_row(database) -> None:
    """Each roll-up row keeps the groups its positive and negative counts were made with: a day
    before the change and a day after are each corrected with their own; a range over both
    combines the two; a bucket summing both groups is the raw count."""
    wider = SatisfactionGroups(("happy", "surprise"), ("angry", "contempt", "disgust", "fear", "sad"))
    write_batch(database, [day_of("store", "cam", 1, 300, 200, 500),
                           day_of("store", "cam", 0, 300, 200, 500, groups=wider, seq=2)])
    with database.transaction() as tx:
        keys = [row[0] for row in tx.rows("SELECT model FROM hourly ORDER BY bucket")]
    assert keys[0] != keys[1] and keys[1].endswith('"positive":["happy","surprise"],"negative":["angry","contempt",'
                                                   '"disgust","fear","sad"]}')
    store = stores_of(database)["store"]
    assert store["satisfaction_today_method"] == "corrected" and store["satisfaction_7d_method"] == "corrected"
    yesterday_alone = fleet.overview(database, 5, 3600, now=NOW - DAY, estimates=settings())["stores"][0]
    assert store["satisfaction_today"] != yesterday_alone["satisfaction_today"]  # other groups, other numbers
    write_batch(database, [day_of("store", "cam", 0, 30, 20, 50, groups=DEFAULT_GROUPS.for_labels(LABELS), seq=3,
                                  minute=5)])  # the old groups again, the same day
    assert stores_of(database)["store"]["satisfaction_today_method"] == "count"


def test_a_broken_sidecar_in_models_dir_is_skipped_not_a_stop(tmp_path: Path, caplog) -> None:
    nan = '{"sha256": "x", "calibration": {"labels": ["a"], "counts": [[NaN]]}}'
    for name, text in (("list", "[]"), ("null", "null"), ("number", "7"), ("nan", nan), ("nosha", '{"calibration": {}}')):
        (tmp_path / f"{name}.json").write_text(text)
    found = load_calibrations(tmp_path)
    assert set(found) == set(load_calibrations())  # the shipped ones, nothing else
    assert sum("skipped" in record.getMessage() for record in caplog.records) == 5  # one line each, no stop


def test_a_corrected_period_and_a_raw_one_are_compared_raw(database) -> None:
    """Yesterday's device ran an unknown model, today's the shipped one, the same answers both days:
    the correction alone must not read as a change."""
    write_batch(database, [day_of("swap", "cam", 1, 300, 200, 500, model=UNKNOWN),
                           day_of("swap", "cam", 0, 300, 200, 500, seq=2)])
    swap = stores_of(database)["swap"]
    assert swap["satisfaction_today_method"] == "corrected" and swap["satisfaction_today"] != 0.1
    assert swap["satisfaction_change_today"] == 0.0 and swap["satisfaction_change_today_significant"] is False
    write_batch(database, [day_of("own", "cam", 0, 300, 200, 500, model=UNKNOWN)])  # the compare view: the same
    since, until = NOW - NOW % DAY, NOW - NOW % DAY + DAY
    panels = [{"label": store, "total": queries.series(database, store, since, until, "day", 5,
                                                      estimates=settings())["total"]} for store in ("swap", "own")]
    assert [p["total"]["satisfaction_method"] for p in panels] == ["corrected", "count"]
    (pair,) = compare_ranges(panels)
    assert pair["value"] == 0.0 and pair["significant"] is False


def test_a_mix_over_two_pools_still_adds_up_to_one() -> None:
    """Two pools of one model (the groups changed mid-range) are each corrected, then combined: the shares
    shown are combined, not the unclipped ones, so they add up to one (they did not: 1.016 was seen)."""
    from edgeemo.hub.estimating import Estimator, rollup_key
    from edgeemo.hub.ingest.messages import _groups_json

    keys = [rollup_key(SHIPPED["sha256"], _groups_json(tuple(g.positive), tuple(g.negative)))
            for g in (DEFAULT_GROUPS.for_labels(LABELS), SatisfactionGroups(("happy", "surprise"), ("sad",)))]
    estimator = Estimator(load_calibrations(), {}, 0.15)
    sparse = dict.fromkeys(LABELS, 0) | {"happy": 40, "neutral": 3}  # most labels near 0: their corrections clip
    shares = estimator.mix({("s/a", keys[0]): Counter(sparse), ("s/b", keys[1]): Counter(happy=5, sad=30)}, LABELS)
    assert {e.method for e in shares.values()} == {"corrected"}
    assert sum(e.value for e in shares.values()) == pytest.approx(1.0, abs=1e-9)

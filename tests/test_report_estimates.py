"""`edgeemo report` on the device: the index corrected with the calibration its model recorded,
with a 95% interval, the raw count beside it and the imprecise state, in the JSON, the CSV and
the chart; the raw count (said to be one) when the database has no calibration; nothing at all
for a bucket under k."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo import bundled
from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.edge.analytics.report import build_report
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.edge.analytics.store_config import calibration_since
from edgeemo.edge.analytics.visits import Visit

SIDECAR = json.loads(bundled.bundled_model(bundled.DEFAULT_MODEL).with_suffix(".json").read_text())
LABELS = SIDECAR["labels"]
DAY = 86400
TODAY = int(time.time()) // DAY * DAY - 2 * DAY  # two whole days ago: inside the retention, one UTC day


def device_db(path: Path, calibration: dict | None, day_mixes: list[dict[str, int]],
              calibration_since: float = 0.0) -> Path:
    """A device database with one day of visits per mix (and one lonely visit on the next day)."""
    store = AnalyticsStore(path)
    store.set_meta(labels=LABELS, satisfaction_groups=DEFAULT_GROUPS.for_labels(LABELS).as_dict(),
                   calibration=calibration, calibration_since=calibration_since)
    track = 0
    for day, mix in enumerate([*day_mixes, {"happy": 1}]):
        for label, count in mix.items():
            for _ in range(count):
                track += 1
                end = TODAY + day * DAY + 36_000 + track
                store.add_visit(Visit(track, end - 10.0, float(end), label, {label: 1.0}))
    store.close()
    return path


@pytest.mark.parametrize("calibrated", [True, False])
def test_the_report_corrects_with_the_models_calibration(tmp_path: Path, calibrated: bool) -> None:
    db = device_db(tmp_path / "device.db", SIDECAR["calibration"] if calibrated else None,
                   [{"happy": 300, "sad": 200, "neutral": 500}, {"happy": 4, "sad": 3}])
    out = tmp_path / "report"
    report = build_report(db, out, None, None, bucket="day", min_visits=5)
    big, thin = report["buckets"]  # the lonely visit's day is not listed: one visit in its hour, under k
    assert big["visits"] == 1000 and big["satisfaction_raw"] == 0.1
    if calibrated:  # the corrected mix's index: sign . M^-1 q, with M = P(answer | true) of the chain's visits
        # over every face size (these visits carry no measured size), pooled over the sources that made them
        chain_all = SIDECAR["calibration"]["chain"]["bands"]["all"]["sources"]
        counts = sum(np.asarray(c, float) for c in chain_all.values())
        q = np.array([{"happy": 0.3, "sad": 0.2, "neutral": 0.5}.get(label, 0.0) for label in LABELS])
        sign = np.array([1.0 if x == "happy" else -1.0 if x in DEFAULT_GROUPS.negative else 0.0 for x in LABELS])
        expected = sign @ np.linalg.solve((counts / counts.sum(axis=1, keepdims=True)).T, q)
        assert report["calibration"] is True and big["satisfaction_method"] == "corrected"
        assert big["satisfaction_index"] == pytest.approx(expected, abs=1e-4)
    else:
        assert report["calibration"] is False and big["satisfaction_method"] == "count"
        assert big["satisfaction_index"] == 0.1
    assert big["satisfaction_low"] < big["satisfaction_index"] < big["satisfaction_high"]
    assert big["satisfaction_imprecise"] is False
    assert thin["visits"] == 7 and thin["satisfaction_imprecise"] is True
    assert report["satisfaction_method"] == big["satisfaction_method"]  # the whole range
    happy = report["emotion_mix"]["happy"]
    assert happy["method"] == big["satisfaction_method"] and happy["low"] < happy["value"] < happy["high"]
    assert sum(share["value"] for share in report["emotion_mix"].values()) == pytest.approx(1.0, abs=0.01)
    alone = build_report(db, tmp_path / "one", None, None, bucket="day", min_visits=2000)
    assert alone["emotion_mix"] is None and alone["satisfaction_index"] is None  # the whole range under k
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert rows[0]["satisfaction_low"] == str(big["satisfaction_low"]) and rows[0]["satisfaction_raw"] == "0.1"
    assert len(rows) == 2 and rows[1]["visits"] == "7"
    assert cv2.imread(str(out / "satisfaction.png")) is not None


def test_a_calibration_of_other_labels_is_not_used(tmp_path: Path) -> None:
    other = {**SIDECAR["calibration"], "labels": ["a", "b"], "counts": [[5, 1], [1, 5]]}
    db = device_db(tmp_path / "device.db", other, [{"happy": 30, "sad": 20}])
    report = build_report(db, tmp_path / "report", None, None, bucket="day", min_visits=5)
    assert report["calibration"] is False and report["buckets"][0]["satisfaction_method"] == "count"


def test_visits_of_an_earlier_model_are_counted_raw(tmp_path: Path) -> None:
    """The database says since when its current model (and groups) classified the visits: a
    bucket before that is the raw count, marked so; one after is corrected."""
    db = device_db(tmp_path / "device.db", SIDECAR["calibration"], [{"happy": 300, "sad": 200, "neutral": 500}] * 2,
                   calibration_since=TODAY + DAY)  # the model changed at the start of the second day
    report = build_report(db, tmp_path / "report", None, None, bucket="day", min_visits=5)
    before, after = report["buckets"]
    assert before["satisfaction_method"] == "count" and after["satisfaction_method"] == "corrected"
    assert report["satisfaction_method"] == "count" and report["calibration"] is False  # the range mixes both
    assert report["emotion_mix"]["happy"]["method"] == "count"


def test_a_run_keeps_the_calibration_start_only_when_it_runs_the_same_model() -> None:
    made_by = {"model": {"name": "m.tflite", "sha256": "ab" * 32},
               "satisfaction_groups": DEFAULT_GROUPS.for_labels(LABELS).as_dict()}
    stored = json.loads(json.dumps({**made_by, "calibration_since": 1000.0}))  # as meta holds it
    assert calibration_since(stored, made_by, now=5000.0) == 1000.0
    other_model = {**made_by, "model": {"name": "m.tflite", "sha256": "cd" * 32}}
    assert calibration_since(stored, other_model, now=5000.0) == 5000.0
    other_groups = {**made_by, "satisfaction_groups": {"positive": ["happy", "surprise"], "negative": ["sad"]}}
    assert calibration_since(stored, other_groups, now=5000.0) == 5000.0
    assert calibration_since({}, made_by, now=5000.0) == 5000.0  # a database from before: its visits are raw


def test_the_report_says_what_k_held_back_on_the_terminal_only(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    db = device_db(tmp_path / "device.db", None, [{"happy": 300}])  # and one lonely visit the next day
    store = AnalyticsStore(db)
    store.add_visit(Visit(10**6, time.time() - 20.0, time.time() - 10.0, "sad", {"sad": 1.0}))  # this hour: not over
    store.close()
    done = run_cli("report", "--db", str(db), "--out", str(tmp_path / "r"), "--bucket", "day")
    assert done.returncode == 0, done.stderr
    summary, hint = done.stdout.strip().splitlines()
    assert summary.startswith("300 visits in 1 bucket (0 suppressed, k=5)")
    assert hint.startswith("held back: 2 visits (1 in hours with fewer than k=5 visits in their zone, 1 in hours "
                           "not over yet)") and "--min-visits 1" in hint
    assert "held" not in (tmp_path / "r" / "report.json").read_text()  # never in what is shared
    everything = run_cli("report", "--db", str(db), "--out", str(tmp_path / "all"), "--min-visits", "1")
    assert everything.stdout.startswith("302 visits in ") and "held back" not in everything.stdout

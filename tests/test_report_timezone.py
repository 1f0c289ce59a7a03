"""`edgeemo report` in the store's own time (issue 31, items 5 and 6): `--timezone`, else the zone the
device's config names (recorded in the database by `edgeemo run`), else UTC, said in the JSON and on
the charts; day buckets are the store's local days yet always whole k-anonymity cells (one UTC
hour), in Los Angeles and in Kathmandu (+05:45); every bucket's shares are named raw, and the whole
range's corrected mix with its interval sits beside the raw one in the JSON, a CSV and the chart."""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.pyplot as plt
import pytest

from edgeemo import bundled
from edgeemo.aggregates import CELL_S, DEFAULT_GROUPS
from edgeemo.edge.analytics.report import build_report
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.edge.analytics.store_config import StoreConfig
from edgeemo.edge.analytics.visits import Visit
from edgeemo.errors import EdgeemoError
from edgeemo.wire import parse_iso

SIDECAR = json.loads(bundled.bundled_model(bundled.DEFAULT_MODEL).with_suffix(".json").read_text())
LABELS = SIDECAR["labels"]
DAY = 86400
MIDNIGHT = int(time.time()) // DAY * DAY - 3 * DAY  # UTC midnight three days ago: every hour over and settled
LA, KTM = "America/Los_Angeles", "Asia/Kathmandu"


def device_db(path: Path, timezone: str | None = None) -> Path:
    """Six visits (3 happy, 2 neutral, 1 sad) in every UTC hour from MIDNIGHT on, at :50."""
    store = AnalyticsStore(path)
    store.set_meta(labels=LABELS, satisfaction_groups=DEFAULT_GROUPS.for_labels(LABELS).as_dict(),
                   calibration=SIDECAR["calibration"], calibration_since=0.0,
                   **({"timezone": timezone} if timezone else {}))
    track = 0
    for hour in range(48):
        for label in ("happy", "happy", "happy", "neutral", "neutral", "sad"):
            track += 1
            end = MIDNIGHT + hour * 3600 + 3000 + track % 60
            store.add_visit(Visit(track, end - 10.0, float(end), label, {label: 1.0}))
    store.close()
    return path


def test_the_report_is_in_the_zone_asked_for_and_its_days_are_local(tmp_path: Path) -> None:
    db = device_db(tmp_path / "device.db")
    report = build_report(db, tmp_path / "out", None, None, bucket="day", min_visits=5, timezone=LA)
    assert (report["timezone"], report["timezone_source"]) == (LA, "--timezone")
    starts = [bucket["start"] for bucket in report["buckets"]]
    assert all(start.endswith(("T00:00:00-08:00", "T00:00:00-07:00")) for start in starts), starts
    # 48 UTC hours from a UTC midnight span three Pacific days: 8 (or 7) hours, 24 hours, the rest
    visits = [bucket["visits"] for bucket in report["buckets"]]
    assert len(visits) == 3 and sum(visits) == 48 * 6 and visits[1] == 24 * 6
    hours = build_report(db, tmp_path / "hours", None, None, bucket="hour", min_visits=5, timezone=LA)
    first = hours["buckets"][0]["start"]  # an hour bucket is one cell, said in local time
    assert first == datetime.fromtimestamp(MIDNIGHT, ZoneInfo(LA)).isoformat() and parse_iso(first) == MIDNIGHT
    local = build_report(db, tmp_path / "since", report["buckets"][1]["start"][:10], None, bucket="day",
                         min_visits=5, timezone=LA)  # --since as a local date: from that local midnight
    assert [b["visits"] for b in local["buckets"]] == visits[1:]


def test_a_day_in_kathmandu_is_whole_cells_and_loses_no_visit(tmp_path: Path) -> None:
    """+05:45: local midnight falls at :15 UTC, inside a cell; a day takes the cells whose middle is on it."""
    db = device_db(tmp_path / "device.db")
    report = build_report(db, tmp_path / "out", None, None, bucket="day", min_visits=5, timezone=KTM)
    for bucket in report["buckets"]:
        start, end = parse_iso(bucket["start"]), parse_iso(bucket["end"])
        assert start % CELL_S == 0 and end % CELL_S == 0 and end - start in (23 * CELL_S, 24 * CELL_S, 25 * CELL_S)
        # midnight is 18:15 UTC: the day's first cell is 18:00-19:00 UTC (23:45-00:45 local, its middle on the day)
        assert bucket["start"].endswith("T23:45:00+05:45")
        assert datetime.fromtimestamp(start + CELL_S / 2, ZoneInfo(KTM)).strftime("%H:%M") == "00:15"
    assert sum(bucket["visits"] for bucket in report["buckets"]) == 48 * 6


def test_the_zone_comes_from_the_devices_config_else_utc_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    configured = device_db(tmp_path / "la.db", timezone=LA)
    report = build_report(configured, tmp_path / "la", None, None, bucket="day", min_visits=5)
    assert (report["timezone"], report["timezone_source"]) == (LA, "config")
    assert build_report(configured, tmp_path / "ktm", None, None, bucket="day", min_visits=5,
                        timezone=KTM)["timezone"] == KTM  # --timezone wins
    plain = build_report(device_db(tmp_path / "utc.db"), tmp_path / "utc", None, None, bucket="day", min_visits=5)
    assert (plain["timezone"], plain["timezone_source"]) == ("UTC", "default")
    assert plain["buckets"][0]["start"].endswith("T00:00:00Z")
    with pytest.raises(EdgeemoError, match=r"^--timezone: time zone 'Pacific/Nowhere': not an IANA zone"):
        build_report(configured, tmp_path / "bad", None, None, timezone="Pacific/Nowhere")
    with pytest.raises(ValueError, match="not an IANA zone"):
        StoreConfig(timezone="PST")  # the device's config refuses what no report could use


def test_raw_shares_are_named_raw_and_the_corrected_mix_sits_beside_them(tmp_path: Path, monkeypatch) -> None:
    axes: list[tuple[str, str]] = []
    close = plt.close

    def recording_close(figure=None):  # what each chart says on its axes, before it is closed
        if figure is not None and hasattr(figure, "axes"):
            axes.extend((axis.get_xlabel(), axis.get_title()) for axis in figure.axes)
        return close(figure)

    monkeypatch.setattr(plt, "close", recording_close)
    out = tmp_path / "out"
    report = build_report(device_db(tmp_path / "device.db", timezone=LA), out, None, None, bucket="day", min_visits=5)
    bucket = report["buckets"][1]
    assert [key for key in bucket if "share" in key] == [f"raw_share_{label}" for label in LABELS]
    assert bucket["raw_share_happy"] == 0.5
    header = (out / "report.csv").read_text().splitlines()[0].split(",")
    assert [c for c in header if "share" in c] == [f"raw_share_{label}" for label in LABELS]
    assert report["emotion_mix_raw"]["happy"] == 0.5 and report["emotion_mix"]["happy"]["method"] == "corrected"
    rows = {row["label"]: row for row in csv.DictReader((out / "emotion_mix.csv").open())}
    assert list(rows) == LABELS and rows["happy"]["raw_share"] == "0.5" and rows["happy"]["method"] == "corrected"
    assert float(rows["happy"]["low"]) < float(rows["happy"]["share"]) < float(rows["happy"]["high"])
    assert ("time (America/Los_Angeles)", axes[0][1]) == axes[0]  # satisfaction.png names the zone
    mix_axis, whole = axes[1], axes[2]
    assert mix_axis[0] == "day (America/Los_Angeles)" and "Raw emotion mix" in mix_axis[1] and "uncorrected" in mix_axis[1]
    assert whole[1] == "Whole range: corrected (95% interval) and raw"

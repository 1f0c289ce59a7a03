"""A correction that follows the face size: each visit is counted in the band of its median face width, the
payload carries the counts by band, and every band is corrected with the model's confusion at that size, so
a store whose faces are all far reads the same as one whose faces are near, within the interval."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.calibrations import band_calibrations, merge_chain, merge_source
from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.analytics.store import AnalyticsStore
from edgeemo.edge.analytics.visits import Visit
from edgeemo.estimates import banded_estimates, index_estimate
from edgeemo.hub.estimating import Estimator
from edgeemo.labels import FERPLUS_LABELS
from edgeemo.payload import IntervalReport, parse_payload

LABELS = FERPLUS_LABELS
GROUPS = DEFAULT_GROUPS.for_labels(LABELS)
SIGN = np.array([1.0 if x in GROUPS.positive else -1.0 if x in GROUPS.negative else 0.0 for x in LABELS])
TRUE_MIX = np.array([0.08, 0.01, 0.01, 0.04, 0.30, 0.38, 0.12, 0.06])  # angry .. surprise


def confusion(lost: float) -> np.ndarray:
    """P(answer | true) of a model that reads `lost` of every negative face as neutral (more when far)."""
    matrix = np.eye(len(LABELS)) * 0.9 + 0.1 / len(LABELS)
    neutral = LABELS.index("neutral")
    for label in GROUPS.negative:
        k = LABELS.index(label)
        matrix[k] *= 1 - lost
        matrix[k, neutral] += lost
    return matrix / matrix.sum(axis=1, keepdims=True)


NEAR, FAR = confusion(0.05), confusion(0.45)


def record() -> dict:
    """A sidecar calibration: still faces, and the chain's counts by band (2,000 faces a band, two sources)."""
    faces = np.array([200, 100, 100, 200, 400, 500, 300, 200])
    counts = {band: np.rint(faces[:, None] * matrix) for band, matrix in (("lt28", FAR), ("ge48", NEAR))}
    still = merge_source(None, LABELS, "validation", {"counts": counts["ge48"].tolist()}, "still")
    for name in ("validation", "test"):
        still = merge_chain(still, LABELS, name, {band: c / 2 for band, c in counts.items()}, {"about": name})
    return still


def store_counts(matrix: np.ndarray, visits: int = 4000) -> Counter:
    return Counter(dict(zip(LABELS, np.rint(visits * TRUE_MIX @ matrix).astype(int).tolist())))


def test_a_far_store_reads_as_a_near_one_within_the_interval() -> None:
    calibrations = band_calibrations(record())
    truth = float(SIGN @ TRUE_MIX)
    far, _ = banded_estimates({"lt28": store_counts(FAR)}, LABELS, GROUPS, calibrations)
    near, _ = banded_estimates({"ge48": store_counts(NEAR)}, LABELS, GROUPS, calibrations)
    assert far.low <= truth <= far.high and near.low <= truth <= near.high
    assert abs(far.value - near.value) < far.high - far.value
    # one calibration for every size (the near faces'): the far store reads far too happy
    one = band_calibrations(record())["ge48"]
    assert index_estimate(store_counts(FAR), GROUPS, one).value - truth > 0.04
    raw = index_estimate(store_counts(FAR), GROUPS)
    assert raw.value - truth > 0.05  # what counting says of the far store


def test_bands_add_up_and_share_their_calibration_error() -> None:
    calibrations = band_calibrations(record())
    both, mix = banded_estimates({"lt28": store_counts(FAR, 2000), "ge48": store_counts(NEAR, 2000)}, LABELS,
                                 GROUPS, calibrations)
    far, _ = banded_estimates({"lt28": store_counts(FAR, 2000)}, LABELS, GROUPS, calibrations)
    near, _ = banded_estimates({"ge48": store_counts(NEAR, 2000)}, LABELS, GROUPS, calibrations)
    assert both.visits == far.visits + near.visits and both.value == pytest.approx((far.value + near.value) / 2, abs=1e-6)
    # the calibration errors add up (both bands' calibrations come from the same faces), not in quadrature
    assert both.calibration_error == pytest.approx((far.calibration_error + near.calibration_error) / 2, rel=1e-3)
    assert sum(share.value for share in mix.values()) == pytest.approx(1.0, abs=1e-6)


def test_the_hub_corrects_each_band_of_each_device() -> None:
    sha = "ab" * 32
    estimator = Estimator({sha: band_calibrations(record())}, {}, 0.15)
    parts = {("s/far", f"{sha}|{json.dumps(GROUPS.as_dict())}"): [4000, 0, 0]}
    bands = {part: {"lt28": store_counts(FAR)} for part in parts}
    found = estimator.index(parts, bands)
    assert found.method == "corrected" and found.low <= float(SIGN @ TRUE_MIX) <= found.high
    unknown = {("s/x", None): [4000, 1200, 600]}
    assert estimator.index(unknown, {part: {"lt28": store_counts(FAR)} for part in unknown}).method == "count"


def test_the_device_counts_each_visit_in_its_band_and_sends_them(tmp_path: Path) -> None:
    store = AnalyticsStore(tmp_path / "e.db")
    analytics = Analytics(LABELS, 60, 1.0, sinks=[store])
    start = 1_800_000_000.0
    for i, (px, label) in enumerate([(24, "sad"), (30, "happy"), (30, "happy"), (70, "neutral"), (None, "sad")]):
        analytics.visit(Visit(i, start + i, start + i + 3, label, {label: 1.0}, face_px=px))
    analytics.close()
    store.flush()
    [(_, row)] = store.unsent(10)
    assert json.loads(row["bands"]) == {"lt28": {"sad": 1}, "28-36": {"happy": 2}, "ge48": {"neutral": 1},
                                        "unsized": {"sad": 1}}
    from edgeemo.payload_build import payload_from_row

    payload = payload_from_row(row, "s", "d")
    report = parse_payload(json.dumps(payload).encode(), start + 600)
    assert isinstance(report, IntervalReport) and report.version == 4
    assert {band: {k: v for k, v in counts if v} for band, counts in report.bands}["28-36"] == {"happy": 2}
    store.close()

"""One bucket's public numbers, from the roll-ups' sums: k-anonymity first (a bucket under k visits
shows nothing but that), then the satisfaction index as the corrected estimate with its 95%
interval, its method, whether it is too wide to read, and the raw count beside it, and each
label's raw share (`raw_share_*`: counted, never corrected); and the differences of whole
ranges a page compares, Holm-corrected together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgeemo.aggregates import is_suppressed, satisfaction_from_totals
from edgeemo.estimates import PRECISION_FLOOR, Estimate, count_index, difference, holm
from edgeemo.hub.estimating import Estimator, Part, device_groups
from edgeemo.hub.storage.db import Tx


@dataclass
class Totals:
    visits: int = 0
    positive: int = 0
    negative: int = 0
    faces_seen: int = 0
    dwell_s_total: float = 0.0
    parts: dict[Part, list[int]] = field(default_factory=dict)  # (store/device, model) -> [visits, pos, neg]
    bands: dict[Part, dict[str, Counter]] = field(default_factory=dict)  # ... -> face-size band -> visits by label

    def add(self, visits: int, positive: int, negative: int, faces: int = 0, dwell: float = 0.0,
            part: Part = ("", None)) -> None:
        self.visits += visits
        self.positive += positive
        self.negative += negative
        self.faces_seen += faces
        self.dwell_s_total += dwell
        sums = self.parts.setdefault(part, [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + visits, sums[1] + positive, sums[2] + negative

    def add_band(self, part: Part, band: str, label: str, visits: int) -> None:
        """Visits of one face-size band and label (what the corrected index reads, band by band)."""
        self.bands.setdefault(part, {}).setdefault(band, Counter())[label] += visits

    def count(self) -> Estimate:
        """The raw count of these visits, with its interval."""
        n = self.visits
        return count_index((self.positive / n, self.negative / n, 0.0) if n else (0, 0, 0), n)


@dataclass(frozen=True)
class EstimateSettings:
    """What the hub corrects with: model sha256 -> calibration, and the precision floor (a half-width)."""

    calibrations: dict = field(default_factory=dict)
    floor: float = PRECISION_FLOOR


COUNT_ONLY = EstimateSettings()


def estimator(tx: Tx, settings: EstimateSettings, stores: Iterable[str] | None = None) -> Estimator:
    """The estimator of a request: the calibrations and the satisfaction groups of the stores' devices."""
    if stores is None:
        rows = tx.rows("SELECT store || '/' || device, groups FROM devices")
    else:
        stores = list(stores)
        rows = tx.rows(f"SELECT store || '/' || device, groups FROM devices WHERE store IN "
                       f"({','.join('?' * len(stores))})", stores) if stores else []
    return Estimator(settings.calibrations, device_groups(rows), settings.floor)


def index_numbers(totals: Totals, estimator: Estimator | None) -> dict:
    """The satisfaction index of shown visits: the headline (corrected when it can be), its 95%
    interval, how it was made, whether it is too wide to read, and the raw count beside it."""
    raw = satisfaction_from_totals(totals.positive, totals.negative, totals.visits)
    estimate = estimator.index(totals.parts, totals.bands) if estimator is not None else totals.count()
    floor = estimator.floor if estimator is not None else PRECISION_FLOOR
    shown = estimate.as_dict(4, floor)
    return {"satisfaction_index": shown["value"], "satisfaction_low": shown["low"],
            "satisfaction_high": shown["high"], "satisfaction_method": shown["method"],
            "satisfaction_imprecise": shown["imprecise"], "satisfaction_raw": _round(raw)}


RAW_SHARE = "raw_share_"  # a bucket's share of visits by dominant label, uncorrected: named raw wherever it goes
NO_INDEX = {"satisfaction_index": None, "satisfaction_low": None, "satisfaction_high": None,
            "satisfaction_method": None, "satisfaction_imprecise": None, "satisfaction_raw": None}


def bucket_numbers(totals: Totals, min_visits: int, estimator: Estimator | None = None,
                   emotions: Counter | None = None, labels: Iterable[str] = ()) -> dict:
    """One bucket's public numbers; a bucket under k visits shows only that it was suppressed (no
    estimate, no interval)."""
    suppressed = is_suppressed(totals.visits, min_visits)
    numbers = {
        "visits": None if suppressed else totals.visits,
        "suppressed": suppressed,
        **(NO_INDEX if suppressed else index_numbers(totals, estimator)),
        "faces_seen": None if suppressed else totals.faces_seen,
        "mean_dwell_s": None if suppressed or not totals.visits else round(totals.dwell_s_total / totals.visits, 2),
    }
    if emotions is not None:  # raw: what the model read, uncorrected (the corrected mix is the emotions view's)
        for label in labels:
            numbers[f"{RAW_SHARE}{label}"] = None if suppressed or not totals.visits else round(
                emotions.get(label, 0) / totals.visits, 4)
    return numbers


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def range_numbers(totals: Totals, min_visits: int, estimate: Estimator) -> dict:
    """A whole range's numbers, with the index's standard error (what a comparison of ranges needs)."""
    numbers = bucket_numbers(totals, min_visits, estimate)
    found = None if numbers["suppressed"] else estimate.index(totals.parts, totals.bands)
    raw = None if numbers["suppressed"] else totals.count()
    numbers["satisfaction_se"] = None if found is None or found.standard_error is None else round(
        found.standard_error, 5)
    numbers["satisfaction_raw_se"] = None if raw is None or raw.standard_error is None else round(
        raw.standard_error, 5)
    return numbers


def compare_ranges(panels: list[dict]) -> list[dict]:
    """Every pair of panels: the difference of their whole-range indices (later minus earlier), its 95%
    interval and whether it is significant, Holm's correction over all the pairs of the page."""
    pairs = []
    for i, first in enumerate(panels):
        for second in panels[i + 1:]:
            raw = first["total"]["satisfaction_method"] != second["total"]["satisfaction_method"]  # compare like
            a, b = (_as_estimate(panel["total"], raw) for panel in (first, second))
            pairs.append((first["label"], second["label"], difference(a, b)))
    marks = holm([found.p_value for _, _, found in pairs])
    return [{"from": a, "to": b, **found.as_dict(mark)} for (a, b, found), mark in zip(pairs, marks)]


def _as_estimate(numbers: dict, raw: bool = False) -> Estimate:
    if raw:
        return Estimate(numbers["satisfaction_raw"], None, None, numbers["visits"] or 0, "count",
                        numbers.get("satisfaction_raw_se"))
    return Estimate(numbers["satisfaction_index"], numbers["satisfaction_low"], numbers["satisfaction_high"],
                    numbers["visits"] or 0, numbers["satisfaction_method"] or "count", numbers.get("satisfaction_se"))

"""The hub's estimates: each device's counts corrected with the calibration of the model that
produced them, then combined (`edgeemo.estimates`).

A roll-up row knows its model (by sha256) and the satisfaction groups its counts were made with
(`rollup_key`); the calibrations come from the sidecars of the models edgeemo ships and from
those in `[estimates] models_dir` (an operator's own models), never from a device: a device
cannot make another's numbers look better. A row whose model is unknown, mixed or uncalibrated
is counted raw, and a figure with any such part says `count`. Devices running one model share
its calibration, and so its error: their counts are pooled and corrected once, then combined
across models (whose calibrations are independent).
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups
from edgeemo.bundled import bundled_sidecars
from edgeemo.estimates import (
    Calibration,
    Estimate,
    IndexCorrection,
    combine,
    count_index,
    mix_estimate,
)

log = logging.getLogger(__name__)
Part = tuple[str, str | None]  # (device, model sha256)


def load_calibrations(folder: Path | None = None) -> dict[str, Calibration]:
    """sha256 -> calibration, from the shipped models' sidecars and the sidecars in `folder`."""
    found: dict[str, Calibration] = {}
    shipped = bundled_sidecars()
    for path in [*shipped, *(sorted(Path(folder).glob("*.json")) if folder else [])]:
        try:
            sidecar = json.loads(path.read_text())
            if not isinstance(sidecar, dict) or not isinstance(sidecar.get("sha256"), str):
                raise TypeError("not a JSON object with a sha256")
            if sidecar.get("calibration"):
                calibration = Calibration.from_dict(sidecar["calibration"])
                if sidecar["sha256"] in found and path not in shipped:
                    log.warning("hub: %s: its calibration replaces the shipped one of model %s", path,
                                sidecar["sha256"][:12])
                found[sidecar["sha256"]] = calibration
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("hub: %s: not a model sidecar with a calibration (%s); skipped", path, exc)
    return found


def rollup_key(sha256: str | None, groups_json: str) -> str | None:
    """What a roll-up row keeps of how its counts were made: the model and the satisfaction groups."""
    return None if sha256 is None else f"{sha256}|{groups_json}"


@functools.lru_cache(maxsize=1024)  # a fleet repeats a handful of keys over every store and day
def _parse_key(key: str | None) -> tuple[str | None, SatisfactionGroups | None]:
    """(model sha256, groups) of a roll-up key; a key of rows before version 4 holds the sha alone."""
    if not key:
        return None, None
    sha, _, groups = key.partition("|")
    return sha, (_groups(groups) if groups else None)


def _groups(text: str) -> SatisfactionGroups:
    data = json.loads(text)
    return SatisfactionGroups(tuple(data["positive"]), tuple(data["negative"]))


class Estimator:
    """Corrected estimates for one request: the calibrations, and each device's satisfaction groups."""

    def __init__(self, calibrations: dict[str, Calibration], groups: dict[str, SatisfactionGroups],
                 floor: float) -> None:
        self.calibrations, self.groups, self.floor = calibrations, groups, floor
        self._corrections: dict[tuple, IndexCorrection | None] = {}
        self._indices: dict[tuple, Estimate] = {}  # a page asks for the same window's index more than once

    def _correction(self, sha: str, groups: SatisfactionGroups | None) -> IndexCorrection | None:
        calibration = self.calibrations.get(sha)
        if calibration is None:
            return None
        groups = groups or DEFAULT_GROUPS.for_labels(calibration.labels)
        if (sha, groups) not in self._corrections:
            self._corrections[(sha, groups)] = IndexCorrection.of(calibration, groups)
        return self._corrections[(sha, groups)]

    def index(self, parts: dict[Part, list[int]]) -> Estimate:
        """The index of these visits: parts {(device, roll-up key): [visits, positive, negative]}."""
        key = tuple((part, *sums) for part, sums in parts.items())
        if key not in self._indices:
            if len(self._indices) > 100_000:
                self._indices.clear()
            self._indices[key] = self._index(parts)
        return self._indices[key]

    def _index(self, parts: dict[Part, list[int]]) -> Estimate:
        pooled: dict[tuple, list[int]] = {}  # (sha, groups) -> sums: one calibration, one correction
        visits = positive = negative = 0
        for (device, key), (n, pos, neg) in parts.items():
            visits, positive, negative = visits + n, positive + pos, negative + neg
            sha, groups = _parse_key(key)
            sums = pooled.setdefault((sha, groups or self.groups.get(device)), [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + n, sums[1] + pos, sums[2] + neg
        estimates = []
        for (sha, groups), (n, pos, neg) in pooled.items():
            correction = self._correction(sha, groups) if sha else None
            if not n:
                continue
            if correction is None:  # one uncalibrated part: the whole figure is the raw count
                return count_index((positive / visits, negative / visits, 0.0), visits)
            estimates.append(correction.estimate((pos / n, neg / n, (n - pos - neg) / n), n))
        return combine(estimates) if estimates else count_index((0, 0, 0), 0)

    def mix(self, parts: dict[Part, Counter], labels: Iterable[str]) -> dict[str, Estimate]:
        """Each label's share: parts {(device, roll-up key): visits by label}, pooled by model."""
        labels = list(labels)
        pooled: dict[str | None, Counter] = {}
        for (_, key), counts in parts.items():
            pooled.setdefault(_parse_key(key)[0], Counter()).update(counts)
        found = []
        for sha, counts in pooled.items():
            calibration = self.calibrations.get(sha) if sha else None
            usable = calibration if calibration is not None and list(calibration.labels) == labels else None
            found.append(mix_estimate(counts, labels, usable))
        if not found or any(e.method != "corrected" for shares in found for e in shares.values() if e.visits):
            return mix_estimate(sum(parts.values(), Counter()), labels, None)
        return {label: combine([shares[label] for shares in found], (0.0, 1.0)) for label in labels}


def device_groups(rows: Iterable[tuple[str, str | None]]) -> dict[str, SatisfactionGroups]:
    """(device, groups JSON) rows -> each device's satisfaction groups."""
    return {device: _groups(text) for device, text in rows if text}

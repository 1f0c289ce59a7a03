"""The hub's estimates: each device's counts corrected with the calibration of the model that
produced them, then combined (`edgeemo.estimates`).

A roll-up row knows its model (by sha256) and the satisfaction groups its counts were made with
(`rollup_key`), and its visits by face-size band and label, each band corrected with the model's
calibration at that size (`edgeemo.calibrations`); the calibrations come from the sidecars of the models edgeemo ships and from
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
from edgeemo.bands import UNSIZED
from edgeemo.bundled import bundled_sidecars
from edgeemo.calibrations import band_calibrations
from edgeemo.estimates import (
    Calibration,
    Estimate,
    IndexCorrection,
    banded_estimates,
    combine,
    count_index,
    mix_estimate,
)

log = logging.getLogger(__name__)
Part = tuple[str, str | None]  # (device, model sha256)


Calibrations = dict[str | None, Calibration]  # face-size band (None: any size) -> the model's calibration there


def load_calibrations(folder: Path | None = None) -> dict[str, Calibrations]:
    """sha256 -> the model's calibrations by face-size band, from the shipped models' sidecars and the sidecars
    in `folder` (edgeemo.calibrations: the chain's bands where measured, else the still faces' for every size)."""
    found: dict[str, Calibrations] = {}
    shipped = bundled_sidecars()
    for path in [*shipped, *(sorted(Path(folder).glob("*.json")) if folder else [])]:
        try:
            sidecar = json.loads(path.read_text())
            if not isinstance(sidecar, dict) or not isinstance(sidecar.get("sha256"), str):
                raise TypeError("not a JSON object with a sha256")
            if sidecar.get("calibration"):
                calibrations = band_calibrations(sidecar["calibration"])
                if sidecar["sha256"] in found and path not in shipped:
                    log.warning("hub: %s: its calibration replaces the shipped one of model %s", path,
                                sidecar["sha256"][:12])
                if calibrations:
                    found[sidecar["sha256"]] = calibrations
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


Bands = dict[str, Counter]  # face-size band -> visits by label


class Estimator:
    """Corrected estimates for one request: the calibrations, and each device's satisfaction groups."""

    def __init__(self, calibrations: dict[str, Calibrations], groups: dict[str, SatisfactionGroups],
                 floor: float) -> None:
        self.calibrations, self.groups, self.floor = calibrations, groups, floor
        self._corrections: dict[tuple, IndexCorrection | None] = {}
        self._indices: dict[tuple, Estimate] = {}  # a page asks for the same window's index more than once

    def _correction(self, sha: str, groups: SatisfactionGroups | None) -> IndexCorrection | None:
        calibration = (self.calibrations.get(sha) or {}).get(None)
        if calibration is None:
            return None
        groups = groups or DEFAULT_GROUPS.for_labels(calibration.labels)
        if (sha, groups) not in self._corrections:
            self._corrections[(sha, groups)] = IndexCorrection.of(calibration, groups)
        return self._corrections[(sha, groups)]

    def index(self, parts: dict[Part, list[int]], bands: dict[Part, Bands] | None = None) -> Estimate:
        """The index of these visits: parts {(device, roll-up key): [visits, positive, negative]}, and (where the
        roll-ups have them) their visits by face-size band and label, which each band's calibration corrects."""
        key = (tuple((part, *sums) for part, sums in parts.items()),
               tuple((part, tuple((band, tuple(sorted(c.items()))) for band, c in sorted(found.items())))
                     for part, found in (bands or {}).items()))
        if key not in self._indices:
            if len(self._indices) > 100_000:
                self._indices.clear()
            self._indices[key] = self._banded(parts, bands) if bands else self._index(parts)
        return self._indices[key]

    def _pools(self, bands: dict[Part, Bands]) -> dict[tuple, Bands]:
        """The visits by band of the parts that share a model and groups (one calibration, one correction)."""
        pooled: dict[tuple, Bands] = {}
        for (device, key), found in bands.items():
            sha, groups = _parse_key(key)
            target = pooled.setdefault((sha, groups or self.groups.get(device)), {})
            for band, counts in found.items():
                target.setdefault(band, Counter()).update(counts)
        return pooled

    def _banded(self, parts: dict[Part, list[int]], bands: dict[Part, Bands]) -> Estimate:
        estimates = []
        for (sha, groups), found in self._pools(bands).items():
            calibrations = self.calibrations.get(sha) if sha else None
            labels = next(iter(calibrations.values())).labels if calibrations else ()
            seen = {label for counts in found.values() for label, n in counts.items() if n}
            if not calibrations or not seen <= set(labels):  # one uncalibrated part: the whole figure is raw
                return self._raw(parts)
            index, _ = banded_estimates(found, labels, groups or DEFAULT_GROUPS.for_labels(labels), calibrations)
            if index.visits:
                estimates.append(index)
        return combine(estimates) if estimates else count_index((0, 0, 0), 0)

    @staticmethod
    def _raw(parts: dict[Part, list[int]]) -> Estimate:
        visits = sum(n for n, _, _ in parts.values())
        positive, negative = sum(p for _, p, _ in parts.values()), sum(m for _, _, m in parts.values())
        return count_index((positive / visits, negative / visits, 0.0) if visits else (0, 0, 0), visits)

    def _index(self, parts: dict[Part, list[int]]) -> Estimate:
        """Without the visits by band: the three-group correction of each model's calibration of all sizes."""
        pooled: dict[tuple, list[int]] = {}  # (sha, groups) -> sums: one calibration, one correction
        for (device, key), (n, pos, neg) in parts.items():
            sha, groups = _parse_key(key)
            sums = pooled.setdefault((sha, groups or self.groups.get(device)), [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + n, sums[1] + pos, sums[2] + neg
        estimates = []
        for (sha, groups), (n, pos, neg) in pooled.items():
            correction = self._correction(sha, groups) if sha else None
            if not n:
                continue
            if correction is None:  # one uncalibrated part: the whole figure is the raw count
                return self._raw(parts)
            estimates.append(correction.estimate((pos / n, neg / n, (n - pos - neg) / n), n))
        return combine(estimates) if estimates else count_index((0, 0, 0), 0)

    def mix(self, parts: dict[Part, Counter], labels: Iterable[str], bands: dict[Part, Bands] | None = None
            ) -> dict[str, Estimate]:
        """Each label's share: parts {(device, roll-up key): visits by label} (and by band, where known), pooled
        by model, each band corrected with its calibration, the models combined."""
        labels = list(labels)
        if not bands:
            bands = {part: {UNSIZED: Counter(counts)} for part, counts in parts.items()}
        found = []
        for (sha, groups), by_band in self._pools(bands).items():
            calibrations = self.calibrations.get(sha) if sha else None
            if not calibrations or list(next(iter(calibrations.values())).labels) != labels:
                return mix_estimate(sum(parts.values(), Counter()), labels, None)
            _, shares = banded_estimates(by_band, labels, groups or DEFAULT_GROUPS.for_labels(labels), calibrations)
            found.append(shares)
        if not found or any(e.method != "corrected" for shares in found for e in shares.values() if e.visits):
            return mix_estimate(sum(parts.values(), Counter()), labels, None)
        return {label: combine([shares[label] for shares in found], (0.0, 1.0), as_shown=True) for label in labels}


def device_groups(rows: Iterable[tuple[str, str | None]]) -> dict[str, SatisfactionGroups]:
    """(device, groups JSON) rows -> each device's satisfaction groups."""
    return {device: _groups(text) for device, text in rows if text}

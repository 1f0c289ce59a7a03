"""What a store's counts say, with their error: the satisfaction index and the emotion mix corrected
for the classifier's own confusion, each with a 95% interval, and whether two figures differ.

A model that reads a sad face as neutral 30% of the time makes a bad day look better than it
was, however many visits there are. Each model's sidecar carries its `calibration`: its
confusion on its honest validation faces. From it the corrected (adjusted classify-and-count)
estimates follow, on three groups for the index (positive, negative, other) and on every label
for the mix. The interval adds the sampling error of the visits and the error of the
calibration itself (the delta method: both are multinomial). Without a calibration the raw
count is returned, marked as such.

Everything here is pure arithmetic on counts, so the device's `edgeemo report` and the hub
compute the same numbers. Assumption (docs/operator-guide.md, Numbers with their error): a model errs in a store as it did on its
validation faces.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgeemo.aggregates import SatisfactionGroups

Z95 = 1.959963984540054  # the two-sided 95% quantile of the normal distribution
PRECISION_FLOOR = 0.15  # an index whose interval is wider than +-this is shown as imprecise
MAX_FACES = 1e12  # a calibration of more faces is not a count of faces
MAX_CONDITION = 1e3  # a confusion this close to singular amplifies any error beyond use
COUNT, CORRECTED = "count", "corrected"
Numbers = Sequence[float] | np.ndarray  # shares or counts, as a list or an array


def _three(values: Iterable[float]) -> tuple[float, float, float]:
    """Three numbers (one per satisfaction group: positive, negative, other) as plain floats."""
    first, second, third = (float(value) for value in values)
    return first, second, third


@dataclass(frozen=True)
class Calibration:
    """A model's confusion on labelled faces it never trained on: counts[true, predicted]."""

    labels: tuple[str, ...]
    counts: np.ndarray

    @classmethod
    def from_dict(cls, data: Mapping) -> Calibration:
        labels = tuple(data["labels"])
        counts = np.asarray(data["counts"], dtype=float)
        with np.errstate(over="ignore"):  # a sum past the largest float is refused below, not warned about
            faces = counts.sum() if counts.size else 0.0
        if (counts.shape != (len(labels), len(labels)) or not np.isfinite(counts).all() or (counts < 0).any()
                or not faces <= MAX_FACES):
            raise ValueError(f"calibration: counts must be a {len(labels)}x{len(labels)} matrix of face counts "
                             f"(at most {MAX_FACES:.0e} faces)")
        return cls(labels, counts)

    def group_matrix(self, groups: SatisfactionGroups) -> tuple[np.ndarray, np.ndarray] | None:
        """M[i, j] = P(predicted group i | true group j) for (positive, negative, other), and the
        number of faces of each true group; None when a group has no faces or M is singular."""
        member = np.array([_group_of(label, groups) for label in self.labels])
        by_group = np.zeros((3, 3))
        for true in range(3):
            for predicted in range(3):
                by_group[predicted, true] = self.counts[np.ix_(member == true, member == predicted)].sum()
        faces = by_group.sum(axis=0)
        if (faces == 0).any():
            return None
        matrix = by_group / faces
        if not np.isfinite(matrix).all() or np.linalg.cond(matrix) > MAX_CONDITION:
            return None  # groups the model cannot tell apart: no correction is worth showing
        return matrix, faces

    def index_weights(self, groups: SatisfactionGroups) -> np.ndarray | None:
        """w with corrected index = w . (predicted group shares): (1, -1, 0) M^-1."""
        found = self.group_matrix(groups)
        return None if found is None else np.array([1.0, -1.0, 0.0]) @ np.linalg.inv(found[0])


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval: `value` is None for no visits; `method` says how it was made."""

    value: float | None  # shown: within the range a figure can take
    low: float | None
    high: float | None
    visits: int
    method: str  # "corrected" | "count"
    standard_error: float | None = None
    unclipped: float | None = None  # the estimate before clipping to the range (what combining needs)

    @property
    def half_width(self) -> float | None:
        """The interval's half-width before clipping: clipping at +-1 must not make a figure look precise."""
        return None if self.standard_error is None else Z95 * self.standard_error

    def imprecise(self, floor: float = PRECISION_FLOOR) -> bool:
        """Too wide to be read as a number (the interval is more than +-floor)."""
        return bool(self.half_width is None or self.half_width > floor)

    def as_dict(self, digits: int = 4, floor: float = PRECISION_FLOOR) -> dict:
        rounded = (lambda x: None if x is None else round(x, digits))
        return {"value": rounded(self.value), "low": rounded(self.low), "high": rounded(self.high),
                "method": self.method, "imprecise": self.imprecise(floor)}


def _group_of(label: str, groups: SatisfactionGroups) -> int:
    return 0 if label in groups.positive else 1 if label in groups.negative else 2


def _interval(value: float, variance: float, visits: int, method: str, bounds: tuple[float, float]) -> Estimate:
    """`value` clipped to `bounds` (what a figure can be), with its 95% interval around it, clipped
    too; a figure that is not finite has no interval (None), never a made-up bound."""
    value, variance = float(value), float(variance)  # plain floats: they go to JSON
    if not (math.isfinite(value) and math.isfinite(variance)):
        return Estimate(None, None, None, visits, method)
    error = math.sqrt(max(variance, 0.0))

    def clip(x: float) -> float:
        return min(bounds[1], max(bounds[0], x))

    shown = clip(value)  # the interval is drawn around the figure shown, so it always holds it
    return Estimate(shown, clip(shown - Z95 * error), clip(shown + Z95 * error), visits, method, error, value)


def smoothed(q: Numbers, visits: int) -> list[float]:
    """Shares with z^2 pseudo-visits spread evenly (Agresti and Coull's idea): what a variance is
    computed from, so that 5 happy visits of 5 do not read as certain (their plug-in variance is 0)."""
    extra = Z95**2
    return [(visits * share + extra / len(q)) / (visits + extra) for share in q]


def group_shares(counts: Mapping[str, int], groups: SatisfactionGroups) -> tuple[np.ndarray, int]:
    """Shares of visits whose dominant label is positive, negative, other; and the number of visits."""
    totals = np.zeros(3)
    for label, n in counts.items():
        totals[_group_of(label, groups)] += n
    visits = int(totals.sum())
    return (totals / visits if visits else totals), visits


def index_estimate(counts: Mapping[str, int], groups: SatisfactionGroups,
                   calibration: Calibration | None = None) -> Estimate:
    """The satisfaction index of these visits (by dominant label), corrected when a calibration is
    given, with its 95% interval."""
    q, visits = group_shares(counts, groups)
    return index_from_shares(q, visits, groups, calibration)


def index_from_shares(q: np.ndarray, visits: int, groups: SatisfactionGroups,
                      calibration: Calibration | None) -> Estimate:
    """The same from (positive, negative, other) shares of `visits` (what the hub's roll-ups keep)."""
    correction = IndexCorrection.of(calibration, groups) if calibration is not None else None
    return correction.estimate(q, visits) if correction is not None else count_index(q, visits)


def count_index(q: Numbers, visits: int) -> Estimate:
    """Raw classify-and-count: the difference of the positive and negative shares (a multinomial)."""
    if visits == 0:
        return Estimate(None, None, None, 0, COUNT)
    value = q[0] - q[1]
    p = smoothed(q, visits)
    return _interval(value, (p[0] + p[1] - (p[0] - p[1]) ** 2) / visits, visits, COUNT, (-1.0, 1.0))


@dataclass(frozen=True)
class IndexCorrection:
    """The corrected index of one calibration and one set of groups, worked out once (the hub applies
    it to thousands of buckets a page): index = weights . q, and what its variance needs."""

    weights: tuple[float, float, float]
    inverse: tuple[tuple[float, ...], ...]  # M^-1
    per_group: tuple[float, float, float]  # Var(w . one face's predicted group), by true group
    faces: tuple[float, float, float]  # validation faces of each true group

    @classmethod
    def of(cls, calibration: Calibration, groups: SatisfactionGroups) -> IndexCorrection | None:
        found = calibration.group_matrix(groups)
        if found is None:
            return None
        matrix, faces = found
        inverse = np.linalg.inv(matrix)
        w = np.array([1.0, -1.0, 0.0]) @ inverse
        per_group = (w**2 @ matrix) - (w @ matrix) ** 2
        return cls(_three(w), tuple(tuple(map(float, row)) for row in inverse), _three(per_group), _three(faces))

    def estimate(self, q: Numbers, visits: int) -> Estimate:
        if visits == 0:
            return Estimate(None, None, None, 0, CORRECTED)
        w = self.weights
        value = w[0] * q[0] + w[1] * q[1] + w[2] * q[2]
        p = smoothed(q, visits)
        sampling = (sum(wi**2 * pi for wi, pi in zip(w, p)) - sum(wi * pi for wi, pi in zip(w, p)) ** 2) / visits
        true = [min(1.0, max(0.0, sum(row[i] * q[i] for i in range(3)))) for row in self.inverse]
        total = sum(true) or 1.0
        calibration = sum((t / total) ** 2 * v / n for t, v, n in zip(true, self.per_group, self.faces))
        return _interval(value, sampling + calibration, visits, CORRECTED, (-1.0, 1.0))


def combine(parts: Sequence[Estimate], bounds: tuple[float, float] = (-1.0, 1.0)) -> Estimate:
    """One estimate from independent ones of disjoint sets of visits (devices, models), weighted by visits:
    a figure is corrected only when every part is."""
    shown = [part for part in parts if part.visits]
    visits = sum(part.visits for part in shown)
    method = CORRECTED if shown and all(part.method == CORRECTED for part in shown) else COUNT
    known = [(part.visits, part.unclipped, part.standard_error) for part in shown
             if part.unclipped is not None and part.standard_error is not None]
    if not visits or len(known) < len(shown):
        return Estimate(None, None, None, visits, method)
    value = sum(n * unclipped for n, unclipped, _ in known) / visits
    variance = sum((n / visits * error) ** 2 for n, _, error in known)
    return _interval(value, variance, visits, method, bounds)


def mix_estimate(counts: Mapping[str, int], labels: Sequence[str],
                 calibration: Calibration | None = None) -> dict[str, Estimate]:
    """Each label's share of the visits, corrected when a calibration of these labels is given."""
    observed = np.array([counts.get(label, 0) for label in labels], dtype=float)
    visits = int(observed.sum())
    method = CORRECTED if calibration is not None and tuple(labels) == calibration.labels else COUNT
    if visits == 0:
        return {label: Estimate(None, None, None, 0, method) for label in labels}
    q = observed / visits
    p = np.array(smoothed(q, visits), dtype=float)
    if method == COUNT or calibration is None:
        return {label: _interval(q[k], p[k] * (1 - p[k]) / visits, visits, COUNT, (0.0, 1.0))
                for k, label in enumerate(labels)}
    faces = calibration.counts.sum(axis=1)
    seen = faces > 0
    matrix = np.divide(calibration.counts.T, faces, out=np.eye(len(labels)), where=seen)  # [pred, true]
    condition = np.linalg.cond(matrix)
    if not np.isfinite(condition) or condition > MAX_CONDITION:  # nothing to invert reliably
        return mix_estimate(counts, labels, None)
    inverse = np.linalg.inv(matrix)
    shares = inverse @ q
    true_shares = np.clip(shares, 0.0, 1.0)
    true_shares = true_shares / true_shares.sum() if true_shares.sum() > 0 else q
    result = {}
    for k, label in enumerate(labels):
        w = inverse[k]
        sampling = (float(w**2 @ p) - float(w @ p) ** 2) / visits
        per_class = (w**2 @ matrix) - (w @ matrix) ** 2
        calibration_part = float(np.sum(np.where(seen, true_shares**2 * per_class / np.maximum(faces, 1), 0.0)))
        result[label] = _interval(float(true_shares[k]), sampling + calibration_part, visits, CORRECTED, (0.0, 1.0))
    return result


@dataclass(frozen=True)
class Difference:
    """b - a, with its 95% interval and whether it is significant (two-sided, before any correction)."""

    value: float | None
    low: float | None
    high: float | None
    p_value: float | None

    def as_dict(self, significant: bool, digits: int = 4) -> dict:
        rounded = (lambda x: None if x is None else round(x, digits))
        return {"value": rounded(self.value), "low": rounded(self.low), "high": rounded(self.high),
                "p_value": rounded(self.p_value), "significant": significant}


def difference(a: Estimate, b: Estimate) -> Difference:
    """The change from a to b, for independent estimates (two stores, or two periods of one)."""
    if a.value is None or b.value is None or a.standard_error is None or b.standard_error is None:
        return Difference(None, None, None, None)
    value = b.value - a.value  # of the figures shown
    error = math.hypot(a.standard_error, b.standard_error)
    if error == 0:
        return Difference(value, value, value, 0.0 if value else 1.0)
    p_value = math.erfc(abs(value) / error / math.sqrt(2))
    return Difference(value, value - Z95 * error, value + Z95 * error, p_value)


def holm(p_values: Iterable[float | None], alpha: float = 0.05) -> list[bool]:
    """Which of several tests are significant at `alpha` together (Holm's step-down: the family-wise
    error stays under alpha however many differences a page shows). None never is."""
    values = list(p_values)
    order = sorted((p, i) for i, p in enumerate(values) if p is not None and math.isfinite(p))
    significant = [False] * len(values)
    for rank, (p, index) in enumerate(order):
        if p > alpha / (len(order) - rank):
            break
        significant[index] = True
    return significant

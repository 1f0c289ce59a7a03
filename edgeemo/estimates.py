"""What a store's counts say, with their error: the satisfaction index and the emotion mix corrected
for the classifier's own confusion, each with a 95% interval, and whether two figures differ.

A model that reads a sad face as neutral 30% of the time makes a bad day look better than it
was, however many visits there are. Each model's sidecar carries its `calibration`: its
confusion on labelled faces it never trained on (its validation split pooled with its test
split, each kept apart as a `source`). From it the corrected (adjusted classify-and-count)
mix follows on every label, and the satisfaction index is read off that mix: it needs no
assumption about which negatives a store's negatives are. Each figure's 95% interval adds three
errors (the delta method): the sampling of the visits, the sampling of the calibration faces,
and the transfer error, how far the calibration's sources disagree beyond their own sampling
(a method-of-moments estimate of the between-source variance, as in a random-effects
meta-analysis): one calibration draw's error is the same for every store, so no number of
visits averages it away. A label with fewer than MIN_LABEL_FACES calibration faces gets its
corrected share but no interval (the benchmark cannot back one). Without a calibration the raw
count is returned, marked as such.

Everything here is pure arithmetic on counts, so the device's `edgeemo report` and the hub
compute the same numbers. Assumption (docs/operator-guide.md, Numbers with their error): a model errs in a store as it did on its
calibration faces, within the transfer error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeemo.aggregates import SatisfactionGroups
from edgeemo.intervals import (  # noqa: F401 - what readers of the estimates import from here
    CORRECTED,
    COUNT,
    PRECISION_FLOOR,
    Z95,
    Difference,
    Estimate,
    Numbers,
    combine,
    combine_bands,
    difference,
    holm,
    interval,
    smoothed,
)

MAX_FACES = 1e12  # a calibration of more faces is not a count of faces
MAX_CONDITION = 1e3  # a confusion this close to singular amplifies any error beyond use
MIN_LABEL_FACES = 30  # fewer calibration faces of a label: its corrected share is shown without an interval
MIN_GROUP_FACES = 50  # fewer in a satisfaction group (positive, negative, other): not a calibration to ship


@dataclass(frozen=True)
class Calibration:
    """A model's confusion on labelled faces it never trained on: counts[true, predicted]."""

    labels: tuple[str, ...]
    counts: np.ndarray
    # the same faces by where they came from (validation, test, a store's own...): each a counts matrix.
    # Their disagreement beyond sampling is the transfer error every interval carries.
    sources: tuple[np.ndarray, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping) -> Calibration:
        labels = tuple(data["labels"])
        counts = _face_counts(data["counts"], len(labels))
        sources = data.get("sources") or {}
        if not isinstance(sources, Mapping):
            raise ValueError("calibration: sources must map a source's name to its counts")  # noqa: TRY004 - one error type for a bad sidecar
        return cls(labels, counts, tuple(_face_counts(found["counts"] if isinstance(found, Mapping) else found,
                                                      len(labels)) for found in sources.values()))

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


def add_up(matrices: Iterable[object]) -> np.ndarray:
    """The element-wise sum of count matrices (of one shape) as a float array."""
    found = [np.asarray(matrix, dtype=float) for matrix in matrices]
    if not found:
        raise ValueError("no counts to add up")
    return np.sum(found, axis=0)


def _three(values: Iterable[float]) -> tuple[float, float, float]:
    """Three numbers (one per satisfaction group: positive, negative, other) as plain floats."""
    first, second, third = (float(value) for value in values)
    return first, second, third


def _face_counts(data: object, size: int) -> np.ndarray:
    """A size x size matrix of face counts, or ValueError."""
    counts = np.asarray(data, dtype=float)
    with np.errstate(over="ignore"):  # a sum past the largest float is refused below, not warned about
        faces = counts.sum() if counts.size else 0.0
    if counts.shape != (size, size) or not np.isfinite(counts).all() or (counts < 0).any() or not faces <= MAX_FACES:
        raise ValueError(f"calibration: counts must be a {size}x{size} matrix of face counts "
                         f"(at most {MAX_FACES:.0e} faces)")
    return counts


def _group_of(label: str, groups: SatisfactionGroups) -> int:
    return 0 if label in groups.positive else 1 if label in groups.negative else 2


def group_shares(counts: Mapping[str, int], groups: SatisfactionGroups) -> tuple[np.ndarray, int]:
    """Shares of visits whose dominant label is positive, negative, other; and the number of visits."""
    totals = np.zeros(3)
    for label, n in counts.items():
        totals[_group_of(label, groups)] += n
    visits = int(totals.sum())
    return (totals / visits if visits else totals), visits


def index_estimate(counts: Mapping[str, int], groups: SatisfactionGroups,
                   calibration: Calibration | None = None) -> Estimate:
    """The satisfaction index of these visits (by dominant label), with its 95% interval: read off the
    corrected mix when a calibration of these labels is given (no assumption about which negatives a
    store's are); where a label has no calibration faces, the three-group correction (which assumes a
    store's negatives are FER's); else the raw count."""
    correction = MixCorrection.of(calibration) if calibration is not None else None
    if correction is not None and set(counts) <= set(correction.labels):
        return correction.index(_vector(counts, correction.labels), groups)
    q, visits = group_shares(counts, groups)
    return index_from_shares(q, visits, groups, calibration)


def _vector(counts: Mapping[str, float], labels: Sequence[str]) -> np.ndarray:
    return np.array([counts.get(label, 0) for label in labels], dtype=float)


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
    return interval(value, (p[0] + p[1] - (p[0] - p[1]) ** 2) / visits, visits, COUNT, (-1.0, 1.0))


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
        return interval(value, sampling + calibration, visits, CORRECTED, (-1.0, 1.0))


def mix_estimate(counts: Mapping[str, int], labels: Sequence[str],
                 calibration: Calibration | None = None) -> dict[str, Estimate]:
    """Each label's share of the visits, corrected when a calibration of these labels is given."""
    correction = MixCorrection.of(calibration) if calibration is not None else None
    if correction is not None and tuple(labels) == correction.labels:
        return correction.mix(_vector(counts, labels))
    observed = _vector(counts, labels)
    visits = int(observed.sum())
    if visits == 0:
        return {label: Estimate(None, None, None, 0, COUNT) for label in labels}
    q = observed / visits
    p = np.array(smoothed(q, visits), dtype=float)
    return {label: interval(q[k], p[k] * (1 - p[k]) / visits, visits, COUNT, (0.0, 1.0))
            for k, label in enumerate(labels)}


class MixCorrection:
    """The label-level correction of one calibration, worked out once (a page applies it to many
    buckets): true shares = W q with W the inverse of P(predicted | true), and each linear figure
    v . q (a share: a row of W; the index: sign . W) with its three variances."""

    _cache: ClassVar[dict[int, tuple[Calibration, MixCorrection | None]]] = {}

    def __init__(self, calibration: Calibration) -> None:
        self.labels = calibration.labels
        self.faces = calibration.counts.sum(axis=1)
        self.matrix = _conditional(calibration.counts)  # [predicted, true]
        self.inverse = np.linalg.inv(self.matrix)
        self.sources = [(_conditional(c), c.sum(axis=1)) for c in calibration.sources if c.sum() > 0]
        # per figure (a row of W: a share), per true class j: what multiplies true_j^2 in its shared variance
        self.shared_by_class = np.array([self._shared(v) for v in self.inverse])
        self._index: dict[SatisfactionGroups, tuple[np.ndarray, np.ndarray]] = {}

    def _shared(self, v: np.ndarray) -> np.ndarray:
        """Per true class j, the variance of v . (answer | j) over the calibration faces, per face, plus the
        transfer error: the between-source variance of v . M_j (method of moments), times (1 + 1/S) (the store
        is one more draw, the calibration the mean of S sources)."""
        own = _spread(v, self.matrix) / self.faces
        transfer = np.zeros(len(self.labels))
        for j in range(len(self.labels)):
            found = [(float(v @ m[:, j]), float(_spread(v, m)[j] / f[j])) for m, f in self.sources if f[j] > 0]
            if len(found) >= 2:
                values, variances = np.array(found).T
                between = max(0.0, float(np.var(values, ddof=1)) - float(np.mean(variances)))
                transfer[j] = between * (1 + 1 / len(found))
        return own + transfer

    @classmethod
    def of(cls, calibration: Calibration | None) -> MixCorrection | None:
        """The correction of a calibration (cached by identity), or None where it cannot correct: a label
        without calibration faces, or a confusion too close to singular."""
        if calibration is None:
            return None
        cached = cls._cache.get(id(calibration))
        if cached is not None and cached[0] is calibration:
            return cached[1]
        faces = calibration.counts.sum(axis=1)
        correction = None
        if (faces > 0).all():
            condition = np.linalg.cond(_conditional(calibration.counts))
            if np.isfinite(condition) and condition <= MAX_CONDITION:
                correction = cls(calibration)
        if len(cls._cache) > 256:
            cls._cache.clear()
        cls._cache[id(calibration)] = (calibration, correction)
        return correction

    def _figure(self, v: np.ndarray, shared_by_class: np.ndarray, q: np.ndarray, p: np.ndarray, true: np.ndarray,
                visits: int, bounds: tuple[float, float], backed: bool = True, shown: float | None = None) -> Estimate:
        """v . q with its variance: the visits' sampling, the calibration faces' and the transfer error."""
        value = float(v @ q)
        sampling = (float(v**2 @ p) - float(v @ p) ** 2) / visits
        shared = float(true**2 @ shared_by_class)
        return interval(value, sampling + shared, visits, CORRECTED, bounds, shared, backed, shown)

    def _inputs(self, observed: np.ndarray, as_answered: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The observed shares q, the smoothed shares p a variance is computed from, the corrected mix and the
        visits. `as_answered` (the index): p's pseudo-visits go where this store's corrected mix would send its
        answers, not evenly: an even spread credits a label the model almost never answers (contempt at 24 px,
        whose weight in the index is -35 to -61) with half a visit, and the far bands' intervals came out twice
        the spread of the figure (docs/known-truth.md, "Intervals that fit"). A share keeps the even spread: a
        rare label's share needs it to cover."""
        visits = int(observed.sum())
        q = observed / visits
        true = np.clip(self.inverse @ q, 0.0, 1.0)
        true = true / true.sum() if true.sum() > 0 else q
        answers = self.matrix @ true if as_answered else None
        p = smoothed(q, visits, None if answers is None else answers / answers.sum())
        return q, np.array(p, dtype=float), true, visits

    def mix(self, observed: np.ndarray) -> dict[str, Estimate]:
        if observed.sum() <= 0:
            return {label: Estimate(None, None, None, 0, CORRECTED) for label in self.labels}
        q, p, true, visits = self._inputs(observed)
        return {label: self._figure(self.inverse[k], self.shared_by_class[k], q, p, true, visits, (0.0, 1.0),
                                    bool(self.faces[k] >= MIN_LABEL_FACES), float(true[k]))  # shown: the shares
                for k, label in enumerate(self.labels)}                                   # clipped, adding to 1

    def index(self, observed: np.ndarray, groups: SatisfactionGroups) -> Estimate:
        if observed.sum() <= 0:
            return Estimate(None, None, None, 0, CORRECTED)
        if groups not in self._index:
            sign = np.array(groups.signs(self.labels))
            v = sign @ self.inverse
            self._index[groups] = (v, self._shared(v))
        v, shared_by_class = self._index[groups]
        q, p, true, visits = self._inputs(observed, as_answered=True)
        return self._figure(v, shared_by_class, q, p, true, visits, (-1.0, 1.0))


def _conditional(counts: np.ndarray) -> np.ndarray:
    """P(predicted | true) as [predicted, true] from counts[true, predicted] (identity for a label without faces)."""
    faces = counts.sum(axis=1)
    return np.divide(counts.T, faces, out=np.eye(len(counts)), where=faces > 0)


def _spread(v: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Var(v . one face's answer) for a face of each true class: (v^2 . M_j) - (v . M_j)^2."""
    return (v**2 @ matrix) - (v @ matrix) ** 2


def banded_estimates(counts_by_band: Mapping[Any, Mapping[str, int]], labels: Sequence[str],
                     groups: SatisfactionGroups, calibrations: Mapping[str | None, Calibration]
                     ) -> tuple[Estimate, dict[str, Estimate]]:
    """The index and the mix of visits counted by face-size band (`edgeemo.bands`; None: not measured),
    each band corrected with its own calibration (or the one under None), then the bands added up
    (`combine_bands`). With no calibration for a band, its visits are counted raw."""
    index_parts, mix_parts = [], []
    for band, counts in counts_by_band.items():
        if not sum(counts.values()):
            continue
        calibration = calibrations.get(band, calibrations.get(None))
        index_parts.append(index_estimate(counts, groups, calibration))
        mix_parts.append(mix_estimate(counts, labels, calibration))
    if not index_parts:
        return Estimate(None, None, None, 0, CORRECTED if calibrations else COUNT), mix_estimate({}, labels)
    mix = {label: combine_bands([part[label] for part in mix_parts], (0.0, 1.0)) for label in labels}
    return combine_bands(index_parts), mix

"""`edgeemo evaluate --quantify`: how well store-level figures come out of a model's per-face
answers, by simulating store-days from a labelled folder.

A store-day of n visits with a true mix pi: each visit is one face of its true class, drawn from
the folder with replacement, and the model's answer for it is the one it gave that face. This
simulates still faces, not a store (no tracking, smoothing or in-store crops: `--chain` does
that), so it measures the estimators, not the runtime.

The correction uses a calibration never measured on the faces being scored: the model's sidecar,
or (`--cross-fit K`) the faces the shipped calibration is made of, with the scored folder's own
faces split into K folds: each fold is scored with a calibration of the model's validation faces
and the other folds, repeated over several seeded splits (a held-out judgement of a calibration
pooled from validation and test). The scored pool is finite (a few thousand faces), so its own
confusion differs from the population's by its sampling error, which a store of fresh faces does
not share: at n = 1000 that is a visible part of the error measured here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups
from edgeemo.estimates import Calibration, Estimate, add_up, index_estimate, mix_estimate

SCENARIOS = ("natural", "happy50", "bad30", "dirichlet", "mixshift")
SIZES = (50, 200, 1000)
MIX_FLOOR = 0.02  # coverage_mix_min looks at the labels with at least this true share
NOTE = ("simulated store-days of still faces drawn from the folder (one face a visit, the model's answer for it): "
        "the estimators' error, not the runtime's (no tracking, smoothing or in-store crops)")


@dataclass(frozen=True)
class CrossFit:
    """Calibrate each of `folds` folds of the scored faces on `base` (e.g. the validation faces' counts,
    one matrix per source) plus the other folds; `repeats` seeded splits."""

    base: tuple[np.ndarray, ...]
    folds: int = 2
    repeats: int = 5


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    counts = np.zeros((k, k))
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def group_members(labels: Sequence[str], groups: SatisfactionGroups) -> np.ndarray:
    return np.array([0 if x in groups.positive else 1 if x in groups.negative else 2 for x in labels])


def scenario_mix(name: str, natural: np.ndarray, labels: Sequence[str], groups: SatisfactionGroups,
                 rng: np.random.Generator) -> np.ndarray:
    """The true mix of a store-day: the folder's own, half happy, a bad day, one drawn around the natural,
    or `mixshift` (the natural group shares, but every negative visit one negative emotion, drawn at random
    among those the folder holds: a group's inside far from FER's)."""
    if name == "natural":
        return natural
    if name == "dirichlet":
        return rng.dirichlet(natural * 20 + 1e-3)
    member = group_members(labels, groups)
    if name == "mixshift":
        mix = natural.copy()
        negatives = np.flatnonzero((member == 1) & (natural > 0))
        if len(negatives):
            total = mix[negatives].sum()
            mix[negatives] = 0.0
            mix[rng.choice(negatives)] = total
        return mix
    targets = {"happy50": (0.5, None), "bad30": (0.1, 0.3)}[name]
    mix = np.zeros(len(labels))
    shares = {0: targets[0], 1: targets[1] if targets[1] is not None else None}
    fixed = sum(v for v in shares.values() if v is not None)
    for group in range(3):
        inside = member == group
        share = shares.get(group)
        if share is None:  # the rest, in the natural proportions of the groups left
            rest = [g for g in range(3) if shares.get(g) is None]
            share = (1 - fixed) * natural[inside].sum() / natural[np.isin(member, rest)].sum()
        mix[inside] = share * natural[inside] / natural[inside].sum()
    return mix


def stratified_folds(y_true: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Each face's fold, 0..folds-1, every label spread evenly over the folds."""
    fold = np.zeros(len(y_true), dtype=np.int64)
    for label in np.unique(y_true):
        members = rng.permutation(np.flatnonzero(y_true == label))
        fold[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    return fold


def _plans(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], calibration: Calibration | None,
           cross_fit: CrossFit | None, scored: np.ndarray, seed: int
           ) -> Sequence[tuple[np.ndarray, Calibration | None]]:
    """(the scored faces' P(answer | true class), the calibration they are corrected with) per fold."""
    k = len(labels)

    def answers(mask: np.ndarray) -> np.ndarray:
        table = confusion(y_true[mask], y_pred[mask], k)
        present = table.sum(axis=1) > 0
        table[present] /= table[present].sum(axis=1, keepdims=True)
        return table

    if cross_fit is None:
        return [(answers(scored), calibration)]
    plans = []
    rng = np.random.default_rng((seed, 1))
    for _ in range(cross_fit.repeats):
        fold = stratified_folds(y_true, cross_fit.folds, rng)
        for f in range(cross_fit.folds):
            rest = confusion(y_true[fold != f], y_pred[fold != f], k)
            sources = (*cross_fit.base, rest)
            plans.append((answers((fold == f) & scored), Calibration(tuple(labels), add_up(sources), sources)))
    return plans


def quantify(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], calibration: Calibration | None,
             groups: SatisfactionGroups | None = None, draws: int = 1000, seed: int = 0,
             cross_fit: CrossFit | None = None, scored: np.ndarray | None = None) -> list[dict]:
    """For each scenario, store-day size and estimator: the index's mean absolute error, bias and 95%
    interval coverage against the true mix's index, the mix's mean absolute error and its lowest
    per-label interval coverage (`coverage_mix_min`, over labels with a true share >= 2% that show an
    interval). `scored` (a mask) limits the faces store-days are drawn from (e.g. those with no copy in
    the training data), not the calibration's."""
    groups = (groups or DEFAULT_GROUPS).for_labels(labels)
    k = len(labels)
    scored = np.ones(len(y_true), dtype=bool) if scored is None else scored
    natural = np.bincount(y_true[scored], minlength=k) / scored.sum()
    sign = np.array(groups.signs(labels))
    plans = _plans(y_true, y_pred, labels, calibration, cross_fit, scored, seed)
    rng = np.random.default_rng(seed)
    rows = []
    for scenario in SCENARIOS:
        for n in SIZES:
            found: dict[str, list] = {"count": [], "corrected": []}
            for draw in range(draws):
                answers, used = plans[draw % len(plans)]
                present = answers.sum(axis=1) > 0
                mix = scenario_mix(scenario, natural, labels, groups, rng)
                mix = np.where(present, mix, 0.0)
                mix /= mix.sum()
                per_class = rng.multinomial(n, mix)
                counts = np.zeros(k, dtype=np.int64)
                for c, m in enumerate(per_class):
                    if m:
                        counts += rng.multinomial(m, answers[c])
                observed = dict(zip(labels, counts.tolist()))
                truth = float(sign @ mix)
                for name, correction in (("count", None), ("corrected", used)):
                    index = index_estimate(observed, groups, correction)
                    shares = mix_estimate(observed, labels, correction)
                    found[name].append(_scored(index, shares, labels, mix, truth))
            for name, results in found.items():
                error = np.array([e for e, _, _, _ in results])
                rows.append({"scenario": scenario, "n": n, "estimator": name,
                             "mae_index": round(float(np.abs(error).mean()), 4),
                             "bias_index": round(float(error.mean()), 4),
                             "coverage_index": round(float(np.mean([c for _, c, _, _ in results])), 4),
                             "mae_mix": round(float(np.mean([m for _, _, m, _ in results])), 4),
                             **_mix_coverage(np.array([c for _, _, _, c in results]), labels)})
    return rows


def _scored(index: Estimate, shares: Mapping[str, Estimate], labels: Sequence[str], mix: np.ndarray,
            truth: float) -> tuple[float, bool, float, list[float]]:
    """One store-day's result: the index's error and whether its interval holds the truth, the mix's mean
    absolute error, and each label's coverage (NaN where its share is under 2% or it shows no interval)."""
    value, low, high = index.value, index.low, index.high
    if value is None or low is None or high is None:  # store-days have visits: never, but said for the types
        raise ValueError("a store-day without an estimate")
    values = np.array([shares[x].value or 0.0 for x in labels])
    covered = [np.nan if mix[i] < MIX_FLOOR or not shares[x].backed or shares[x].low is None
               or shares[x].high is None else float(shares[x].low <= mix[i] <= shares[x].high)
               for i, x in enumerate(labels)]
    return value - truth, low <= truth <= high, float(np.mean(np.abs(values - mix))), covered


def _mix_coverage(covered: np.ndarray, labels: Sequence[str]) -> dict:
    """The lowest per-label coverage among labels with an interval and a share >= 2% in at least a tenth
    of the store-days, and which label it is."""
    seen = np.sum(~np.isnan(covered), axis=0)
    usable = seen >= max(1, len(covered) // 10)
    if not usable.any():
        return {"coverage_mix_min": None, "coverage_mix_min_label": None}
    rates = np.where(usable, np.nansum(covered, axis=0) / np.maximum(seen, 1), np.inf)
    lowest = int(np.argmin(rates))
    return {"coverage_mix_min": round(float(rates[lowest]), 4), "coverage_mix_min_label": labels[lowest]}

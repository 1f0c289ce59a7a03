"""`edgeemo evaluate --quantify`: how well store-level figures come out of a model's per-face
answers, by simulating store-days from a labelled folder.

A store-day of n visits with a true mix pi: each visit is one face of its true class, drawn from
the folder with replacement, and the model's answer for it is the one it gave that face. This
simulates still faces, not a store (no tracking, smoothing or in-store crops), so it measures the
estimators, not the runtime. The correction uses the calibration in the model's sidecar (measured
on its validation split), never the folder being scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups
from edgeemo.estimates import Calibration, index_estimate, mix_estimate

SCENARIOS = ("natural", "happy50", "bad30", "dirichlet")
SIZES = (50, 200, 1000)
NOTE = ("simulated store-days of still faces drawn from the folder (one face a visit, the model's answer for it): "
        "the estimators' error, not the runtime's (no tracking, smoothing or in-store crops)")


def scenario_mix(name: str, natural: np.ndarray, labels: Sequence[str], groups: SatisfactionGroups,
                 rng: np.random.Generator) -> np.ndarray:
    """The true mix of a store-day: the folder's own, half happy, a bad day, or one drawn around the natural."""
    if name == "natural":
        return natural
    if name == "dirichlet":
        return rng.dirichlet(natural * 20 + 1e-3)
    member = np.array([0 if x in groups.positive else 1 if x in groups.negative else 2 for x in labels])
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


def quantify(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], calibration: Calibration | None,
             groups: SatisfactionGroups | None = None, draws: int = 1000, seed: int = 0) -> list[dict]:
    """For each scenario, store-day size and estimator: the index's mean absolute error, bias and 95%
    interval coverage against the true mix's index, and the mix's mean absolute error."""
    groups = (groups or DEFAULT_GROUPS).for_labels(labels)
    k = len(labels)
    natural = np.bincount(y_true, minlength=k) / len(y_true)
    answers = np.zeros((k, k))  # the folder's P(answer | true class)
    np.add.at(answers, (y_true, y_pred), 1)
    present = answers.sum(axis=1) > 0
    answers[present] /= answers[present].sum(axis=1, keepdims=True)
    sign = np.array([1.0 if x in groups.positive else -1.0 if x in groups.negative else 0.0 for x in labels])
    rng = np.random.default_rng(seed)
    rows = []
    for scenario in SCENARIOS:
        for n in SIZES:
            errors: dict[str, list[tuple[float, bool, float]]] = {"count": [], "corrected": []}
            for _ in range(draws):
                mix = scenario_mix(scenario, natural, labels, groups, rng)
                mix = np.where(present, mix, 0.0)
                mix /= mix.sum()
                per_class = rng.multinomial(n, mix)
                counts = np.sum([rng.multinomial(m, answers[c]) for c, m in enumerate(per_class) if m], axis=0)
                observed = dict(zip(labels, (int(count) for count in counts)))
                truth = float(sign @ mix)
                for name, used in (("count", None), ("corrected", calibration)):
                    index = index_estimate(observed, groups, used)
                    shares = mix_estimate(observed, labels, used)
                    assert index.value is not None and index.low is not None and index.high is not None  # n > 0
                    mix_error = float(np.mean([abs((shares[x].value or 0.0) - mix[i]) for i, x in enumerate(labels)]))
                    errors[name].append((index.value - truth, index.low <= truth <= index.high, mix_error))
            for name, found in errors.items():
                error = np.array([e for e, _, _ in found])
                rows.append({"scenario": scenario, "n": n, "estimator": name,
                             "mae_index": round(float(np.abs(error).mean()), 4),
                             "bias_index": round(float(error.mean()), 4),
                             "coverage_index": round(float(np.mean([c for _, c, _ in found])), 4),
                             "mae_mix": round(float(np.mean([m for _, _, m in found])), 4)})
    return rows

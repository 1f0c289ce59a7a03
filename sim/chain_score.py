"""Scoring the chain's visits against the truth: what each shopper left in the counts (`Outcomes`), store-days
composed from them by resampling shoppers (as `--quantify` resamples faces), and the estimators judged on
those store-days (`score_chain`). Split from edgeemo.sim.chain, which runs the device on the footage."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups
from edgeemo.calibrations import with_prior
from edgeemo.estimates import Calibration, add_up, banded_estimates, index_estimate, mix_estimate
from edgeemo.sim.chain import ChainRun


@dataclass
class Outcomes:
    """Per true label, what each in-view shopper left in the counts ((band, label) per visit), and the
    false visits (no shopper) per shopper simulated."""

    labels: tuple[str, ...]
    by_label: list[list[list[tuple[str | None, int]]]]
    false_visits: list[tuple[str | None, int]] = field(default_factory=list)
    shoppers: int = 0

    @classmethod
    def of(cls, runs: Sequence[ChainRun], keep: set[tuple[int, int]] | None = None) -> Outcomes:
        """`keep`: the shoppers (run index, shopper id) to draw from: a fold of them."""
        labels = runs[0].labels
        by_label: list[list[list[tuple[str | None, int]]]] = [[] for _ in labels]
        false: list[tuple[str | None, int]] = []
        shoppers = 0
        for r, run in enumerate(runs):
            found = run.by_shopper()
            label_of = {s.id: labels.index(s.label) for s in run.truth.shoppers}
            for sid in run.in_view():
                if keep is not None and (r, sid) not in keep:
                    continue
                shoppers += 1
                by_label[label_of[sid]].append([(v.band, labels.index(v.label)) for v in found.get(sid, [])])
            false += [(v.band, labels.index(v.label)) for v in run.visits if not v.shoppers]
        return cls(labels, by_label, false, shoppers)

    def calibration_counts(self) -> dict[str | None, np.ndarray]:
        """counts[true, recorded] of the recorded visits, per band: what the chain's calibration is made of."""
        k = len(self.labels)
        counts: dict[str | None, np.ndarray] = defaultdict(lambda: np.zeros((k, k)))
        for true, shoppers in enumerate(self.by_label):
            for visits in shoppers:
                for band, label in visits:
                    counts[band][true, label] += 1
        return dict(counts)


CHAIN_SIZES = (200, 1000)


def fold_calibrations(base: Mapping[str | None, np.ndarray], own: Mapping[str | None, np.ndarray],
                      labels: Sequence[str]) -> dict[str | None, Calibration]:
    """Per band, a calibration of the base counts (e.g. the model's validation faces through the chain) and
    `own`, the recorded visits of the other folds' shoppers (a held-out judgement of a pooled calibration)."""
    calibrations: dict[str | None, Calibration] = {}
    every = [c for counts in (base, own) for band, c in counts.items() if band is None]
    pooled = add_up(every) if every else add_up([c for counts in (base, own) for c in counts.values()])
    for band in set(base) | set(own):
        sources = tuple(with_prior(c, pooled) for c in (base.get(band), own.get(band)) if c is not None and c.sum() > 0)
        if sources:
            calibrations[band] = Calibration(tuple(labels), add_up(sources), sources)
    return calibrations


def compose(outcomes: Outcomes, mix: np.ndarray, n: int, rng: np.random.Generator) -> dict[str | None, Counter]:
    """A store-day of n true visits of this mix: what the device counted, by band and label."""
    counted: dict[str | None, Counter] = defaultdict(Counter)
    labels = outcomes.labels
    for true, m in enumerate(rng.multinomial(n, mix)):
        pool = outcomes.by_label[true]
        for pick in rng.integers(0, len(pool), m) if m and pool else ():
            for band, label in pool[pick]:
                counted[band][labels[label]] += 1
    if outcomes.false_visits and outcomes.shoppers:
        for pick in rng.integers(0, len(outcomes.false_visits), rng.binomial(n, len(outcomes.false_visits)
                                                                                 / outcomes.shoppers)):
            band, label = outcomes.false_visits[pick]
            counted[band][labels[label]] += 1
    return counted


def score_chain(plans: Sequence[tuple[Outcomes, dict[str | None, Calibration]]], profile: str, draws: int = 1000,
                seed: int = 0, groups: SatisfactionGroups | None = None) -> list[dict]:
    """Per scenario, store-day size and estimator (count; corrected by band): the index's error, bias,
    interval coverage and mean interval half-width (what a drift between two cameras is judged against),
    and the mix's error and lowest per-label coverage, against each store-day's truth."""
    from edgeemo.train.quantify import SCENARIOS, _mix_coverage, _scored, scenario_mix

    labels = plans[0][0].labels
    groups = (groups or DEFAULT_GROUPS).for_labels(labels)
    sign = np.array(groups.signs(labels))
    present = np.array([any(len(p[0].by_label[k]) for p in plans) for k in range(len(labels))])
    natural = np.array([sum(len(p[0].by_label[k]) for p in plans) for k in range(len(labels))], float)
    natural /= natural.sum()
    rng = np.random.default_rng(seed)
    rows = []
    for scenario in SCENARIOS:
        for n in CHAIN_SIZES:
            found: dict[str, list] = {"count": [], "corrected": []}
            widths: dict[str, list[float]] = {"count": [], "corrected": []}
            for draw in range(draws):
                outcomes, calibrations = plans[draw % len(plans)]
                mix = scenario_mix(scenario, natural, labels, groups, rng)
                mix = np.where(present & np.array([len(p) > 0 for p in outcomes.by_label]), mix, 0.0)
                mix /= mix.sum()
                counted = compose(outcomes, mix, n, rng)
                truth = float(sign @ mix)
                total = sum(counted.values(), Counter())
                estimates = {"count": (index_estimate(total, groups), mix_estimate(total, labels)),
                             "corrected": banded_estimates(counted, labels, groups, calibrations)}
                for name, (index, shares) in estimates.items():
                    if index.value is not None:  # a store-day whose shoppers the device all missed has none
                        found[name].append(_scored(index, shares, labels, mix, truth))
                        widths[name].append((index.high - index.low) / 2 if index.high is not None
                                            and index.low is not None else np.nan)
            for name, results in found.items():
                error = np.array([e for e, _, _, _ in results])
                rows.append({"profile": profile, "scenario": scenario, "n": n, "estimator": name,
                             "mae_index": round(float(np.abs(error).mean()), 4),
                             "bias_index": round(float(error.mean()), 4),
                             "coverage_index": round(float(np.mean([c for _, c, _, _ in results])), 4),
                             "half_width_index": round(float(np.nanmean(widths[name])), 4) if not np.isnan(
                                 widths[name]).all() else None,
                             "mae_mix": round(float(np.mean([m for _, _, m, _ in results])), 4),
                             **_mix_coverage(np.array([c for _, _, _, c in results]), labels)})
    return rows

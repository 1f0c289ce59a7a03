"""Figures with their 95% interval: what every estimate of edgeemo is shown as, how estimates of
disjoint sets of visits add up, and whether two figures differ (Holm-corrected over a page).

Pure arithmetic on the ground floor, so the device's `edgeemo report` and the hub show the same
numbers. The corrections themselves (a model's calibration applied to counts) are `edgeemo.estimates`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Numbers = Sequence[float] | Any  # shares or counts: a list, or a numpy array (which Sequence does not cover)

Z95 = 1.959963984540054  # the two-sided 95% quantile of the normal distribution
PRECISION_FLOOR = 0.15  # an index whose interval is wider than +-this is shown as imprecise
COUNT, CORRECTED = "count", "corrected"


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
    calibration_error: float = 0.0  # the part of standard_error that every store shares (calibration, transfer)
    backed: bool = True  # False: too few calibration faces to back an interval (shown without one)

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


def interval(value: float, variance: float, visits: int, method: str, bounds: tuple[float, float],
              shared: float = 0.0, backed: bool = True, shown: float | None = None) -> Estimate:
    """`value` clipped to `bounds` (what a figure can be), with its 95% interval around it, clipped
    too; a figure that is not finite has no interval (None), never a made-up bound. `shared` is the
    part of the variance every store shares (the calibration's); `shown`, the figure to show instead of
    the clipped value (a share of a mix renormalised to add up to one)."""
    value, variance, shared = float(value), float(variance), float(shared)  # plain floats: they go to JSON
    if not (math.isfinite(value) and math.isfinite(variance) and math.isfinite(shared)):
        return Estimate(None, None, None, visits, method)
    error = math.sqrt(max(variance, 0.0))

    def clip(x: float) -> float:
        return min(bounds[1], max(bounds[0], x))

    shown = clip(value if shown is None else float(shown))  # the interval is drawn around the figure shown
    return Estimate(shown, clip(shown - Z95 * error), clip(shown + Z95 * error), visits, method, error, value,
                    math.sqrt(max(shared, 0.0)), backed)


def smoothed(q: Numbers, visits: int, towards: Numbers | None = None) -> list[float]:
    """Shares with z^2 pseudo-visits (Agresti and Coull's idea): what a variance is computed from, so
    that 5 happy visits of 5 do not read as certain (their plug-in variance is 0). The pseudo-visits are
    spread evenly, or as `towards` (shares adding up to one) says."""
    extra = Z95**2
    spread = [1.0 / len(q)] * len(q) if towards is None else list(towards)
    return [(visits * share + extra * part) / (visits + extra) for share, part in zip(q, spread)]


def combine(parts: Sequence[Estimate], bounds: tuple[float, float] = (-1.0, 1.0), as_shown: bool = False
            ) -> Estimate:
    """One estimate from independent ones of disjoint sets of visits (devices, models), weighted by visits:
    a figure is corrected only when every part is. An index weighs the parts' unclipped values (unbiased);
    a mix's share (`as_shown`) the figures shown, so that the combined shares still add up to one."""
    shown = [part for part in parts if part.visits]
    visits = sum(part.visits for part in shown)
    method = CORRECTED if shown and all(part.method == CORRECTED for part in shown) else COUNT
    figures = [(part, part.value if as_shown else part.unclipped) for part in shown]
    known = [(part.visits, figure, part.standard_error) for part, figure in figures
             if figure is not None and part.standard_error is not None]
    if not visits or len(known) < len(shown):
        return Estimate(None, None, None, visits, method)
    value = sum(n * unclipped for n, unclipped, _ in known) / visits
    variance = sum((n / visits * error) ** 2 for n, _, error in known)
    return interval(value, variance, visits, method, bounds, backed=all(part.backed for part in shown))


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


def combine_bands(parts: Sequence[Estimate], bounds: tuple[float, float] = (-1.0, 1.0)) -> Estimate:
    """One estimate from estimates of disjoint sets of visits counted under calibrations that share faces
    (the face-size bands of one model: every band's calibration was measured on the same faces), weighted
    by visits: the visits' sampling errors add in quadrature, the calibration errors add up (their
    correlation is not known, so the worst case), the figures are the parts' shown ones (each band's shares
    add up to one, so their weighted sum does too). Corrected only when every part is."""
    shown = [part for part in parts if part.visits]
    visits = sum(part.visits for part in shown)
    method = CORRECTED if shown and all(part.method == CORRECTED for part in shown) else COUNT
    if len(shown) == 1:  # one band: itself, its figure as shown (a share renormalised with its mix)
        return shown[0]
    known = [(part.visits / visits, part.value, part.standard_error, part.calibration_error) for part in shown
             if part.value is not None and part.standard_error is not None]
    if not visits or len(known) < len(shown):
        return Estimate(None, None, None, visits, method)
    value = sum(w * figure for w, figure, _, _ in known)  # the figures shown: a mix's shares still add up to one
    sampling = sum(w**2 * max(error**2 - shared_part**2, 0.0) for w, _, error, shared_part in known)
    shared = sum(w * shared_part for w, _, _, shared_part in known) ** 2
    return interval(value, sampling + shared, visits, method, bounds, shared,
                     all(part.backed for part in shown))

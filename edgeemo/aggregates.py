"""What a device's counts mean, for the device and every consumer alike: the satisfaction index,
its groups and k-anonymity suppression.

It lives on the ground floor because the edge runtime, `edgeemo report` and the fleet hub all
need the same definitions, and none of them may import another stage's internals. The payload
that carries the counts is `edgeemo.payload`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NO_ZONE = "all"  # the zone of every aggregate when no zones are configured: the whole frame
DEFAULT_POSITIVE = ("happy",)
DEFAULT_NEGATIVE = ("angry", "contempt", "disgust", "fear", "sad")


@dataclass(frozen=True)
class SatisfactionGroups:
    """Which dominant emotions count as positive and negative; the rest count only in the denominator."""

    positive: tuple[str, ...] = DEFAULT_POSITIVE
    negative: tuple[str, ...] = DEFAULT_NEGATIVE

    def for_labels(self, labels: Iterable[str]) -> SatisfactionGroups:
        """The groups restricted to a model's labels (the default names contempt, a FER+-only label)."""
        known = set(labels)
        return SatisfactionGroups(tuple(x for x in self.positive if x in known),
                                  tuple(x for x in self.negative if x in known))

    def as_dict(self) -> dict[str, list[str]]:
        return {"positive": list(self.positive), "negative": list(self.negative)}

    def signs(self, labels: Iterable[str]) -> list[float]:
        """Each label's weight in the index: +1 positive, -1 negative, 0 neither (index = signs . shares)."""
        return [1.0 if x in self.positive else -1.0 if x in self.negative else 0.0 for x in labels]


DEFAULT_GROUPS = SatisfactionGroups()
V1_GROUPS = SatisfactionGroups(("happy",), ("angry", "disgust", "fear", "sad"))  # what version 1 computed


def satisfaction_from_counts(visits_by_emotion: Mapping[str, int],
                             groups: SatisfactionGroups = DEFAULT_GROUPS) -> float | None:
    """Share of positive visits minus share of negative ones, in [-1, 1]; None without visits."""
    positive = sum(n for label, n in visits_by_emotion.items() if label in groups.positive)
    negative = sum(n for label, n in visits_by_emotion.items() if label in groups.negative)
    return satisfaction_from_totals(positive, negative, sum(visits_by_emotion.values()))


def satisfaction_from_totals(positive: int, negative: int, visits: int) -> float | None:
    """The same index from summed counts (what the hub's roll-ups keep); None without visits."""
    return (positive - negative) / visits if visits else None


def is_suppressed(visits: int, min_visits: int) -> bool:
    """k-anonymity of the aggregates: a bucket with fewer than k visits is not shown."""
    return visits < min_visits


CELL_S = 3600  # a cell is one hour of one device's zone: the finest grid any view may slice
SETTLE_S = 1200  # and it shows this long after its hour: a device's last interval of it (up to 15 min, plus its
# grace and the hub's batching) or a device's visit written after its track ends arrives before that


@dataclass(frozen=True)
class Release:
    """Which cells any released number may be built from: k-anonymity that survives differencing.

    The threat: a viewer (or a script with a login) runs any number of queries, with any ranges,
    buckets, zones, devices, k and views, at any times, and combines the answers. Suppressing each
    answer's bucket on its own cannot stop that (10-11 minus 10-12 isolates one visitor at 11:05).
    The defence: every released number is a sum over whole *cells* (one device's zone over one hour
    of the store's local calendar), and a cell counts only when it has at least k visits and its hour
    is over and settled. Ranges snap outward to whole cells, so any combination of answers
    (differences of ranges, all zones minus one, a device minus its zones, one k minus a larger one,
    today at 10:20 minus today at 10:21) is a combination of whole released cells: a group under k
    never enters any number, and changing it changes no answer (the attack suite in
    tests/test_privacy_cells.py checks exactly that). A bucket without released cells is not listed
    at all, so not even whether anyone came shows. The price: a small cell's visits are missing from
    every total, and an hour shows SETTLE_S after it ends. What it does not cover is in docs/hub-guide.md
    ("k-anonymity that survives differencing").
    """

    min_visits: int
    now: float  # unix seconds: cells that end after it (less SETTLE_S) may still be filling

    def keeps(self, visits: int, cell_start: float) -> bool:
        """k = 1 asks for no anonymity (a demo, a device's own look): then the hour need not be over."""
        return visits >= self.min_visits and (self.min_visits <= 1 or cell_start + CELL_S + SETTLE_S <= self.now)

    def sql(self, alias: str = "") -> tuple[str, list[int]]:
        """The same rule as a WHERE fragment over a table of cells (`visits`, `bucket` columns)."""
        prefix = f"{alias}." if alias else ""
        if self.min_visits <= 1:
            return f" AND {prefix}visits >= ?", [self.min_visits]
        return (f" AND {prefix}visits >= ? AND {prefix}bucket <= ?",
                [self.min_visits, int(self.now) - CELL_S - SETTLE_S])

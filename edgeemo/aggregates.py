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

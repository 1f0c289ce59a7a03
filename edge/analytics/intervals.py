"""Per-zone, per-interval aggregates of what the loop saw: faces, visits, the emotion mix, satisfaction.

Only counts leave this module. Track ids are used in memory to count distinct faces per
interval and are never stored or published.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import Field, model_validator

from edgeemo.aggregates import (
    DEFAULT_GROUPS,
    DEFAULT_NEGATIVE,
    DEFAULT_POSITIVE,
    NO_ZONE,
    SatisfactionGroups,
)
from edgeemo.bands import band_of
from edgeemo.edge.analytics.visits import Visit
from edgeemo.payload_build import build_payload
from edgeemo.tomlconfig import Section


class AnalyticsConfig(Section):
    """`[analytics]`: the satisfaction index's groups; labels the model does not have are an error at start."""

    positive: list[str] = Field(default_factory=lambda: list(DEFAULT_POSITIVE))
    negative: list[str] = Field(default_factory=lambda: list(DEFAULT_NEGATIVE))

    @model_validator(mode="after")
    def _disjoint(self) -> AnalyticsConfig:
        both = sorted(set(self.positive) & set(self.negative))
        if both:
            raise ValueError(f"{both[0]!r} is both positive and negative")
        return self

    def groups(self) -> SatisfactionGroups:
        return SatisfactionGroups(tuple(self.positive), tuple(self.negative))


@dataclass
class Aggregate:
    """One zone's numbers for one interval; the MQTT payload and the database row are made from it."""

    start: float
    length_s: int
    labels: tuple[str, ...]
    zone: str = NO_ZONE
    groups: SatisfactionGroups = DEFAULT_GROUPS
    model: dict[str, str] | None = None  # {"name", "sha256"} of the model that classified the faces
    face_ids: set[int] = field(default_factory=set)
    visits_by_emotion: Counter = field(default_factory=Counter)
    visits_by_band: dict[str, Counter] = field(default_factory=dict)  # face-size band -> visits by emotion
    dwell_s_total: float = 0.0

    def __post_init__(self) -> None:
        self.groups = self.groups.for_labels(self.labels)  # the default names contempt, which a 7-label model lacks

    @property
    def end(self) -> float:
        return self.start + self.length_s

    @property
    def visits(self) -> int:
        return sum(self.visits_by_emotion.values())

    def payload(self, store_id: str, device_id: str, seq: int) -> dict[str, Any]:
        """Its payload under `seq` (the store gives the number, when it first writes the row)."""
        return build_payload(store_id=store_id, device_id=device_id, zone=self.zone, seq=seq, start=self.start,
                             length_s=self.length_s, labels=self.labels, faces_seen=len(self.face_ids),
                             visits_by_emotion=self.visits_by_emotion, groups=self.groups,
                             dwell_s_total=self.dwell_s_total, model=self.model, visits_by_band=self.visits_by_band)


class AggregateSink(Protocol):
    def add_aggregate(self, aggregate: Aggregate) -> None: ...


class VisitSink(Protocol):
    def add_visit(self, visit: Visit) -> None: ...


class Analytics:
    """Buckets faces and visits by time and zone; closed buckets go to every sink.

    A visit is filed under the interval its track ended in. Tracks end `grace_s` after they
    were last seen, so an interval is closed only that long after it is over. Every zone gets
    a row for every interval in which something happened in any zone, so a zone with nobody
    in it reads as zero, not as missing.
    """

    def __init__(self, labels: Sequence[str], bucket_s: int, grace_s: float, sinks: Sequence[AggregateSink],
                 visit_sinks: Sequence[VisitSink] = (), zones: Sequence[str] = (NO_ZONE,),
                 groups: SatisfactionGroups = DEFAULT_GROUPS, model: dict[str, str] | None = None) -> None:
        self.labels, self.bucket_s, self.grace_s = tuple(labels), bucket_s, grace_s
        self.sinks, self.visit_sinks = list(sinks), list(visit_sinks)
        self.zones, self.groups = tuple(zones), groups
        self.model = model
        self.open_buckets: dict[float, dict[str, Aggregate]] = {}

    def _bucket(self, timestamp: float, zone: str) -> Aggregate:
        start = float(math.floor(timestamp / self.bucket_s) * self.bucket_s)
        if start not in self.open_buckets:
            self.open_buckets[start] = {
                name: Aggregate(start, self.bucket_s, self.labels, name, self.groups, self.model)
                for name in self.zones}
        return self.open_buckets[start][zone]

    def face(self, track_id: int, timestamp: float, zone: str = NO_ZONE) -> None:
        self._bucket(timestamp, zone).face_ids.add(track_id)

    def visit(self, visit: Visit) -> None:
        bucket = self._bucket(visit.end, visit.zone)
        bucket.visits_by_emotion[visit.dominant] += 1
        bucket.visits_by_band.setdefault(band_of(visit.face_px), Counter())[visit.dominant] += 1
        bucket.dwell_s_total += visit.dwell_s
        for sink in self.visit_sinks:
            sink.add_visit(visit)

    def tick(self, now: float) -> None:
        """Close and hand on the intervals that can no longer change."""
        for start in sorted(self.open_buckets):
            if start + self.bucket_s + self.grace_s > now:
                break
            self._emit(self.open_buckets.pop(start))

    def close(self) -> None:
        for start in sorted(self.open_buckets):
            self._emit(self.open_buckets.pop(start))

    def _emit(self, by_zone: dict[str, Aggregate]) -> None:
        for aggregate in by_zone.values():
            for sink in self.sinks:
                sink.add_aggregate(aggregate)

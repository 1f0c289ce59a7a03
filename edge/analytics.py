"""Per-interval aggregates of what the loop saw: faces, visits, the emotion mix, satisfaction.

Only counts leave this module. Track ids are used in memory to count distinct faces per
interval and are never stored or published.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from edgeemo.edge.visits import Visit, satisfaction_from_counts

SCHEMA_VERSION = 1


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Aggregate:
    """One interval's numbers; the MQTT payload and the database row are made from it."""

    start: float
    length_s: int
    labels: tuple[str, ...]
    face_ids: set[int] = field(default_factory=set)
    visits_by_emotion: Counter = field(default_factory=Counter)
    dwell_s_total: float = 0.0

    @property
    def end(self) -> float:
        return self.start + self.length_s

    @property
    def visits(self) -> int:
        return sum(self.visits_by_emotion.values())

    def payload(self, store_id: str, device_id: str) -> dict[str, Any]:
        visits = self.visits
        return {
            "schema_version": SCHEMA_VERSION,
            "store_id": store_id,
            "device_id": device_id,
            "start": iso(self.start),
            "end": iso(self.end),
            "faces_seen": len(self.face_ids),
            "visits": visits,
            "emotions": {label: self.visits_by_emotion.get(label, 0) for label in self.labels},
            "satisfaction_index": satisfaction_from_counts(self.visits_by_emotion),
            "mean_dwell_s": round(self.dwell_s_total / visits, 2) if visits else None,
        }


class AggregateSink(Protocol):
    def add_aggregate(self, aggregate: Aggregate) -> None: ...


class VisitSink(Protocol):
    def add_visit(self, visit: Visit) -> None: ...


class Analytics:
    """Buckets faces and visits by time; closed buckets go to every sink.

    A visit is filed under the interval its track ended in. Tracks end `grace_s` after they
    were last seen, so an interval is closed only that long after it is over.
    """

    def __init__(self, labels: Sequence[str], bucket_s: int, grace_s: float, sinks: Sequence[AggregateSink],
                 visit_sinks: Sequence[VisitSink] = ()) -> None:
        self.labels, self.bucket_s, self.grace_s = tuple(labels), bucket_s, grace_s
        self.sinks, self.visit_sinks = list(sinks), list(visit_sinks)
        self.open_buckets: dict[float, Aggregate] = {}

    def _bucket(self, timestamp: float) -> Aggregate:
        start = math.floor(timestamp / self.bucket_s) * self.bucket_s
        if start not in self.open_buckets:
            self.open_buckets[start] = Aggregate(float(start), self.bucket_s, self.labels)
        return self.open_buckets[start]

    def face(self, track_id: int, timestamp: float) -> None:
        self._bucket(timestamp).face_ids.add(track_id)

    def visit(self, visit: Visit) -> None:
        bucket = self._bucket(visit.end)
        bucket.visits_by_emotion[visit.dominant] += 1
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

    def _emit(self, aggregate: Aggregate) -> None:
        for sink in self.sinks:
            sink.add_aggregate(aggregate)

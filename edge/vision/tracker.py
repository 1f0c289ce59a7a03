"""IoU tracking of face boxes between detections; track ids live in memory only.

Detection runs every few frames; in between, a track keeps its last box. A track that is
not matched for `max_age_s` seconds ends (the shopper left or turned away).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field

from edgeemo.aggregates import NO_ZONE
from edgeemo.preprocess import Box
from edgeemo.tomlconfig import Section


class TrackerConfig(Section):
    """`[tracker]`: how long a face is followed without being detected again."""

    iou_threshold: float = Field(0.3, gt=0.0, le=1.0)
    max_age_s: float = Field(2.0, gt=0.0, le=60.0, description="a track unseen this long ends")
    hold_s: float = Field(0.5, ge=0.0, le=10.0,
                          description="a face missed by Haar is still classified at its last box this long")


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    box: Box
    first_seen: float
    last_seen: float
    hits: int = 1
    zone: str = NO_ZONE  # where the face was first seen; its visit is counted there

    @property
    def dwell_s(self) -> float:
        return self.last_seen - self.first_seen


@dataclass
class IouTracker:
    iou_threshold: float = 0.3
    max_age_s: float = 2.0
    tracks: dict[int, Track] = field(default_factory=dict)
    _next_id: int = 1

    def update(self, detections: list[Box], now: float, zones: list[str] | None = None) -> list[Track]:
        """Match detections to tracks (greedy, highest IoU first); returns the tracks that ended.

        `zones` gives each detection's zone; a new track keeps the zone it started in. Tracks
        unseen for longer than max_age_s end first, so a face that returns to the same spot
        after a long gap is a new visit, not the old one stretched over the gap.
        """
        ended = self.expire(now)
        pairs = sorted(
            ((iou(track.box, box), track_id, index)
             for track_id, track in self.tracks.items() for index, box in enumerate(detections)),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        for overlap, track_id, index in pairs:
            if overlap < self.iou_threshold:
                break
            if track_id in matched_tracks or index in matched_boxes:
                continue
            track = self.tracks[track_id]
            track.box, track.last_seen, track.hits = detections[index], now, track.hits + 1
            matched_tracks.add(track_id)
            matched_boxes.add(index)
        for index, box in enumerate(detections):
            if index not in matched_boxes:
                zone = zones[index] if zones is not None else NO_ZONE
                self.tracks[self._next_id] = Track(self._next_id, box, now, now, zone=zone)
                self._next_id += 1
        return ended

    def expire(self, now: float) -> list[Track]:
        """End the tracks not seen for longer than max_age_s."""
        ended = [t for t in self.tracks.values() if now - t.last_seen > self.max_age_s]
        for track in ended:
            del self.tracks[track.id]
        return ended

    def end_all(self) -> list[Track]:
        """End every track (the run is stopping)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended

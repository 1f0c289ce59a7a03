"""Tracking of face boxes between detections; track ids live in memory only.

Detection runs every few frames; in between, a track keeps its last box. A detection is
matched to the track whose box, moved on by the track's own velocity, it overlaps most; a small
face walking past moves more than its own width between two detections (24 px at 1 m/s and 2.4 m,
5 detections a second), so where nothing overlaps, the nearest track of a similar size it could have walked from
(`speed` face widths a second; a face is about 17 cm wide) takes it. A track that is not matched for `max_age_s` seconds ends (the
shopper left or turned away).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from edgeemo.aggregates import NO_ZONE
from edgeemo.preprocess import Box
from edgeemo.tomlconfig import Section


class TrackerConfig(Section):
    """`[tracker]`: how long a face is followed without being detected again."""

    iou_threshold: float = Field(0.3, gt=0.0, le=1.0)
    speed: float = Field(9.0, ge=0.0, le=100.0, description="with no overlap, a detection of a similar size continues "
                         "the nearest track it could have walked from: this many face widths a second (9: 1.5 m/s); "
                         "0: overlap only")
    max_age_s: float = Field(2.0, gt=0.0, le=60.0, description="a walking face's track unseen this long ends "
                             "(a standing one's after twice this: a passer-by hides it a while)")
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


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


@dataclass
class Track:
    id: int
    box: Box
    first_seen: float
    last_seen: float
    hits: int = 1
    zone: str = NO_ZONE  # where the face was first seen; its visit is counted there
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box's centre, pixels a second
    look: np.ndarray | None = None  # what the head and shoulders look like (gray-level histogram; memory only)

    @property
    def dwell_s(self) -> float:
        return self.last_seen - self.first_seen

    @property
    def walking(self) -> bool:
        """Moving more than a standing shopper sways (STANDING face widths a second)."""
        return math.hypot(*self.velocity) > STANDING * self.box[2]

    def predicted(self, now: float) -> Box:
        """The box moved on by the track's velocity to `now` (at most a second ahead)."""
        ahead = min(max(now - self.last_seen, 0.0), 1.0)
        x, y, w, h = self.box
        return round(x + self.velocity[0] * ahead), round(y + self.velocity[1] * ahead), w, h

    def moved_to(self, box: Box, now: float, look: np.ndarray | None = None) -> None:
        """Take a matched detection, and the velocity and look it shows (smoothed)."""
        if look is not None:
            self.look = look if self.look is None else LOOK_WEIGHT * look + (1 - LOOK_WEIGHT) * self.look
        elapsed = now - self.last_seen
        if elapsed > 0:
            (ox, oy), (nx, ny) = _centre(self.box), _centre(box)
            seen = ((nx - ox) / elapsed, (ny - oy) / elapsed)
            weight = 1.0 if self.hits == 1 else 0.5
            self.velocity = tuple(weight * s + (1 - weight) * v for s, v in zip(seen, self.velocity))  # type: ignore[assignment]
        self.box, self.last_seen, self.hits = box, now, self.hits + 1


LOOK_BINS, LOOK_WEIGHT = 16, 0.3
SAME_LOOK = 0.88  # a detection that looks less like a track than this (Bhattacharyya coefficient) is someone else


def look_of(image: np.ndarray, box: Box) -> np.ndarray | None:
    """A person's look around a face box (hair above, the face, neck and shoulders below) as a gray-level
    histogram: two shoppers who cross, or stand where another stood, rarely look alike. Kept in memory
    with its track only, never written (it is no identity: a few numbers of brightness)."""
    x, y, w, h = box
    height, width = image.shape[:2]
    x0, x1 = max(0, round(x - 0.25 * w)), min(width, round(x + 1.25 * w))
    y0, y1 = max(0, round(y - 0.45 * h)), min(height, round(y + 1.6 * h))
    if x1 <= x0 or y1 <= y0:
        return None
    region = image[y0:y1, x0:x1]
    gray = region if region.ndim == 2 else region.mean(axis=2)
    counts = np.bincount((np.asarray(gray, np.uint8) // (256 // LOOK_BINS)).ravel(), minlength=LOOK_BINS)
    return counts / counts.sum()


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """How alike two looks are (1: the same histogram); 1 when either is unknown."""
    return 1.0 if a is None or b is None else float(np.sum(np.sqrt(a * b)))


MAX_REACH_S = 0.3  # a track missed for longer only continues where a detection overlaps it
STANDING = 1.5  # face widths a second: slower is standing (shifting, swaying)


def match_score(track: Track, box: Box, now: float, iou_threshold: float, speed: float) -> float:
    """How well a detection continues a track: its overlap with the track's box, as predicted by its
    velocity or where it was last (a walker stops and starts); failing that, a score below any accepted
    overlap that falls with the distance, within how far a face can move since the track was last seen
    (`speed` face widths a second, half a width more for the detector's own jitter); 0: no match."""
    # a standing face may start to walk, a walking one may stop; a walking one does not turn on the spot,
    # so its last box is no candidate: a face walking the other way through it is another shopper
    candidates = (track.predicted(now),) if track.walking else (track.predicted(now), track.box)
    overlap = max(iou(candidate, box) for candidate in candidates)
    if overlap >= iou_threshold:
        return overlap
    ratio = box[2] / max(track.box[2], 1)
    if speed <= 0 or not 0.75 <= ratio <= 4 / 3:
        return 0.0
    width = max(track.box[2], box[2], 1)
    bx, by = _centre(box)
    distance = min(((cx - bx) ** 2 + (cy - by) ** 2) ** 0.5 for cx, cy in map(_centre, candidates)) / width
    allowed = 0.5 + speed * min(max(now - track.last_seen, 0.0), MAX_REACH_S)
    return iou_threshold * 0.99 * (1 - distance / allowed) if distance < allowed else 0.0


@dataclass
class IouTracker:
    iou_threshold: float = 0.3
    max_age_s: float = 2.0
    tracks: dict[int, Track] = field(default_factory=dict)
    _next_id: int = 1
    speed: float = 9.0
    frame: tuple[int, int] | None = None  # (width, height): where a track can walk out

    def update(self, detections: list[Box], now: float, zones: list[str] | None = None,
               image: np.ndarray | None = None) -> list[Track]:
        """Match detections to tracks (greedy, best `match_score` first); returns the tracks that ended.

        `zones` gives each detection's zone; a new track keeps the zone it started in. Tracks
        unseen for longer than max_age_s end first, so a face that returns to the same spot
        after a long gap is a new visit, not the old one stretched over the gap.
        """
        ended = self.expire(now)
        looks = [look_of(image, box) if image is not None else None for box in detections]
        pairs = sorted(
            ((self._score(track, box, look, now), track_id, index)
             for track_id, track in self.tracks.items() for index, (box, look) in enumerate(zip(detections, looks))),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        for score, track_id, index in pairs:
            if score <= 0:
                break
            if track_id in matched_tracks or index in matched_boxes:
                continue
            self.tracks[track_id].moved_to(detections[index], now, looks[index])
            matched_tracks.add(track_id)
            matched_boxes.add(index)
        for index, box in enumerate(detections):
            if index not in matched_boxes:
                zone = zones[index] if zones is not None else NO_ZONE
                self.tracks[self._next_id] = Track(self._next_id, box, now, now, zone=zone, look=looks[index])
                self._next_id += 1
        return ended

    def _score(self, track: Track, box: Box, look: np.ndarray | None, now: float) -> float:
        """match_score, weighed by how alike the two look; 0 for someone who looks other."""
        alike = similarity(track.look, look)
        if alike < SAME_LOOK:
            return 0.0
        return match_score(track, box, now, self.iou_threshold, self.speed) * alike**2

    def expire(self, now: float) -> list[Track]:
        """End the tracks not seen for longer than max_age_s, and those that walked out of the frame (their
        box, moved on by their velocity, no longer overlaps it): a new face where one left is a new shopper."""
        ended = [t for t in self.tracks.values() if now - t.last_seen > self._patience(t) or self._left(t, now)]
        for track in ended:
            del self.tracks[track.id]
        return ended

    def _patience(self, track: Track) -> float:
        """How long a track waits unseen: twice max_age_s for one standing still (a passer-by in front hides it
        for a few seconds; its look tells it from the next one who stands there), max_age_s for a walker."""
        return self.max_age_s if track.walking else 2 * self.max_age_s

    def _left(self, track: Track, now: float) -> bool:
        if self.frame is None or now <= track.last_seen:
            return False
        x, y, w, h = track.predicted(now)
        return x + w <= 0 or y + h <= 0 or x >= self.frame[0] or y >= self.frame[1]

    def end_all(self) -> list[Track]:
        """End every track (the run is stopping)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended

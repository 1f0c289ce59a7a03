"""The frame loop: source → motion gate → detector (every N frames) → tracker → classify (rate-capped)
→ smooth → visits.

The loop is handed its parts, so a clip replays through exactly the code that runs in a
store (tests, `edgeemo bench`, `make demo`). Nothing here writes an image: frames and crops
live in local variables only; what leaves is counts, through `Analytics`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.analytics.visits import TrackEmotion
from edgeemo.edge.capture.frame import Frame, Source
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.classifier import Classifier
from edgeemo.edge.inference.rate import ClassifySchedule
from edgeemo.edge.service.debug_view import FaceView
from edgeemo.edge.service.metrics import RuntimeMetrics
from edgeemo.edge.vision.detector import Detector, detector_input
from edgeemo.edge.vision.motion import MotionGate
from edgeemo.edge.vision.tracker import IouTracker, Track
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.preprocess import face_input
from edgeemo.tta import predict_with_tta

log = logging.getLogger(__name__)


@dataclass
class LoopStats:
    frames: int = 0
    detect_frames: int = 0
    detect_frames_with_face: int = 0
    frames_with_face: int = 0
    faces_classified: int = 0
    faces_held: int = 0             # live faces on a frame between two of their classifications (rate cap)
    detections_skipped: int = 0     # detection frames where nothing moved: the last detection held
    faces_outside_zones: int = 0  # detections dropped by the box-centre rule (never tracked or classified)
    visits: int = 0
    clock_jumps: int = 0
    size_changes: int = 0
    short_tracks_dropped: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class WallClock:
    """The wall clock as an offset from the frames' clock; a step of the offset is a clock jump.

    Durations come from the frames' monotonic clock; the wall clock only labels them, so a
    visit keeps its dwell whatever NTP does. When the offset steps (NTP at boot, a manual
    `date -s`), the jump is logged once and its size returned to the caller.
    """

    def __init__(self, tolerance_s: float = 2.0) -> None:
        self.offset: float | None = None
        self.tolerance_s = tolerance_s

    def update(self, frame: Frame) -> float | None:
        """Take the frame's offset; returns the size of a jump (seconds), or None."""
        offset = frame.timestamp - frame.seconds
        previous, self.offset = self.offset, offset
        if previous is None or abs(offset - previous) <= self.tolerance_s:
            return None
        log.warning("the wall clock stepped by %+.1f s (NTP or a manual change); visits keep their measured "
                    "dwell, and the open intervals were closed", offset - previous)
        return offset - previous

    def label(self, clock_s: float) -> float:
        """Wall time of a moment on the frames' clock, by the current offset."""
        return clock_s + (self.offset or 0.0)


@dataclass
class LoopParts:
    source: Source
    detector: Detector
    classifier: Classifier
    labels: tuple[str, ...]
    analytics: Analytics
    config: RunConfig
    stop: threading.Event
    metrics: RuntimeMetrics = field(default_factory=RuntimeMetrics)
    tracker: IouTracker | None = None
    heartbeat: Callable[[], None] = lambda: None  # the systemd watchdog ping
    periodic: Callable[[], None] = lambda: None   # batched commits and the like, between frames
    view: Callable[[Frame, list[FaceView]], None] | None = None
    zones: ZoneMap = field(default_factory=lambda: ZoneMap([]))
    on_clock_jump: Callable[[float], None] = lambda jump_s: None  # e.g. the store pauses retention pruning


def _finish_tracks(parts: LoopParts, ended: list[Track], emotions: dict[int, TrackEmotion], stats: LoopStats,
                   wall: WallClock, schedule: ClassifySchedule) -> None:
    for track in ended:
        schedule.forget(track.id)
        emotion = emotions.pop(track.id, None)
        if emotion is None:
            continue
        # start and end are labelled by today's offset: their difference is the measured dwell
        visit = emotion.visit(track.id, wall.label(track.first_seen), wall.label(track.last_seen), track.zone)
        if visit is None or visit.dwell_s < parts.config.smoothing.min_dwell_s:
            stats.short_tracks_dropped += 1
            continue
        parts.analytics.visit(visit)
        parts.metrics.visits.labels(zone=visit.zone, emotion=visit.dominant).inc()
        stats.visits += 1


def _in_zones(zones: ZoneMap, boxes: list, shape: tuple[int, ...]) -> tuple[list, list[str]]:
    """The boxes whose centre lies in an analysed zone, and those zones (the box-centre rule)."""
    height, width = shape[:2]
    kept, names = [], []
    for box in boxes:
        zone = zones.zone_of(box, width, height)
        if zone is not None:
            kept.append(box)
            names.append(zone)
    return kept, names


def run_loop(parts: LoopParts, max_frames: int | None = None) -> LoopStats:
    """Process frames until the source ends, `stop` is set or `max_frames` is reached."""
    config = parts.config
    tracker = parts.tracker or IouTracker(config.tracker.iou_threshold, config.tracker.max_age_s,
                                          speed=config.tracker.speed)
    smoothing = config.smoothing
    size = parts.classifier.input_size
    emotions: dict[int, TrackEmotion] = {}
    stats = LoopStats()
    wall = WallClock()
    gate = MotionGate(config.motion)
    schedule = ClassifySchedule(config.classify)
    held: tuple[list, list[str]] = ([], [])  # the last detection's boxes and zones, while nothing moves
    # faces found by the last two detections: the gate may hold a detection only once two agree, so one
    # missed face (or one false positive) is looked at again instead of being held for refresh_s
    counts: tuple[int, int] = (-1, -2)
    last_detection = float("-inf")
    frame_shape: tuple[int, ...] | None = None
    while not parts.stop.is_set() and (max_frames is None or stats.frames < max_frames):
        frame = parts.source.read()
        if frame is None:
            break
        now = frame.seconds  # durations, expiry and holding; frame.timestamp only labels
        jump = wall.update(frame)
        if jump is not None:
            stats.clock_jumps += 1
            parts.analytics.close()  # intervals labelled by the old clock are complete as they are
            parts.on_clock_jump(jump)
        if frame.gray.shape != frame_shape:
            if frame_shape is not None:  # boxes of the old size would lie outside (or across) the new frame
                log.warning("frame size changed from %s to %s; open tracks end here",
                            "x".join(map(str, frame_shape[1::-1])), "x".join(map(str, frame.gray.shape[1::-1])))
                stats.size_changes += 1
                _finish_tracks(parts, tracker.end_all(), emotions, stats, wall, schedule)
                last_detection = float("-inf")
            gate.reset()
            held, counts = ([], []), (-1, -2)
            frame_shape = frame.gray.shape
            tracker.frame = (frame_shape[1], frame_shape[0])
        if frame.still or stats.frames % config.detector.every_n_frames == 0:  # a photo is not the last one
            if gate.must_detect(frame.gray, now, force=frame.still or counts[0] != counts[1]):
                color = frame.bgr() if parts.detector.wants_color else None  # converted only when wanted
                with parts.metrics.detection_seconds.time():
                    found = parts.detector.detect(detector_input(parts.detector, frame.gray, color))
                held = _in_zones(parts.zones, found, frame.gray.shape)
                counts = (len(held[0]), counts[0])
                stats.faces_outside_zones += len(found) - len(held[0])
                stats.detect_frames += 1
                stats.detect_frames_with_face += bool(held[0])
            else:  # nothing moved since the last detection: its faces are where they were
                stats.detections_skipped += 1
                parts.metrics.detections_skipped.inc()
            ended = tracker.update(held[0], now, held[1], frame.gray)
            last_detection = now
        else:
            ended = tracker.expire(now)
        _finish_tracks(parts, ended, emotions, stats, wall, schedule)

        # Faces found at the last detection are followed until the next one; a face Haar
        # missed briefly (a blink, a turn) is held at its last box for hold_s.
        hold_from = min(last_detection, now - config.tracker.hold_s)
        live = [track for track in tracker.tracks.values() if track.last_seen >= hold_from]
        views: list[FaceView] = []
        if live:
            for track in live:
                if track.id not in emotions:
                    emotions[track.id] = TrackEmotion(parts.labels, smoothing.mode, smoothing.alpha, smoothing.window)
            # a walking face has moved on from its box between detections: it is read only where a
            # detection placed it; a standing one may be read at its box on any frame
            due = [track for track in live if (track.last_seen == now or not track.walking)
                   and schedule.due(track.id, now, emotions[track.id].confidence)]
            labels: dict[int, str | None] = {}
            if due:
                crops = np.stack([face_input(frame.gray, size, track.box, config.detector.margin) for track in due])
                with parts.metrics.inference_seconds.time():
                    probabilities = predict_with_tta(parts.classifier.predict, crops, config.model.tta)
                for track, probs in zip(due, probabilities):
                    frames = schedule.classified(track.id, now, stats.frames)
                    labels[track.id] = emotions[track.id].update(probs, frames, track.box[2])
            for track in live:
                label = labels[track.id] if track.id in labels else emotions[track.id].hold()
                parts.analytics.face(track.id, frame.timestamp, track.zone)
                parts.metrics.faces.labels(zone=track.zone).inc()
                views.append(FaceView(track.id, track.box, label or ""))
            stats.frames_with_face += 1
            stats.faces_classified += len(due)
            parts.metrics.classifications.inc(len(due))
            stats.faces_held += len(live) - len(due)
        if parts.view is not None:
            parts.view(frame, views)
        parts.analytics.tick(frame.timestamp)
        parts.metrics.frames.inc()
        stats.frames += 1
        parts.heartbeat()
        parts.periodic()
    _finish_tracks(parts, tracker.end_all(), emotions, stats, wall, schedule)
    stats.finished = time.perf_counter()
    return stats

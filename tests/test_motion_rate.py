"""Nothing to do, nothing spent: the motion gate skips detection on still frames without losing a still
face, and the classification rate cap classifies a settled face a few times a second while a visit's
shares stay shares of its time."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edgeemo.edge.analytics.intervals import Analytics
from edgeemo.edge.analytics.visits import TrackEmotion
from edgeemo.edge.capture.files import MemorySource
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import open_edge_model
from edgeemo.edge.inference.rate import ClassifyConfig, ClassifySchedule
from edgeemo.edge.loop import LoopParts, run_loop
from edgeemo.edge.vision.detector import make_detector
from edgeemo.edge.vision.motion import MotionConfig, MotionGate
from edgeemo.labels import LABELS
from tests.conftest import CLIP, CLIP_TRUTH

FPS = 15.0


def clip_frame(index: int = 0) -> np.ndarray:
    capture = cv2.VideoCapture(str(CLIP))
    for _ in range(index + 1):
        ok, image = capture.read()
        assert ok
    capture.release()
    return image


def first_clip_frame() -> np.ndarray:
    """The sample clip's first frame: its shop before the shopper walks in."""
    return clip_frame(0)


def still_face_frame() -> np.ndarray:
    """A frame of the sample clip's shopper standing (the middle of the pause in its truth file)."""
    boxes = CLIP_TRUTH["shoppers"][0]["boxes"]
    standing = [frame for (frame, x, *_), (_, before, *_) in zip(boxes[1:], boxes) if x == before]
    return clip_frame(standing[len(standing) // 2])


class CountingDetector:
    """The real configured detector, counting its calls (what the gate is to save)."""

    def __init__(self, detector) -> None:
        self.detector, self.calls = detector, 0
        self.wants_color = detector.wants_color

    def detect(self, image: np.ndarray):
        self.calls += 1
        return self.detector.detect(image)


def run_frames(images: list[np.ndarray], config: RunConfig) -> tuple:
    model = open_edge_model(None, 1)
    detector = CountingDetector(make_detector(config.detector))
    visits = []

    class Sink:
        def add_visit(self, visit) -> None:
            visits.append(visit)

    analytics = Analytics(model.labels, 60, config.tracker.max_age_s + 1.0, sinks=[], visit_sinks=[Sink()])
    parts = LoopParts(MemorySource(images, FPS, clock_start=100.0), detector, model.classifier, model.labels, analytics, config,
                      threading.Event())
    return run_loop(parts), detector.calls, visits


def test_a_still_empty_scene_is_detected_on_only_at_the_refresh_interval() -> None:
    background = first_clip_frame()
    background[:, 200:480] = cv2.GaussianBlur(background[:, 200:480], (0, 0), 25)  # no face in it
    rng = np.random.default_rng(0)
    # 6 s at 15 fps, with sensor noise and a slow brightening (a light coming up)
    images = [np.clip(background.astype(np.int16) + rng.integers(-3, 4, background.shape) + i // 6, 0, 255)
              .astype(np.uint8) for i in range(90)]
    gated, gated_calls, _ = run_frames(images, RunConfig())
    ungated, ungated_calls, _ = run_frames(images, RunConfig(motion=MotionConfig(enabled=False)))
    assert ungated_calls == 30  # every 3rd frame
    # frame 0, frame 3 (a second detection to agree with the first), then the 2 s refresh: frames 33 and 63
    assert gated_calls == 4
    assert gated.detections_skipped == 26 and gated.visits == ungated.visits == 0


def test_a_still_face_stays_one_visit_with_its_full_dwell_and_motion_wakes_the_detector() -> None:
    face = still_face_frame()
    images = [face] * 75  # 5 s of a face standing perfectly still
    stats, calls, visits = run_frames(images, RunConfig())
    _, ungated_calls, ungated_visits = run_frames(images, RunConfig(motion=MotionConfig(enabled=False)))
    assert calls == 4 and stats.detections_skipped == 21 and ungated_calls == 25
    # the track lives to the last detection frame (72), gate or not
    assert len(visits) == 1 and visits[0].dwell_s == pytest.approx(72 / FPS)
    assert visits[0].dwell_s == pytest.approx(ungated_visits[0].dwell_s) and visits[0].dominant == ungated_visits[0].dominant
    moved = [np.roll(face, 8 * (i // 3), axis=1) for i in range(30)]  # a face walking 8 px per detection frame
    _, moving_calls, _ = run_frames(moved, RunConfig())
    assert moving_calls == 10


class Flaky:
    """The real detector with one call's answer changed: a face missed, or one false positive added."""

    def __init__(self, detector, call: int, extra: tuple | None = None) -> None:
        self.detector, self.call, self.extra, self.calls = detector, call, extra, 0
        self.wants_color = detector.wants_color

    def detect(self, image: np.ndarray):
        self.calls += 1
        found = self.detector.detect(image)
        if self.calls == self.call:
            return found + [self.extra] if self.extra is not None else []
        return found


def run_flaky(images: list[np.ndarray], flaky_call: int, extra: tuple | None, config: RunConfig) -> tuple:
    model = open_edge_model(None, 1)
    visits = []

    class Sink:
        def add_visit(self, visit) -> None:
            visits.append(visit)

    detector = Flaky(make_detector(config.detector), flaky_call, extra)
    analytics = Analytics(model.labels, 60, config.tracker.max_age_s + 1.0, sinks=[], visit_sinks=[Sink()])
    parts = LoopParts(MemorySource(images, FPS, clock_start=100.0), detector, model.classifier, model.labels,
                      analytics, config, threading.Event())
    return run_loop(parts), visits


@pytest.mark.parametrize("gate", [True, False])
def test_one_missed_face_on_a_still_scene_neither_splits_the_visit_nor_is_held(gate: bool) -> None:
    images = [still_face_frame()] * 120  # 8 s of a still face; the 2nd detection misses it
    stats, visits = run_flaky(images, 2, None, RunConfig(motion=MotionConfig(enabled=gate)))
    assert len(visits) == 1 and visits[0].dwell_s == pytest.approx(117 / FPS)
    assert stats.frames_with_face == 120


@pytest.mark.parametrize("gate", [True, False])
def test_one_false_positive_on_a_still_scene_is_not_held_into_a_visit(gate: bool) -> None:
    images = [still_face_frame()] * 120
    stats, visits = run_flaky(images, 2, (20, 250, 60, 60), RunConfig(motion=MotionConfig(enabled=gate)))
    assert len(visits) == 1 and stats.short_tracks_dropped == 1  # the false positive: one frame, dropped


def test_the_gate_detects_again_after_a_size_change_or_a_clock_going_back() -> None:
    gate = MotionGate(MotionConfig())
    gray = np.full((120, 160), 90, np.uint8)
    assert gate.must_detect(gray, 10.0) and not gate.must_detect(gray, 10.5)
    assert gate.must_detect(np.full((240, 320), 90, np.uint8), 10.6)  # a new frame size
    assert not gate.must_detect(np.full((240, 320), 90, np.uint8), 10.7)
    assert gate.must_detect(np.full((240, 320), 90, np.uint8), 3.0)   # the frames' clock went back
    spot = np.full((240, 320), 90, np.uint8)
    spot[100:140, 100:140] = 200  # something appeared
    assert gate.must_detect(spot, 3.1)


def test_the_schedule_classifies_a_settled_face_at_its_rate_and_an_uncertain_one_on_every_frame() -> None:
    schedule = ClassifySchedule(ClassifyConfig(per_second=5.0, uncertain_per_second=15.0, certain_above=0.6))
    due_settled, due_uncertain = [], []
    for frame in range(30):
        now = frame / FPS
        if schedule.due(1, now, None if frame == 0 else 0.9):
            due_settled.append(frame)
            schedule.classified(1, now, frame)
        if schedule.due(2, now, None if frame == 0 else 0.4):
            due_uncertain.append(frame)
            schedule.classified(2, now, frame)
    assert due_settled == list(range(0, 30, 3))
    assert due_uncertain == list(range(30))
    default = ClassifySchedule(ClassifyConfig())  # 3 a second settled, 7.5 uncertain
    due = {0.9: [], 0.4: []}
    for confidence, frames in due.items():
        for frame in range(30):
            if default.due(int(confidence * 10), frame / FPS, None if frame == 0 else confidence):
                frames.append(frame)
                default.classified(int(confidence * 10), frame / FPS, frame)
    assert due[0.9] == list(range(0, 30, 5)) and due[0.4] == list(range(0, 30, 2))
    every = ClassifySchedule(ClassifyConfig(per_second=0))
    every.classified(3, 1.0, 15)
    assert every.due(3, 1.0 + 1 / FPS, 0.99)
    assert schedule.due(1, -5.0, 0.9)  # a clock that went back: classify afresh


@pytest.mark.parametrize("mode", ["ema", "vote"])
def test_one_classification_standing_for_k_frames_smooths_like_k_equal_frames(mode: str) -> None:
    rng = np.random.default_rng(2)
    first, second = rng.dirichlet(np.ones(len(LABELS))), rng.dirichlet(np.ones(len(LABELS)))
    per_frame, capped = TrackEmotion(LABELS, mode, 0.3, 5), TrackEmotion(LABELS, mode, 0.3, 5)
    per_frame.update(first)
    capped.update(first)
    for _ in range(3):
        expected = per_frame.update(second)
    assert capped.update(second, frames=3) == expected
    assert capped.confidence == pytest.approx(per_frame.confidence)
    capped.hold()
    capped.hold()
    assert sum(capped.counts.values()) == 4 and capped.counts[expected] >= 3
    assert TrackEmotion(LABELS).hold() is None and TrackEmotion(LABELS).confidence is None


def test_the_rate_cap_classifies_fewer_crops_and_keeps_the_clips_visit() -> None:
    capture, images = cv2.VideoCapture(str(CLIP)), []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capped, _, capped_visits = run_frames(images, RunConfig())
    every, _, every_visits = run_frames(images, RunConfig(classify=ClassifyConfig(per_second=0,
                                                                                  uncertain_per_second=0)))
    assert capped.faces_classified < every.faces_classified and every.faces_held < capped.faces_held
    # the same faces on the same frames: what one run classifies, the other classifies or holds
    assert capped.faces_classified + capped.faces_held == every.faces_classified + every.faces_held
    assert [v.dominant for v in capped_visits] == [v.dominant for v in every_visits] and len(every_visits) == 1
    assert sum(capped_visits[0].shares.values()) == pytest.approx(1.0)

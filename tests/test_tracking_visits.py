from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgeemo.aggregates import SatisfactionGroups, satisfaction_from_counts
from edgeemo.edge.analytics.visits import TrackEmotion
from edgeemo.edge.vision.tracker import IouTracker, iou
from edgeemo.labels import LABELS


def test_iou_by_hand() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_a_moving_face_keeps_one_id_and_a_new_face_gets_another() -> None:
    tracker = IouTracker(iou_threshold=0.3, max_age_s=1.0)
    tracker.update([(100, 100, 50, 50)], now=0.0)
    tracker.update([(105, 102, 50, 50), (300, 100, 40, 40)], now=0.1)
    assert sorted(t.id for t in tracker.tracks.values()) == [1, 2]
    assert tracker.tracks[1].box == (105, 102, 50, 50) and tracker.tracks[1].hits == 2


def test_tracks_end_after_max_age_and_on_stop() -> None:
    """A standing face waits twice max_age_s (a passer-by may hide it), a walking one max_age_s."""
    tracker = IouTracker(max_age_s=1.0)
    tracker.update([(0, 0, 20, 20)], now=0.0)
    assert tracker.update([], now=1.9) == []
    ended = tracker.update([], now=2.5)
    assert [t.id for t in ended] == [1] and ended[0].dwell_s == 0.0
    tracker.update([(100, 100, 20, 20)], now=3.0)
    tracker.update([(110, 100, 20, 20)], now=3.2)  # walking: 2.5 widths a second
    assert tracker.update([], now=4.1) == [] and [t.id for t in tracker.update([], now=4.3)] == [2]
    tracker.update([(0, 0, 20, 20)], now=5.0)
    assert [t.id for t in tracker.end_all()] == [3] and not tracker.tracks


def test_a_walker_is_followed_past_its_own_width_between_two_detections() -> None:
    """A 24 px face at 1 m/s and 2.4 m moves about 38 px between detections 0.2 s apart: no overlap, the same
    shopper (velocity and reach); one walking the other way through its last place is someone else."""
    tracker = IouTracker()
    for step in range(4):
        tracker.update([(600 - 38 * step, 200, 24, 24)], now=0.2 * step)
    assert list(tracker.tracks) == [1] and tracker.tracks[1].hits == 4
    tracker.update([(600 - 38 * 4, 200, 24, 24), (600 - 38 * 3 + 2, 200, 24, 24)], now=0.8)  # one comes back
    assert tracker.tracks[1].box == (600 - 38 * 4, 200, 24, 24) and len(tracker.tracks) == 2


def test_a_walker_that_leaves_the_frame_ends_and_a_newcomer_there_is_new() -> None:
    tracker = IouTracker(frame=(640, 480))
    for step in range(3):
        tracker.update([(40 - 30 * step, 200, 30, 30)], now=0.2 * step)  # walking left, out of the frame
    ended = tracker.update([(0, 200, 30, 30)], now=0.8)  # its box, moved on, is off the frame: a new shopper
    assert [t.id for t in ended] == [1] and list(tracker.tracks) == [2]


def test_a_face_that_looks_otherwise_is_someone_else() -> None:
    """Two shoppers on one spot, one after the other: the head-and-shoulders histogram tells them apart."""
    dark, light = np.full((480, 640), 40, np.uint8), np.full((480, 640), 200, np.uint8)
    tracker = IouTracker()
    tracker.update([(300, 200, 40, 40)], now=0.0, image=dark)
    tracker.update([(300, 200, 40, 40)], now=0.2, image=dark)
    tracker.update([(302, 200, 40, 40)], now=0.4, image=light)  # where the first stood, but not the first
    assert sorted(tracker.tracks) == [1, 2] and tracker.tracks[1].last_seen == 0.2
    tracker.update([(302, 200, 40, 40)], now=0.6, image=light)
    assert tracker.tracks[2].hits == 2


def _probs(label: str, confidence: float = 0.6) -> np.ndarray:
    p = np.full(len(LABELS), (1 - confidence) / (len(LABELS) - 1))
    p[LABELS.index(label)] = confidence
    return p


@pytest.mark.parametrize("mode", ["ema", "vote"])
def test_smoothing_ignores_a_one_frame_flicker(mode: str) -> None:
    emotion = TrackEmotion(LABELS, mode=mode, alpha=0.3, window=5)
    seen = [emotion.update(_probs(label)) for label in ["happy"] * 6 + ["angry"] + ["happy"] * 3]
    assert seen == ["happy"] * 10
    visit = emotion.visit(7, start=10.0, end=14.5)
    assert visit.dominant == "happy" and visit.shares == {"happy": 1.0} and visit.dwell_s == 4.5


def test_visit_shares_follow_a_real_change_of_mood() -> None:
    emotion = TrackEmotion(LABELS, mode="vote", window=3)
    for label in ["neutral"] * 4 + ["happy"] * 8:
        emotion.update(_probs(label))
    visit = emotion.visit(1, 0.0, 6.0)
    assert visit.dominant == "happy"
    assert visit.shares["happy"] > visit.shares["neutral"] > 0
    assert sum(visit.shares.values()) == pytest.approx(1.0)


def test_satisfaction_index_by_hand() -> None:
    assert satisfaction_from_counts(Counter(["happy", "happy", "sad", "neutral"])) == pytest.approx((2 - 1) / 4)
    assert satisfaction_from_counts(Counter(["angry", "fear"])) == -1.0
    assert satisfaction_from_counts(Counter(["contempt", "happy"])) == 0.0  # FER+'s eighth label is negative
    assert satisfaction_from_counts(Counter()) is None


def test_satisfaction_groups_are_configurable_and_narrow_to_the_model() -> None:
    groups = SatisfactionGroups(positive=("happy", "surprise"), negative=("angry",))
    assert satisfaction_from_counts(Counter(["surprise", "sad", "angry", "happy"]), groups) == pytest.approx(1 / 4)
    assert SatisfactionGroups().for_labels(LABELS).negative == ("angry", "disgust", "fear", "sad")

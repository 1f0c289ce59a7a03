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
    tracker = IouTracker(max_age_s=1.0)
    tracker.update([(0, 0, 20, 20)], now=0.0)
    assert tracker.update([], now=0.9) == []
    ended = tracker.update([], now=1.5)
    assert [t.id for t in ended] == [1] and ended[0].dwell_s == 0.0
    tracker.update([(0, 0, 20, 20)], now=2.0)
    assert [t.id for t in tracker.end_all()] == [2] and not tracker.tracks


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

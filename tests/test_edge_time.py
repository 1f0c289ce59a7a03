"""Time on a device without a real-time clock: durations on the monotonic clock, the wall clock only
labels rows. Clock jumps (forward, back; on detection and non-detection frames) neither inflate
nor split nor drop a visit; retention pruning waits while the wall clock is not sane."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import pytest

from edgeemo.aggregates import NO_ZONE
from edgeemo.edge.analytics.intervals import Aggregate, Analytics
from edgeemo.edge.analytics.store import EARLIEST_SANE_TIME, AnalyticsStore
from edgeemo.edge.analytics.visits import Visit
from edgeemo.edge.capture.files import VideoFileSource
from edgeemo.edge.capture.frame import Frame
from edgeemo.edge.config import RunConfig
from edgeemo.edge.inference.model import open_edge_model
from edgeemo.edge.loop import LoopParts, LoopStats, run_loop
from edgeemo.edge.vision.haar import HaarDetector
from edgeemo.edge.vision.tracker import IouTracker
from edgeemo.labels import LABELS
from tests.conftest import CLIP, CLIP_FRAMES

YEAR = 365 * 86400.0


class SteppedClockSource(VideoFileSource):
    """The sample clip, with the wall clock stepped by `jump_s` from frame `at` on (as NTP does)."""

    def __init__(self, jump_s: float, at: int, resize_from: int | None = None) -> None:
        super().__init__(CLIP)
        self.jump_s, self.at, self.resize_from = jump_s, at, resize_from

    def read(self) -> Frame | None:
        frame = super().read()
        if frame is None:
            return None
        if frame.index >= self.at:
            frame = replace(frame, timestamp=frame.timestamp + self.jump_s)
        if self.resize_from is not None and frame.index >= self.resize_from:  # a camera back at another size
            frame = replace(frame, gray=cv2.resize(frame.gray, (320, 180)), color=None)
        return frame


class Visits:
    def __init__(self) -> None:
        self.visits: list[Visit] = []
        self.aggregates: list[Aggregate] = []

    def add_visit(self, visit: Visit) -> None:
        self.visits.append(visit)

    def add_aggregate(self, aggregate: Aggregate) -> None:
        self.aggregates.append(aggregate)


@pytest.fixture(scope="module")
def model():
    return open_edge_model(None)


def _run(model, source: VideoFileSource) -> tuple[LoopStats, Visits]:
    config = RunConfig()
    sink = Visits()
    analytics = Analytics(model.labels, 60, config.tracker.max_age_s + 1.0, [sink], [sink])
    source.open()
    try:
        stats = run_loop(LoopParts(source, HaarDetector(config.detector), model.classifier, model.labels, analytics,
                                   config, threading.Event()))
    finally:
        source.close()
    analytics.close()
    return stats, sink


@pytest.mark.parametrize("jump_s, at", [
    (YEAR, 50),    # +1 year on a non-detection frame (detection runs on every 3rd frame: 0, 3, ...)
    (YEAR, 51),    # +1 year on a detection frame
    (-10.0, 50),   # NTP steps back 10 s, non-detection frame
    (-10.0, 51),   # and on a detection frame
    (-YEAR, 50),   # a clock that was a year ahead is corrected
], ids=["+1y-plain", "+1y-detect", "-10s-plain", "-10s-detect", "-1y-plain"])
def test_a_clock_jump_neither_inflates_nor_splits_nor_drops_the_visit(model, jump_s: float, at: int, caplog) -> None:
    plain, stepped = SteppedClockSource(0.0, 0), SteppedClockSource(jump_s, at)
    baseline_stats, baseline = _run(model, plain)
    with caplog.at_level(logging.WARNING):
        stats, seen = _run(model, stepped)
    [expected] = baseline.visits
    [visit] = seen.visits
    assert visit.dwell_s == pytest.approx(expected.dwell_s) and 4.0 <= visit.dwell_s <= 5.0
    assert visit.dominant == expected.dominant and visit.shares == expected.shares
    assert visit.end - visit.start == pytest.approx(visit.dwell_s)
    # labelled by the corrected clock
    assert visit.end - stepped._start - jump_s == pytest.approx(expected.end - plain._start, abs=0.05)
    assert stats.clock_jumps == 1 and baseline_stats.clock_jumps == 0
    assert sum("wall clock stepped" in record.message for record in caplog.records) == 1
    # no interval is held open for a year: every face and visit was handed on
    assert sum(a.visits for a in seen.aggregates) == 1


def test_a_camera_that_comes_back_at_another_size_ends_its_tracks_cleanly(model) -> None:
    stats, seen = _run(model, SteppedClockSource(0.0, 0, resize_from=60))
    assert stats.size_changes == 1 and stats.frames == CLIP_FRAMES
    assert 1 <= len(seen.visits) <= 2  # the shopper before the change, and again after if Haar finds them small


def test_a_face_back_at_the_same_spot_after_a_long_gap_is_a_new_track() -> None:
    tracker = IouTracker(max_age_s=2.0)
    box = (100, 100, 80, 80)
    tracker.update([box], 0.0)
    [first] = tracker.tracks.values()
    ended = tracker.update([box], 30.0)  # nothing in between: the camera was covered, or no detection ran
    assert [track.id for track in ended] == [first.id] and first.last_seen == 0.0
    [second] = tracker.tracks.values()
    assert second.id != first.id and second.first_seen == 30.0


def _store_with_row(tmp_path: Path, start: float) -> AnalyticsStore:
    store = AnalyticsStore(tmp_path / "a.db", retention_days=1)
    store.add_aggregate(Aggregate(start, 60, LABELS, NO_ZONE, visits_by_emotion=Counter(happy=1)))
    store.flush()
    return store


def test_pruning_waits_for_a_sane_wall_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    store = _store_with_row(tmp_path, now - 60)
    assert store.clock_doubt(now) is None
    assert "before this edgeemo was released" in store.clock_doubt(86400.0)  # 1970: not set yet
    assert "behind the newest stored interval" in store.clock_doubt(now - 86400)  # stepped back
    store.clock_jumped(YEAR)
    assert "stepped less than an hour ago" in store.clock_doubt(now)
    store.close()


def test_a_clock_set_a_year_ahead_right_after_a_jump_deletes_nothing(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    store = _store_with_row(tmp_path, now - 60)
    store.clock_jumped(YEAR)
    monkeypatch.setattr(time, "time", lambda: now + YEAR)
    store._last_prune = None
    store.add_aggregate(Aggregate(now + YEAR, 60, LABELS, NO_ZONE))
    store.flush()  # flushes prune now and then: not now
    store.close()
    from tests.conftest import db_rows

    assert len(db_rows(tmp_path / "a.db", "SELECT * FROM aggregates")) == 2
    assert EARLIEST_SANE_TIME < now

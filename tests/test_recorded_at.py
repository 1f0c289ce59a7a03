"""`edgeemo run --recorded-at`: a recorded video's visits are labelled from when it was filmed, and
a label that cannot be a recording's (the future, a typo'd year, a live camera, photos) is refused."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from edgeemo.edge.capture.files import VideoFileSource
from edgeemo.edge.capture.frame import SourceError
from tests.conftest import CLIP, CLIP_FRAMES, REPO, run_cli


def test_a_recorded_clip_is_labelled_from_when_it_was_filmed(tmp_path: Path) -> None:
    db = tmp_path / "edgeemo.db"
    done = run_cli("run", "--source", str(CLIP), "--db", str(db), "--recorded-at", "2026-11-30T10:00:00-08:00",
                   "--json")
    assert done.returncode == 0, done.stderr
    start = datetime.fromisoformat("2026-11-30T10:00:00-08:00").timestamp()
    with sqlite3.connect(db) as con:
        times = [row[0] for row in con.execute("SELECT start FROM visits")]
    assert times, "the clip's shopper makes a visit"
    assert all(start <= t <= start + CLIP_FRAMES / 15 + 1 for t in times), times


@pytest.mark.parametrize("when, source, fragment", [
    ("2099-01-01T10:00:00+00:00", "CLIP", "in the future"),
    ("1926-12-01T10:00:00+00:00", "CLIP", "before 2020"),
    ("2026-12-01T10:00:00", "CLIP", "timezone"),
    ("2026-12-01T10:00:00+00:00", "FACES", "photos are labelled with now"),
    ("2026-12-01T10:00:00+00:00", "0", "a live camera"),
])
def test_a_label_no_recording_can_have_is_refused_in_one_line(tmp_path: Path, when: str, source: str,
                                                              fragment: str) -> None:
    sources = {"CLIP": str(CLIP), "FACES": str(REPO / "samples" / "faces" / "happy")}
    db = tmp_path / "edgeemo.db"
    done = run_cli("run", "--source", sources.get(source, source), "--db", str(db), "--recorded-at", when)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert fragment in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_footage_that_would_end_in_the_future_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_800_000_000.0
    monkeypatch.setattr(time, "time", lambda: now)
    source = VideoFileSource(CLIP, recorded_at=now + 59 - CLIP_FRAMES / 15)  # ends 1 s inside the allowance
    source.open()
    source.close()
    late = VideoFileSource(CLIP, recorded_at=now + 61 - CLIP_FRAMES / 15)  # ends 1 s past it
    with pytest.raises(SourceError, match="ends in the future"):
        late.open()

"""Sources: files end the run, live cameras reconnect after failures and stale frames.

`FakeCamera` stands in for camera hardware, which cannot exist on the build machine.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeemo.edge.capture.cameras import PiCameraSource
from edgeemo.edge.capture.frame import Frame, SourceConfig, SourceError
from edgeemo.edge.capture.reconnect import ReconnectingSource
from edgeemo.edge.capture.uri import open_source

CONFIG = SourceConfig(reconnect_initial_s=0.01, reconnect_max_s=0.02, stale_frames=5)


class FakeCamera:
    """FAKE camera hardware: scripted frames, failures, and frozen frames."""

    live = True
    name = "fake-camera"

    def __init__(self, script: list[str], fail_opens: int = 0) -> None:
        self.script, self.fail_opens = list(script), fail_opens
        self.opens = 0
        self.counter = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.fail_opens > 0:
            self.fail_opens -= 1
            raise SourceError("fake-camera: still unplugged")

    def read(self) -> Frame | None:
        step = self.script.pop(0) if self.script else "end"
        if step == "raise":
            raise SourceError("fake-camera: no frame")
        if step == "end":
            return None
        if step == "same":
            image = np.full((48, 64), 7, np.uint8)
        else:
            self.counter += 1
            image = np.full((48, 64), self.counter % 250, np.uint8)
        return Frame(image, float(self.counter), self.counter)

    def close(self) -> None:
        pass


def _read(source: ReconnectingSource, n: int) -> list[Frame]:
    return [source.read() for _ in range(n)]


def test_a_camera_that_raises_is_reopened_with_backoff_and_frames_continue() -> None:
    camera = FakeCamera(["ok", "raise", "ok", "ok"], fail_opens=2)
    states: list[bool] = []
    source = ReconnectingSource(camera, CONFIG, threading.Event(), on_state=states.append)
    source.open()
    frames = _read(source, 3)
    assert [f.index for f in frames] == [1, 2, 3]
    assert source.reconnects == 1 and camera.opens == 4  # first open, two failed reopens, one good
    assert states == [True, False, True]


def test_a_frozen_camera_is_detected_as_stale_and_reopened() -> None:
    camera = FakeCamera(["same"] * 5 + ["ok"])
    source = ReconnectingSource(camera, CONFIG, threading.Event())
    source.open()
    frames = _read(source, 5)
    assert source.reconnects == 1
    assert len(frames) == 5 and frames[-1].index == 1  # four repeats passed, the fifth triggered the reopen


def test_stop_interrupts_a_reconnect_backoff() -> None:
    stop = threading.Event()
    camera = FakeCamera(["raise"], fail_opens=10_000)
    source = ReconnectingSource(camera, SourceConfig(reconnect_initial_s=30, reconnect_max_s=30), stop)
    source.open()
    threading.Timer(0.2, stop.set).start()
    assert source.read() is None


def test_image_folder_skips_unreadable_files_and_ends(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(tmp_path / "c.png"), np.full((20, 30, 3), 255, np.uint8))
    source = open_source(str(tmp_path), SourceConfig(), threading.Event())
    frames = [source.read(), source.read(), source.read()]
    assert [f.gray.shape for f in frames[:2]] == [(20, 30), (20, 30)] and frames[2] is None


def test_missing_and_undecodable_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(str(tmp_path / "nope.mp4"), SourceConfig(), threading.Event())
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(SourceError, match="cannot decode"):
        open_source(str(tmp_path / "broken.mp4"), SourceConfig(), threading.Event())


def test_picamera_without_picamera2_says_how_to_install_it() -> None:
    pytest.importorskip("numpy")
    try:
        import picamera2  # noqa: F401
        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(SourceError, match="python3-picamera2"):
        PiCameraSource(640, 480, 15).open()


def test_reconnecting_keeps_the_watchdog_alive_but_a_hung_read_would_not() -> None:
    pings: list[float] = []
    camera = FakeCamera(["ok", "raise", "ok"], fail_opens=1)
    config = SourceConfig(reconnect_initial_s=0.05, reconnect_max_s=0.1, stale_frames=5)
    source = ReconnectingSource(camera, config, threading.Event(), keepalive=lambda: pings.append(1.0))
    source.open()
    assert [source.read().index, source.read().index] == [1, 2]
    assert len(pings) >= 2  # called while waiting to reconnect (twice: a failed reopen, then a good one)


def test_every_image_of_a_folder_is_analysed_whatever_the_frame_skip(tmp_path: Path) -> None:
    """Stills are stills: the face in the second photo is found, though the detector runs on every 3rd video
    frame (and the motion gate would hold the blank first photo's answer)."""
    import json

    from tests.conftest import CLIP, run_cli

    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 30)
    ok, face = capture.read()
    capture.release()
    assert ok
    folder = tmp_path / "photos"
    folder.mkdir()
    blank = np.full_like(face, 128)
    for name, image in (("a.png", blank), ("b.png", face), ("c.png", blank), ("d.png", blank)):
        cv2.imwrite(str(folder / name), image)
    done = run_cli("run", "--source", str(folder), "--db", str(tmp_path / "e.db"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 4 and summary["detect_frames"] == 4, summary
    assert summary["detect_frames_with_face"] == 1 and summary["detections_skipped"] == 0, summary

"""Both face detectors behind one interface: BlazeFace's post-processing against known numbers, both
models against hand-checked boxes on the sample clip, zones, colour, hostile frame shapes, and the
shipped model files."""

from __future__ import annotations

import hashlib
import json
import re

import cv2
import numpy as np
import pytest

from edgeemo.edge.capture.frame import Frame, SourceError, yuv_to_bgr
from edgeemo.edge.vision.blazeface import (
    MODELS,
    BlazeFaceDetector,
    Framing,
    Letterbox,
    clip_boxes,
    decode_boxes,
    iou_one_to_many,
    model_path,
    ssd_anchors,
    weighted_nms,
)
from edgeemo.edge.vision.detector import DetectorConfig, detector_input, make_detector
from edgeemo.edge.vision.haar import HaarDetector
from edgeemo.edge.vision.zones import ZoneConfig, ZoneMap
from edgeemo.preprocess import to_gray
from tests.conftest import REPO, real_clip

ANNOTATIONS = json.loads((REPO / "scripts" / "detection_annotations.json").read_text())
CLIP_FACES = {int(k): v["faces"][0] for k, v in ANNOTATIONS["clips"][0]["frames"].items()}


def clip_frames(indices: set[int]) -> dict[int, np.ndarray]:
    clip = real_clip()
    capture, frames, index = cv2.VideoCapture(str(clip)), {}, 0
    while len(frames) < len(indices):
        ok, image = capture.read()
        assert ok, f"{clip} ended before frame {index}"
        if index in indices:
            frames[index] = image
        index += 1
    capture.release()
    return frames


@pytest.fixture(scope="module")
def annotated() -> dict[int, np.ndarray]:
    return clip_frames({0, 40, 80, 110})


def test_the_default_detector_is_blazeface_back_and_haar_stays_selectable() -> None:
    config = DetectorConfig()
    assert (config.kind, config.model, config.describe()) == ("blazeface", "back", "blazeface/back")
    assert isinstance(make_detector(DetectorConfig(kind="haar")), HaarDetector)
    assert isinstance(make_detector(config), BlazeFaceDetector)
    assert DetectorConfig(kind="haar").min_face() == 40 and config.min_face() == 20
    assert DetectorConfig(kind="haar", min_face_px=60).min_face() == 60


@pytest.mark.parametrize("name, count, first", [("back", 896, 0.5 / 16), ("full-range", 2304, 0.5 / 48)])
def test_the_anchor_grid_matches_each_models_outputs(name: str, count: int, first: float) -> None:
    anchors = ssd_anchors(MODELS[name])
    assert anchors.shape == (count, 2)
    assert anchors[0] == pytest.approx([first, first])
    assert anchors.min() > 0 and anchors.max() < 1
    if name == "back":  # 16x16 cells x 2 anchors, then 8x8 cells x 6 (three stride-32 layers of 2)
        assert anchors[1] == pytest.approx(anchors[0]) and anchors[2] == pytest.approx([1.5 / 16, 0.5 / 16])
        assert anchors[512] == pytest.approx([0.5 / 8, 0.5 / 8]) and anchors[517] == pytest.approx(anchors[512])
        assert anchors[518] == pytest.approx([1.5 / 8, 0.5 / 8])


def test_decoding_puts_the_box_at_the_anchor_plus_the_offset() -> None:
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[0, :4] = [0, 0, 64, 32]         # centred on its anchor, 64 x 32 input pixels
    regressors[1, :4] = [25.6, -25.6, 25.6, 25.6]  # moved by +0.1, -0.1 of the input
    boxes = decode_boxes(regressors, anchors, 256)
    assert boxes[0] == pytest.approx([0.25 - 0.125, 0.5 - 0.0625, 0.25, 0.125])
    assert boxes[1] == pytest.approx([0.85 - 0.05, 0.65 - 0.05, 0.1, 0.1])


def test_weighted_nms_merges_overlapping_boxes_by_score_and_keeps_the_rest() -> None:
    boxes = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [100, 100, 20, 20]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    kept, kept_scores = weighted_nms(boxes, scores, 0.3)
    assert kept_scores.tolist() == pytest.approx([0.9, 0.7])
    assert kept[0] == pytest.approx([(12 * 0.9 + 10 * 0.6) / 1.5, 10, 20, 20])
    assert kept[1] == pytest.approx([100, 100, 20, 20])
    empty, none = weighted_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.3)
    assert empty.shape == (0, 4) and none.shape == (0,)


def test_the_letterbox_keeps_the_aspect_and_maps_boxes_back() -> None:
    fit = Letterbox.fit(480, 640, 256)
    assert (fit.width, fit.height, fit.left, fit.top) == (256, 192, 0, 32)
    # a box covering the picture's area of the input is the whole frame
    whole = fit.to_frame(np.array([[0, 32 / 256, 1, 192 / 256]]), 256, 480, 640)
    assert whole[0] == pytest.approx([0, 0, 640, 480])
    tall = Letterbox.fit(3000, 2, 256)  # a sliver of a frame still gets a pixel
    assert tall.width >= 1 and tall.height == 256


def test_framing_and_clipping() -> None:
    moved = Framing(scale=1.5, dx=0.1, dy=-0.2).apply(np.array([[100.0, 100.0, 40.0, 20.0]]))
    assert moved[0] == pytest.approx([124 - 30, 106 - 15, 60, 30])
    boxes, scores = clip_boxes(np.array([[-10.0, 5, 30, 30], [700, 10, 20, 20], [630, 470, 40, 40]]),
                               np.array([0.9, 0.8, 0.7]), 480, 640)
    assert boxes.tolist() == [[0, 5, 20, 30], [630, 470, 10, 10]] and scores.tolist() == [0.9, 0.7]


@pytest.mark.parametrize("model", ["back", "full-range"])
def test_blazeface_finds_the_hand_checked_face_in_each_frame(annotated: dict, model: str) -> None:
    detector = BlazeFaceDetector(DetectorConfig(kind="blazeface", model=model))
    for index, frame in annotated.items():
        boxes = np.asarray(detector.detect(frame), float).reshape(-1, 4)
        assert len(boxes) == 1, (index, boxes)
        # in the emotion model's framing, the box lies on the hand-checked Haar-framed one
        assert iou_one_to_many(np.asarray(CLIP_FACES[index], float), boxes)[0] >= 0.6, (index, boxes)


def test_haar_finds_the_same_faces_and_takes_colour_or_gray(annotated: dict) -> None:
    detector = HaarDetector(DetectorConfig(kind="haar"))
    for index, frame in annotated.items():
        hits = [box for box in detector.detect(frame)
                if iou_one_to_many(np.asarray(CLIP_FACES[index], float), np.asarray([box], float))[0] >= 0.6]
        assert hits and detector.detect(to_gray(frame)) == detector.detect(frame)


def test_the_detector_gets_colour_only_when_it_wants_it(annotated: dict) -> None:
    frame = annotated[0]
    gray = to_gray(frame)
    assert detector_input(BlazeFaceDetector(DetectorConfig()), gray, frame) is frame
    assert detector_input(BlazeFaceDetector(DetectorConfig()), gray, None) is gray
    assert detector_input(HaarDetector(DetectorConfig(kind="haar")), gray, frame) is gray
    # gray alone still works (three equal channels), as from a Pi camera source set up without colour
    assert len(BlazeFaceDetector(DetectorConfig()).detect(gray)) == 1


def test_an_excluded_zone_is_never_seen_by_blazeface(annotated: dict) -> None:
    right_half = ZoneConfig(name="staff", kind="exclude", polygon=[(0.4, 0.0), (1.0, 0.0), (1.0, 1.0), (0.4, 1.0)])
    detector = BlazeFaceDetector(DetectorConfig(), zones=ZoneMap([right_half]))
    for frame in annotated.values():  # nothing from the excluded half (the closer look may err in the other)
        assert all(x + w <= 0.4 * frame.shape[1] for x, y, w, h in detector.detect(frame))
    left_half = ZoneConfig(name="staff", kind="exclude", polygon=[(0.0, 0.0), (0.4, 0.0), (0.4, 1.0), (0.0, 1.0)])
    assert len(BlazeFaceDetector(DetectorConfig(), zones=ZoneMap([left_half])).detect(annotated[0])) == 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3000, 3), (3000, 2), (480, 640, 3), (4, 4)])
def test_hostile_frame_shapes_and_blank_frames_give_no_faces_and_no_error(shape: tuple) -> None:
    for kind in ("blazeface", "haar"):
        detector = make_detector(DetectorConfig(kind=kind))
        for fill in (0, 255):
            image = np.full(shape, fill, np.uint8)
            assert detector.detect(detector_input(detector, image if image.ndim == 2 else to_gray(image),
                                                  image if image.ndim == 3 else None)) == []


def test_random_noise_frames_stay_inside_the_frame() -> None:
    detector = BlazeFaceDetector(DetectorConfig(min_score=0.05))  # low threshold: many boxes to check
    rng = np.random.default_rng(0)
    for _ in range(5):
        image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        for x, y, w, h in detector.detect(image):
            assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 640 and y + h <= 480


def test_the_shipped_models_are_the_recorded_files_with_their_licence() -> None:
    folder = model_path("back").parent  # the installed package's data (the wheel's, on the Pi)
    readme = (folder / "README.md").read_text()
    assert "Apache License" in (folder / "LICENSE").read_text()
    for name, spec in MODELS.items():
        path = model_path(name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert re.search(rf"{re.escape(spec.file)}.*{digest}", readme), f"{spec.file}: sha256 {digest} not recorded"


def test_the_pi_cameras_yuv420_becomes_the_colour_frame_even_with_padded_rows() -> None:
    rng = np.random.default_rng(1)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (7, 7), 0)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # (72, 64): Y, then U and V
    back = yuv_to_bgr(i420, 48, 64)
    assert back.shape == (48, 64, 3) and np.abs(back.astype(int) - bgr).mean() < 6
    # picamera2 pads each row to a stride (here 96): Y rows of 96, then U and V rows of 48, two per row
    padded = np.zeros((72, 96), np.uint8)
    padded[:48, :64] = i420[:48]
    for plane, start in ((i420[48:60].reshape(24, 32), 48), (i420[60:72].reshape(24, 32), 60)):
        chroma = np.zeros((24, 48), np.uint8)
        chroma[:, :32] = plane
        padded[start:start + 12] = chroma.reshape(12, 96)
    assert np.array_equal(yuv_to_bgr(padded, 48, 64), back)
    for bad in (i420[:50], np.zeros((73, 65), np.uint8)):  # too short; odd stride
        with pytest.raises(SourceError, match="YUV420"):
            yuv_to_bgr(bad, 48, 64)
    with pytest.raises(SourceError, match="YUV420"):
        yuv_to_bgr(np.zeros((73, 64), np.uint8), 49, 64)  # odd height
    # the frame converts only when asked, once
    frame = Frame(i420[:48].copy(), 0.0, 0, yuv420=i420)
    assert frame.color is None and np.array_equal(frame.bgr(), back) and frame.color is not None


def test_blazeface_refuses_what_no_source_delivers_and_takes_what_they_do() -> None:
    detector = BlazeFaceDetector(DetectorConfig())
    for image in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 1), np.uint8)):
        assert detector.detect(image) == []
    for image in (np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8, 3), np.uint16)):
        with pytest.raises(ValueError, match="8-bit gray, BGR or BGRA"):
            detector.detect(image)

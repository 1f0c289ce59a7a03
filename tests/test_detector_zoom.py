"""BlazeFace's closer look at small faces: its geometry (squares, mosaic cells, the way back to the frame),
which candidates it keeps and drops, and what it finds on real faces and on face-free scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeemo.edge.vision.blazeface import BlazeFaceDetector, iou_one_to_many
from edgeemo.edge.vision.detector import DetectorConfig
from edgeemo.edge.vision.zones import ZoneConfig, ZoneMap
from edgeemo.edge.vision.zoom import Cell, Square, merge_squares, mosaic_cells, square_around
from edgeemo.sim.scene import generated_background
from tests.conftest import REPO
from tests.test_detectors import CLIP_FACES, clip_frames

FACE_SHARE = 0.72  # the clip's face width over its hand-checked box (scripts/detection_annotations.json)


def test_a_cell_maps_boxes_back_to_the_frame_exactly() -> None:
    cell = Cell(Square(100, 50, 64), left=128, top=128, size=128)  # enlarged twice, in the bottom-right cell
    assert cell.scale == 2.0
    # the cell's top-left corner is the square's; a 20x30 box 10 px into the cell is 5 px into the square
    assert cell.to_frame(np.array([[138.0, 148.0, 20.0, 30.0]])).tolist() == [[105.0, 60.0, 10.0, 15.0]]
    frame_boxes = np.array([[100.0, 50.0, 64.0, 64.0], [131.5, 70.25, 12.0, 7.5]])
    into_cell = (frame_boxes - [100, 50, 0, 0]) * cell.scale + [128, 128, 0, 0]
    assert np.allclose(cell.to_frame(into_cell), frame_boxes, atol=1e-9)
    centres = np.array([[128.0, 128.0], [255.9, 200.0], [127.9, 200.0], [200.0, 256.0]])
    assert cell.holds(centres).tolist() == [True, True, False, False]


def test_a_square_is_moved_into_the_frame_not_cut() -> None:
    assert square_around(np.array([300.0, 200.0, 40.0, 40.0]), 3.0, 48, 480, 640) == Square(260, 160, 120)
    assert square_around(np.array([-5.0, 450.0, 40.0, 40.0]), 3.0, 48, 480, 640) == Square(0, 360, 120)
    assert square_around(np.array([630.0, -3.0, 10.0, 12.0]), 3.0, 48, 480, 640) == Square(592, 0, 48)
    assert square_around(np.array([0.0, 0.0, 400.0, 400.0]), 3.0, 48, 480, 640).side == 480  # at most the frame
    assert square_around(np.array([1.0, 1.0, 5.0, 5.0]), 3.0, 48, 30, 20) == Square(0, 0, 20)


def test_squares_inside_an_earlier_one_add_no_look_and_the_limit_holds() -> None:
    first, inside, apart = Square(100, 100, 120), Square(110, 110, 100), Square(400, 100, 120)
    assert merge_squares([first, inside, apart], limit=4) == [first, apart]
    assert merge_squares([first, apart, Square(0, 300, 90)], limit=2) == [first, apart]
    cells = mosaic_cells([Square(i * 10, 0, 50) for i in range(5)], 256, 2)
    assert [len(group) for group in cells] == [4, 1]
    assert [(c.left, c.top, c.size) for c in cells[0]] == [(0, 0, 128), (128, 0, 128), (0, 128, 128), (128, 128, 128)]
    assert [(c.left, c.top, c.size) for c in mosaic_cells([Square(0, 0, 50)] * 2, 256, 1)[1]] == [(0, 0, 256)]


def test_a_face_cut_by_the_cells_border_is_left_to_the_full_pass_unless_the_frame_ends_there() -> None:
    cell = Cell(Square(100, 0, 100), left=0, top=0, size=128)
    boxes = np.array([[120.0, 20.0, 40.0, 40.0],    # inside
                      [180.0, 20.0, 40.0, 40.0],    # crosses the square's right side: half a face
                      [105.0, -10.0, 40.0, 40.0],   # crosses the top, but the frame ends there
                      [95.0, 20.0, 40.0, 40.0]])    # 5 px out on the left: within the slack
    assert cell.cut_off(boxes, 480, 640).tolist() == [False, True, False, False]


def _patched(detector: BlazeFaceDetector, full: list[tuple[list[float], float]],
             closer: list[tuple[list[float], float]]) -> list:
    """The detector with its full pass replaced by `full` (boxes in fractions of the input, scores) and its closer
    look by `closer` (frame pixels, raw framing); returns the squares each closer look was asked about."""
    size = detector.spec.input_size
    regressors = np.zeros((len(detector.anchors), 16), np.float32)
    scores = np.zeros(len(detector.anchors))
    for (x, y, w, h), score in full:  # the anchor nearest the box's centre carries it
        index = int(np.argmin(np.abs(detector.anchors - [x + w / 2, y + h / 2]).sum(axis=1)))
        ax, ay = detector.anchors[index]
        regressors[index, :4] = [(x + w / 2 - ax) * size, (y + h / 2 - ay) * size, w * size, h * size]
        scores[index] = score
    asked: list = []

    def look_closer(image: np.ndarray, squares: list, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        asked.append(squares)
        kept = [(box, score) for box, score in closer if score >= threshold]
        return (np.asarray([b for b, _ in kept], np.float32).reshape(-1, 4),
                np.asarray([s for _, s in kept], np.float32))

    detector._scores = lambda tensor: (regressors, scores)  # type: ignore[method-assign]
    detector.look_closer = look_closer  # type: ignore[method-assign]
    return asked


# a 640x480 frame letterboxed into 256 px: x in pixels of the frame is 640 * the input's fraction,
# y is 640 * (fraction - 0.125); a 0.05-wide box is 32 px
WEAK = ([0.3, 0.3, 0.05, 0.05], 0.3)              # frame (192, 112, 32, 32)
SMALL = ([0.6, 0.5, 0.05, 0.05], 0.9)             # frame (384, 240, 32, 32)
LARGE = ([0.1, 0.4, 0.25, 0.25], 0.9)             # frame (64, 176, 160, 160): no closer look
FRAME = np.full((480, 640, 3), 90, np.uint8)


def _raw(config: DetectorConfig, **zoom: object) -> BlazeFaceDetector:
    return BlazeFaceDetector(config.model_copy(update={"fer_framing": False, **zoom}))


def test_a_weak_candidate_is_kept_only_when_the_closer_look_finds_it() -> None:
    detector = _raw(DetectorConfig())
    asked = _patched(detector, [WEAK, LARGE], [])
    boxes, scores = detector.detect_scored(FRAME)
    assert len(asked) == 1 and len(asked[0]) == 1 and asked[0][0].holds(np.array([192, 112, 32, 32]))
    assert boxes.round().tolist() == [[64, 176, 160, 160]]  # the weak one dropped; the large one never looked at
    found = [193.0, 110.0, 30.0, 33.0]
    _patched(detector, [WEAK, LARGE], [(found, 0.8)])
    boxes, scores = detector.detect_scored(FRAME)
    assert boxes.round().tolist() == [[64, 176, 160, 160], found] and scores.tolist() == pytest.approx([0.9, 0.8])
    _patched(detector, [WEAK], [(found, 0.55)])  # the closer look must be surer of a face it finds alone
    assert len(detector.detect_scored(FRAME)[0]) == 0


def test_a_small_face_the_closer_look_does_not_see_is_dropped_and_one_it_sees_is_better_placed() -> None:
    detector = _raw(DetectorConfig())
    _patched(detector, [SMALL], [])
    assert len(detector.detect_scored(FRAME)[0]) == 0
    seen_weakly = [386.0, 241.0, 30.0, 30.0]
    _patched(detector, [SMALL], [(seen_weakly, 0.52)])  # seen (>= min_score): the full pass's box stays
    boxes, _ = detector.detect_scored(FRAME)
    assert boxes.round().tolist() == [[384, 240, 32, 32]]
    _patched(detector, [SMALL], [(seen_weakly, 0.95)])  # seen surely: the closer look's box replaces it
    assert detector.detect_scored(FRAME)[0].round().tolist() == [seen_weakly]
    elsewhere = [100.0, 300.0, 30.0, 30.0]
    _patched(detector, [SMALL], [(elsewhere, 0.95)])  # a face found beside it does not vouch for it
    assert detector.detect_scored(FRAME)[0].round().tolist() == [elsewhere]


def test_without_zoom_the_full_pass_is_unchanged() -> None:
    detector = _raw(DetectorConfig(), zoom=False)
    asked = _patched(detector, [WEAK, SMALL, LARGE], [])
    boxes, _ = detector.detect_scored(FRAME)
    assert asked == [] and sorted(boxes.round().tolist()) == [[64, 176, 160, 160], [384, 240, 32, 32]]


def test_the_closer_look_is_capped_at_zoom_looks_strongest_first() -> None:
    weak = [([0.05 + 0.15 * i, 0.3, 0.05, 0.05], 0.2 + 0.05 * i) for i in range(6)]
    detector = _raw(DetectorConfig(), zoom_looks=4)
    asked = _patched(detector, weak, [])
    detector.detect_scored(FRAME)
    assert len(asked[0]) == 4 and [s.x for s in asked[0]] == sorted((s.x for s in asked[0]), reverse=True)


def _small_face_on_shelves(frame_index: int, width: int, at: tuple[float, float], seed: int) -> tuple[np.ndarray,
                                                                                                        np.ndarray]:
    """A generated shop wall with the sample clip's face (frame `frame_index`, with hair and shoulders) pasted
    `width` px wide (cheek to cheek) with its box at `at` ((0, 0): top-left corner, (1, 1): bottom-right);
    returns the frame and the hand-checked box moved there."""
    image = clip_frames({frame_index})[frame_index]
    x, y, w, h = CLIP_FACES[frame_index]
    x0, y0, x1, y1 = max(0, x - w // 2), max(0, y - h // 3), min(image.shape[1], x + w + w // 2), y + 2 * h
    scale = width / (w * FACE_SHARE)
    patch = cv2.resize(image[y0:y1, x0:x1], (round((x1 - x0) * scale), round((y1 - y0) * scale)),
                       interpolation=cv2.INTER_AREA)
    frame = np.clip(generated_background(640, 480, np.random.default_rng(seed)) + 0.5, 0, 255).astype(np.uint8)
    left, top = round(at[0] * (640 - w * scale)) - round((x - x0) * scale), round(at[1] * (480 - h * scale)) - round(
        (y - y0) * scale)
    fx0, fy0 = max(0, left), max(0, top)
    fx1, fy1 = min(640, left + patch.shape[1]), min(480, top + patch.shape[0])
    frame[fy0:fy1, fx0:fx1] = patch[fy0 - top:fy1 - top, fx0 - left:fx1 - left]
    return frame, np.array([left + (x - x0) * scale, top + (y - y0) * scale, w * scale, h * scale])


@pytest.mark.parametrize("at", [(0.1, 0.2), (0.9, 0.3), (0.5, 0.5), (0.0, 0.6), (1.0, 0.0), (0.3, 1.0)])
def test_a_small_face_anywhere_in_the_frame_is_found_where_it_is(at: tuple[float, float]) -> None:
    detector = BlazeFaceDetector(DetectorConfig())
    for width in (28, 32, 40):
        frame, truth = _small_face_on_shelves(40, width, at, seed=3)
        boxes = np.asarray(detector.detect(frame), float).reshape(-1, 4)
        assert len(boxes) == 1 and iou_one_to_many(truth, boxes)[0] >= 0.6, (width, truth, boxes)


def test_the_closer_look_places_a_face_right_from_any_cell_of_the_mosaic() -> None:
    frame, truth = _small_face_on_shelves(40, 32, (0.3, 0.6), seed=4)
    detector = BlazeFaceDetector(DetectorConfig())
    face = square_around(truth, 3.0, 48, 480, 640)
    empty = [Square(500, 20, 100), Square(20, 20, 120), Square(520, 360, 110)]  # shelves only
    for cell in range(4):
        squares = empty[:cell] + [face] + empty[cell:]
        boxes, _ = detector.look_closer(frame, squares, 0.6)
        assert len(boxes) == 1 and iou_one_to_many(truth, detector.framing.apply(boxes))[0] >= 0.6, (cell, boxes)


def test_an_excluded_zone_stays_unseen_by_the_closer_look() -> None:
    frame, truth = _small_face_on_shelves(40, 32, (0.8, 0.4), seed=3)
    square = square_around(truth, 3.0, 48, 480, 640)
    x0, x1 = (truth[0] - 4) / 640, (truth[0] + truth[2] + 4) / 640  # the face, and only around it, excluded
    zone = ZoneConfig(name="till", kind="exclude", polygon=[(x0, 0.0), (x1, 0.0), (x1, 1.0), (x0, 1.0)])
    seen, _ = BlazeFaceDetector(DetectorConfig()).look_closer(frame, [square], 0.5)
    assert len(seen) == 1 and square.side > truth[2] * 2
    unseen, _ = BlazeFaceDetector(DetectorConfig(), zones=ZoneMap([zone])).look_closer(frame, [square], 0.5)
    assert len(unseen) == 0


@pytest.fixture(scope="module")
def no_faces() -> np.ndarray:
    path = REPO.parent / "shared" / "data" / "media" / "no-faces.jpg"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        pytest.skip(f"{path}: the team's shared media are not here")
    return image


def test_face_free_scenes_stay_nearly_free_of_false_positives(no_faces: np.ndarray) -> None:
    """The cartoon of no-faces.jpg (round eyes: what a closer look mistakes most) at ten sizes, as the benchmark
    shows it, and ten generated shop walls."""
    detector = BlazeFaceDetector(DetectorConfig())
    found = 0
    for width in (24, 28, 32, 36, 40, 48, 56, 64, 80, 96):
        scale = width * 5 / no_faces.shape[1]
        image = cv2.resize(no_faces, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_LINEAR)[:480, :640]
        frame = np.full((480, 640, 3), 114, np.uint8)
        top, left = (480 - image.shape[0]) // 2, (640 - image.shape[1]) // 2
        frame[top:top + image.shape[0], left:left + image.shape[1]] = image
        found += len(detector.detect(frame))
    for seed in range(10):
        found += len(detector.detect(np.clip(generated_background(640, 480, np.random.default_rng(seed)) + 0.5, 0,
                                             255).astype(np.uint8)))
    assert found <= 1  # 0.05 a frame at most (the benchmark's bound is 0.1)

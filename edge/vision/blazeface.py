"""MediaPipe's BlazeFace face detector (full-range or back-camera model) on the LiteRT interpreter.

The model sees the whole frame letterboxed into its square input (192 or 256 px), so its
cost does not grow with the frame, and it finds faces Haar cannot (from about 24-28 px wide
in a 640x480 frame). The anchor grid, the box decoding and the weighted non-maximum
suppression are MediaPipe's published post-processing (its SSD anchor and tensors-to-
detections calculators), written here against numpy.

Boxes are returned in the framing the emotion model was trained on: FER-2013's faces were
cut by an OpenCV (Haar-like) detector, whose box is larger and sits higher than BlazeFace's.
`FER_FRAMING` holds that mapping per model, measured by `scripts/bench_detection.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from edgeemo.edge.inference.interpreter import open_interpreter
from edgeemo.edge.vision.detector import DetectorConfig
from edgeemo.edge.vision.zones import ZoneMap
from edgeemo.edge.vision.zoom import Square, merge_squares, mosaic_cells, square_around
from edgeemo.preprocess import Box

RAW_SCORE_LIMIT = 100.0  # MediaPipe's score_clipping_thresh: logits are clipped before the sigmoid
MIN_ZOOM_SIDE = 48  # frame pixels: a smaller square would only enlarge blur
CONFIRM_IOU = 0.2  # a closer look's box overlapping a full-pass face this much saw the same face


@dataclass(frozen=True)
class BlazeFaceModel:
    """One shipped model: its file, square input size and anchor layout."""

    file: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_cell_per_layer: int  # 2 with an interpolated aspect ratio (back), 1 without (full-range)


MODELS = {
    "full-range": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), 1),
    "back": BlazeFaceModel("face_detection_back.tflite", 256, (16, 32, 32, 32), 2),
}


@dataclass(frozen=True)
class Framing:
    """Maps a detector's box to the FER-2013 (Haar) framing: size times `scale`, centre moved by
    `dx`, `dy` shares of the detector box's width and height (negative dy: upwards)."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """(n, 4) float boxes x, y, w, h mapped to this framing."""
        if not len(boxes):
            return boxes
        x, y, w, h = boxes.T
        cx, cy = x + w / 2 + self.dx * w, y + h / 2 + self.dy * h
        w2, h2 = w * self.scale, h * self.scale
        return np.stack([cx - w2 / 2, cy - h2 / 2, w2, h2], axis=1)


# Measured by `python scripts/bench_detection.py` (reports/detection/bench.md, "FER framing"): the
# median of the annotated Haar box over the matched raw BlazeFace box, faces 40-96 px wide in a
# 640x480 frame (n=169 full-range, 193 back).
FER_FRAMING = {
    "full-range": Framing(scale=1.147, dx=-0.013, dy=-0.01),
    "back": Framing(scale=1.142, dx=-0.07, dy=-0.057),
}


def model_path(name: str) -> Path:
    """The shipped .tflite file of model `name` (package data, vendored from MediaPipe)."""
    return Path(str(resources.files("edgeemo.edge.vision") / "blazeface_data" / MODELS[name].file))


def ssd_anchors(model: BlazeFaceModel) -> np.ndarray:
    """(n, 2) anchor centres, fractions of the input, in the order of the model's outputs.

    Consecutive layers with the same stride share one grid; each contributes its anchors per
    cell. Anchor sizes are fixed (1x1), so only centres matter."""
    centres = []
    layer = 0
    while layer < len(model.strides):
        stride = model.strides[layer]
        per_cell = 0
        while layer < len(model.strides) and model.strides[layer] == stride:
            per_cell += model.anchors_per_cell_per_layer
            layer += 1
        cells = int(np.ceil(model.input_size / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode_boxes(regressors: np.ndarray, anchors: np.ndarray, input_size: int) -> np.ndarray:
    """(n, 4) boxes x, y, w, h as fractions of the input from the raw (n, >=4) regressors."""
    raw = regressors[:, :4] / input_size
    cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of `box` with each of `boxes` (x, y, w, h)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: the best box absorbs every box overlapping it by more than
    `iou_threshold`, and its coordinates become their score-weighted mean; its score stays."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    kept_boxes, kept_scores = [], []
    remaining = np.arange(len(scores))
    while len(remaining):
        best = remaining[0]
        overlaps = iou_one_to_many(boxes[best], boxes[remaining]) > iou_threshold
        overlaps[0] = True
        members = remaining[overlaps]
        weights = scores[members]
        kept_boxes.append((boxes[members] * weights[:, None]).sum(axis=0) / weights.sum())
        kept_scores.append(scores[best])
        remaining = remaining[~overlaps]
    if not kept_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Plain NMS: each box, best first, kept unless it overlaps a kept one by more than `iou_threshold`."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for index in order:
        if not kept or iou_one_to_many(boxes[index], boxes[kept]).max() <= iou_threshold:
            kept.append(int(index))
    return boxes[kept], scores[kept]


def clip_boxes(boxes: np.ndarray, scores: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes cut to the frame (a face at the edge is framed past it); those with no pixel inside dropped."""
    if not len(boxes):
        return boxes, scores
    x0, y0 = np.clip(boxes[:, 0], 0, width), np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    inside = (x1 - x0 >= 1) & (y1 - y0 >= 1)
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    return clipped[inside], scores[inside]


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square input: resized to `width` x `height` pixels (its
    aspect kept), then padded by `left` and `top` pixels (black)."""

    width: int
    height: int
    left: int
    top: int

    @classmethod
    def fit(cls, height: int, width: int, size: int) -> Letterbox:
        scale = size / max(height, width)
        new_w, new_h = max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale)))
        return cls(new_w, new_h, (size - new_w) // 2, (size - new_h) // 2)

    def to_frame(self, boxes: np.ndarray, size: int, height: int, width: int) -> np.ndarray:
        """Boxes in fractions of the square input -> pixels of the original `height` x `width` frame."""
        scale_x, scale_y = self.width / width, self.height / height
        out = boxes * size
        out[:, 0] = (out[:, 0] - self.left) / scale_x
        out[:, 1] = (out[:, 1] - self.top) / scale_y
        out[:, 2] /= scale_x
        out[:, 3] /= scale_y
        return out


class BlazeFaceDetector:
    """BlazeFace on colour frames (gray ones are repeated to three channels, at some loss of recall)."""

    wants_color = True

    def __init__(self, config: DetectorConfig, zones: ZoneMap | None = None, num_threads: int = 1) -> None:
        self.config = config
        self.spec = MODELS[config.model]
        self.framing = FER_FRAMING[config.model] if config.fer_framing else Framing()
        self.zones = zones if zones is not None and zones.active else None
        self.runtime, self.interpreter = open_interpreter(model_path(config.model), num_threads=num_threads)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        self.regressor_index = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        self.score_index = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        self.anchors = ssd_anchors(self.spec)
        expected = int(outputs[0]["shape"][1])
        if len(self.anchors) != expected:  # a model file that does not match its layout above
            raise ValueError(f"{config.model}: {len(self.anchors)} anchors for {expected} model outputs")

    def input_tensor(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The frame letterboxed into the model's square RGB input, scaled to [-1, 1]."""
        size = self.spec.input_size
        height, width = image.shape[:2]
        fit = Letterbox.fit(height, width, size)
        small = cv2.resize(image, (fit.width, fit.height), interpolation=cv2.INTER_AREA)
        if self.zones is not None:  # excluded areas are never seen by the model
            small = self.zones.blank(small)
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
        else:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        tensor = np.full((size, size, 3), -1.0, np.float32)  # black padding, as MediaPipe pads
        tensor[fit.top:fit.top + fit.height, fit.left:fit.left + fit.width] = small.astype(np.float32) / 127.5 - 1.0
        return tensor[None], fit

    def _scores(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One inference: every anchor's raw regressors and its score (MediaPipe's clipped sigmoid)."""
        self.interpreter.set_tensor(self.input_index, tensor)
        self.interpreter.invoke()
        regressors = self.interpreter.get_tensor(self.regressor_index)[0]
        logits = np.clip(self.interpreter.get_tensor(self.score_index)[0, :, 0].astype(np.float64),
                         -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        return regressors, 1.0 / (1.0 + np.exp(-logits))

    def _boxes(self, regressors: np.ndarray, scores: np.ndarray, low: float,
               high: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Boxes, fractions of the input, of the anchors scoring in [low, high), merged by weighted NMS."""
        chosen = (scores >= low) & (scores < high)
        boxes = decode_boxes(regressors[chosen], self.anchors[chosen], self.spec.input_size)
        return weighted_nms(boxes, scores[chosen], self.config.nms_iou)

    def detect_scored(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 4) float boxes in the frame's pixels (FER framing) and their scores, best first."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"BlazeFace takes 8-bit gray, BGR or BGRA frames, not {image.dtype} {image.shape}")
        if image.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        if image.ndim == 3 and image.shape[2] != 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if image.shape[2] == 4 else image[:, :, 0]
        height, width = image.shape[:2]
        size = self.spec.input_size
        tensor, letterbox = self.input_tensor(image)
        regressors, scores = self._scores(tensor)
        boxes, kept = self._boxes(regressors, scores, self.config.min_score, np.inf)
        boxes = letterbox.to_frame(boxes, size, height, width)
        if self.config.zoom:
            boxes, kept = self._zoomed(image, letterbox, regressors, scores, boxes, kept)
        boxes, kept = clip_boxes(self.framing.apply(boxes), kept, height, width)
        large = boxes[:, 2] >= self.config.min_face()  # after clipping: a sliver at the edge is no face to read
        return boxes[large], kept[large]

    def _zoomed(self, image: np.ndarray, letterbox: Letterbox, regressors: np.ndarray, scores: np.ndarray,
                boxes: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The full pass's boxes (frame pixels, raw framing) after a closer look at its small faces and weak
        candidates. A face the closer look finds (zoom_min_score) replaces the full pass's box of it (it is
        better placed) or is new (a weak candidate confirmed); a small face of the full pass that the closer
        look does not see (min_score) is dropped: most of the full pass's false positives are small."""
        config, size = self.config, self.spec.input_size
        height, width = image.shape[:2]
        weak, weak_scores = self._boxes(regressors, scores, config.zoom_score, config.min_score)
        weak = letterbox.to_frame(weak, size, height, width)
        new = np.array([not len(boxes) or iou_one_to_many(box, boxes).max() <= config.nms_iou for box in weak], bool)
        new &= np.maximum(weak[:, 2], weak[:, 3]) < config.zoom_below_px  # a large face is seen well enough
        small = np.maximum(boxes[:, 2], boxes[:, 3]) < config.zoom_below_px
        looks = np.concatenate([boxes[small], weak[new]])
        priority = np.argsort(-np.concatenate([kept[small], weak_scores[new]]), kind="stable")
        squares = merge_squares([square_around(looks[i], config.zoom_ratio, MIN_ZOOM_SIDE, height, width)
                                 for i in priority], config.zoom_looks)
        if not squares:
            return boxes, kept
        found, found_scores = self.look_closer(image, squares, min(config.min_score, config.zoom_min_score))
        seen = small & np.array([any(sq.holds(box) for sq in squares) for box in boxes], bool)
        confirmed = np.array([len(found) > 0 and iou_one_to_many(box, found).max() >= CONFIRM_IOU for box in boxes],
                             bool)
        boxes, kept = boxes[~seen | confirmed], kept[~seen | confirmed]
        strong = found_scores >= config.zoom_min_score
        found, found_scores = found[strong], found_scores[strong]
        alone = np.array([not len(found) or iou_one_to_many(box, found).max() < CONFIRM_IOU for box in boxes], bool)
        merged = np.concatenate([found, boxes[alone]]), np.concatenate([found_scores, kept[alone]])
        order = np.argsort(-merged[1], kind="stable")
        return merged[0][order], merged[1][order]

    def look_closer(self, image: np.ndarray, squares: list[Square], threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Faces (frame pixels, raw framing) scoring `threshold` or more in the squares of the frame, each square
        enlarged into a cell of the model's input; a face cut by a cell's border is left to the full pass."""
        config, size = self.config, self.spec.input_size
        height, width = image.shape[:2]
        source = self.zones.blank(image) if self.zones is not None else image  # excluded areas stay unseen
        found, found_scores = [np.zeros((0, 4))], [np.zeros(0)]
        for cells in mosaic_cells(squares, size, config.zoom_grid):
            tensor = np.full((size, size, 3), -1.0, np.float32)
            for cell in cells:
                sq = cell.square
                crop = source[sq.y:sq.y + sq.side, sq.x:sq.x + sq.side]
                crop = cv2.resize(crop, (cell.size, cell.size),
                                  interpolation=cv2.INTER_AREA if sq.side > cell.size else cv2.INTER_LINEAR)
                crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB if crop.ndim == 2 else cv2.COLOR_BGR2RGB)
                tensor[cell.top:cell.top + cell.size, cell.left:cell.left + cell.size] = crop / 127.5 - 1.0
            regressors, scores = self._scores(tensor[None])
            chosen = scores >= threshold
            boxes = decode_boxes(regressors[chosen], self.anchors[chosen], size) * size
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            for cell in cells:
                inside = cell.holds(centres)
                merged, kept = weighted_nms(boxes[inside], scores[chosen][inside], config.nms_iou)
                merged = cell.to_frame(merged)
                whole = ~cell.cut_off(merged, height, width)
                found.append(merged[whole])
                found_scores.append(kept[whole])
        boxes, scores = np.concatenate(found), np.concatenate(found_scores)
        if len(boxes) > 1:  # squares may overlap: one face, one box (the best)
            boxes, scores = greedy_nms(boxes, scores, config.nms_iou)
        return boxes.astype(np.float32), scores.astype(np.float32)

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in the pixels of `image` (colour BGR or gray)."""
        boxes, _ = self.detect_scored(image)
        return [(round(float(x)), round(float(y)), round(float(w)), round(float(h))) for x, y, w, h in boxes]

"""The zoomed pass's geometry: squares of the frame drawn, enlarged, into cells of one model input.

The full pass letterboxes the whole frame into BlazeFace's square input (640x480 into 256 px), so
a face 32 px wide is 13 px there: at the edge of what the model finds, and loosely boxed. Around a
weak or small candidate of the full pass (or a region the caller hints at), a square of the frame
at full resolution is cut and drawn into one cell of a mosaic (2x2 cells of the input): the face
is seen 2-3 times bigger, and four looks cost one more inference. Pure arithmetic, no model here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Square:
    """A square of the frame, in its pixels: top-left (`x`, `y`) and `side`."""

    x: int
    y: int
    side: int

    def holds(self, box: np.ndarray) -> bool:
        """Whether box (x, y, w, h) lies wholly in the square."""
        return bool(self.x <= box[0] and self.y <= box[1] and box[0] + box[2] <= self.x + self.side
                    and box[1] + box[3] <= self.y + self.side)


def square_around(box: np.ndarray, ratio: float, min_side: int, height: int, width: int) -> Square:
    """The square `ratio` times the box's larger side (at least `min_side`) centred on box (x, y, w, h),
    moved (not cut) to lie inside the frame: a face near the edge is seen whole, with context."""
    side = int(min(max(round(ratio * float(max(box[2], box[3]))), min_side), height, width))
    cx, cy = float(box[0] + box[2] / 2), float(box[1] + box[3] / 2)
    x = int(min(max(round(cx - side / 2), 0), width - side))
    y = int(min(max(round(cy - side / 2), 0), height - side))
    return Square(x, y, side)


def merge_squares(squares: list[Square], limit: int) -> list[Square]:
    """At most `limit` squares: a square lying mostly (>= 70%) inside an earlier one adds no look, so it is
    dropped. Order is priority (the caller puts the strongest first)."""
    kept: list[Square] = []
    for square in squares:
        if len(kept) == limit:
            break
        if any(_inside_share(square, other) >= 0.7 for other in kept):
            continue
        kept.append(square)
    return kept


def _inside_share(a: Square, b: Square) -> float:
    """Share of square `a`'s area that lies inside `b`."""
    w = max(0, min(a.x + a.side, b.x + b.side) - max(a.x, b.x))
    h = max(0, min(a.y + a.side, b.y + b.side) - max(a.y, b.y))
    return w * h / float(a.side * a.side)


@dataclass(frozen=True)
class Cell:
    """Where one square of the frame is drawn in the model's input: top-left (`left`, `top`), `size` px."""

    square: Square
    left: int
    top: int
    size: int

    @property
    def scale(self) -> float:
        """Input pixels per frame pixel (above 1: enlarged)."""
        return self.size / self.square.side

    def holds(self, centres: np.ndarray) -> np.ndarray:
        """Which (n, 2) centres, pixels of the input, lie in this cell."""
        x, y = centres[:, 0], centres[:, 1]
        return (x >= self.left) & (x < self.left + self.size) & (y >= self.top) & (y < self.top + self.size)

    def to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """(n, 4) boxes x, y, w, h in pixels of the input -> pixels of the frame."""
        out = boxes / self.scale
        out[:, 0] += self.square.x - self.left / self.scale
        out[:, 1] += self.square.y - self.top / self.scale
        return out

    def cut_off(self, boxes: np.ndarray, height: int, width: int, slack: float = 0.15) -> np.ndarray:
        """Which (n, 4) frame boxes reach past the square by more than `slack` of their size on a side where
        the square does not end at the frame's edge: a face cut by the cell's border, boxed from half of it."""
        sq = self.square
        x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
        sx, sy = slack * boxes[:, 2], slack * boxes[:, 3]
        return (((x0 < sq.x - sx) & (sq.x > 0)) | ((y0 < sq.y - sy) & (sq.y > 0))
                | ((x1 > sq.x + sq.side + sx) & (sq.x + sq.side < width))
                | ((y1 > sq.y + sq.side + sy) & (sq.y + sq.side < height)))


def mosaic_cells(squares: list[Square], input_size: int, grid: int) -> list[list[Cell]]:
    """The squares laid out `grid` x `grid` to an input (row by row); one list of cells per inference."""
    size = input_size // grid
    per_input = grid * grid
    inputs = []
    for start in range(0, len(squares), per_input):
        inputs.append([Cell(square, (i % grid) * size, (i // grid) * size, size)
                       for i, square in enumerate(squares[start:start + per_input])])
    return inputs

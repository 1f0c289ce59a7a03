"""Frames of simulated store footage and the truth about them.

`Renderer` draws each frame: the background under the current light, every shopper in view
(farthest first, so nearer ones hide them), the sensor's noise. Each frame's true face boxes
(in the FER framing the models were trained on) are recorded beside it. Compression is the
footage writer's job (edgeemo.sim.footage), so what a device reads went through a real codec.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeemo.sim.heads import Sprite, draw_head, paste
from edgeemo.sim.profile import Profile
from edgeemo.sim.scene import Background, Sensor
from edgeemo.sim.shoppers import Shopper

Box = tuple[int, int, int, int]


@dataclass
class Truth:
    """What happened: each shopper, and each frame's face boxes by shopper id."""

    shoppers: list[Shopper]
    fps: float
    frames: int = 0
    boxes: dict[int, list[tuple[int, Box]]] = field(default_factory=dict)  # shopper id -> [(frame, box)]

    def frame_index(self) -> dict[int, list[tuple[int, Box]]]:
        """frame -> [(shopper id, true box)], built once."""
        if getattr(self, "_by_frame", None) is None:
            by_frame: dict[int, list[tuple[int, Box]]] = {}
            for shopper, boxes in self.boxes.items():
                for index, box in boxes:
                    by_frame.setdefault(index, []).append((shopper, box))
            self._by_frame = by_frame
        return self._by_frame

    def in_view(self, shopper_id: int) -> tuple[float, float] | None:
        """First and last time (s) the shopper's face box lies wholly in the frame."""
        frames = [index for index, _ in self.boxes.get(shopper_id, [])]
        return (frames[0] / self.fps, frames[-1] / self.fps) if frames else None


def _cover(sprite: Sprite, face_x: int, face_y: int, box: Box) -> float:
    """The share of `box` the sprite pasted with its face at (face_x, face_y) covers (by its alpha)."""
    x0, y0 = face_x - sprite.face[0], face_y - sprite.face[1]
    h, w = sprite.alpha.shape
    bx, by, bw, bh = box
    ix0, iy0, ix1, iy1 = max(bx, x0), max(by, y0), min(bx + bw, x0 + w), min(by + bh, y0 + h)
    if ix1 <= ix0 or iy1 <= iy0:
        return 0.0
    return float(sprite.alpha[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0].sum()) / (bw * bh)


class Renderer:
    """Renders a profile's footage of the given shoppers, whose faces are 48x48 gray arrays."""

    def __init__(self, profile: Profile, faces: np.ndarray, shoppers: Sequence[Shopper], seed: int,
                 background: Path | None = None) -> None:
        cam = profile.camera
        self.profile, self.faces, self.shoppers = profile, faces, sorted(shoppers, key=lambda s: s.arrive_s)
        rng = np.random.default_rng((seed, 2))
        self.background = Background(cam.width, cam.height, rng, background)
        self.sensor = Sensor(cam.width, cam.height, profile.image.noise_sigma, profile.image.light_drift, cam.fps,
                             np.random.default_rng((seed, 3)))
        self.seed = seed
        self.sprites: dict[int, Sprite] = {}
        self.truth = Truth(list(shoppers), cam.fps)
        self.frame_count = int(np.ceil((max((s.leave_s for s in shoppers), default=0.0) + 0.5) * cam.fps))

    def _sprite(self, shopper: Shopper) -> Sprite:
        if shopper.id not in self.sprites:
            rng = np.random.default_rng((self.seed, 4, shopper.id))
            self.sprites[shopper.id] = draw_head(self.faces[shopper.face], shopper.face_px, rng)
        return self.sprites[shopper.id]

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame, uint8 BGR, in order; the truth fills in as they are drawn."""
        cam = self.profile.camera
        waiting = list(self.shoppers)
        active: list[Shopper] = []
        for index in range(self.frame_count):
            t = index / cam.fps
            while waiting and waiting[0].arrive_s <= t:
                active.append(waiting.pop(0))
            frame = self.background.at(index)
            drawn: list[tuple[int, Box, float]] = []  # shopper, face box, how much of it nearer ones hide
            for shopper in sorted(active, key=lambda s: -s.distance_m):  # far ones first: the near hide them
                lateral = shopper.lateral(t)
                if lateral is None:
                    continue
                u, v = self.profile.project(lateral, shopper.distance_m, shopper.face_height_m)
                w = shopper.face_px
                x, y = round(u - w / 2), round(v - w / 2)
                sprite = self._sprite(shopper)
                paste(frame, sprite, x, y)
                drawn = [(sid, box, hidden + _cover(sprite, x, y, box)) for sid, box, hidden in drawn]
                if 0 <= x and 0 <= y and x + w <= cam.width and y + w <= cam.height:
                    drawn.append((shopper.id, (x, y, w, w), 0.0))
            for sid, box, hidden in drawn:  # a face more than a third hidden is not one a detector could find
                if hidden < 1 / 3:
                    self.truth.boxes.setdefault(sid, []).append((index, box))
            active = [s for s in active if s.leave_s >= t]
            for gone in [i for i in self.sprites if all(s.id != i for s in active)]:
                del self.sprites[gone]
            self.truth.frames = index + 1
            yield self.sensor.expose(frame, index)

"""Who walks through the view, and when: one shopper per face, each with one expression, a
distance, a walk in, a pause and a walk out. Deterministic by seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeemo.sim.profile import Profile

SHOULDERS_M = 0.5  # how far past the frame's edge a shopper starts and ends, so no body pops in


@dataclass(frozen=True)
class Shopper:
    """One shopper's path: lateral position (m, right of the axis) over time, at a fixed distance."""

    id: int
    face: int  # index into the faces
    label: str
    distance_m: float
    face_height_m: float
    face_px: int
    arrive_s: float
    start_m: float
    pause_m: float
    end_m: float
    speed_m_s: float
    dwell_s: float

    @property
    def walk_in_s(self) -> float:
        return abs(self.pause_m - self.start_m) / self.speed_m_s

    @property
    def leave_s(self) -> float:
        return self.arrive_s + self.walk_in_s + self.dwell_s + abs(self.end_m - self.pause_m) / self.speed_m_s

    def lateral(self, t: float) -> float | None:
        """Where the shopper is at time t (None before arriving or after leaving)."""
        since = t - self.arrive_s
        if since < 0 or t > self.leave_s:
            return None
        if since < self.walk_in_s:
            return self.start_m + np.sign(self.pause_m - self.start_m) * since * self.speed_m_s
        since -= self.walk_in_s
        if since < self.dwell_s:
            return self.pause_m
        since -= self.dwell_s
        return self.pause_m + np.sign(self.end_m - self.pause_m) * since * self.speed_m_s


def plan_shoppers(faces: Sequence[int], labels: Sequence[str], profile: Profile, rng: np.random.Generator,
                  start_s: float = 0.5, distances: Sequence[float] | None = None,
                  face_heights: Sequence[float] | None = None) -> list[Shopper]:
    """A shopper for each face, in the given order, arriving as a Poisson stream. `distances` and
    `face_heights` (one per face) override the profile's draws (a calibration run sizes each face)."""
    spec = profile.shoppers
    shoppers, t = [], start_s
    for i, (face, label) in enumerate(zip(faces, labels)):
        distance = float(distances[i]) if distances is not None else float(rng.uniform(*spec.distance_m))
        height = float(face_heights[i]) if face_heights is not None else float(rng.uniform(*spec.face_height_m))
        half = profile.half_width_m(distance, height)
        side = 1.0 if rng.random() < 0.5 else -1.0
        start = side * (half + SHOULDERS_M)
        end = -start if rng.random() < 0.7 else start  # most walk through, some turn back
        shoppers.append(Shopper(
            id=i + 1, face=int(face), label=str(label), distance_m=round(distance, 3), face_height_m=round(height, 3),
            face_px=round(profile.face_px(distance, height)), arrive_s=round(t, 3), start_m=start,
            pause_m=float(rng.uniform(-0.6, 0.6) * half), end_m=end, speed_m_s=float(rng.uniform(*spec.walk_m_s)),
            dwell_s=float(spec.dwell_median_s * np.exp(spec.dwell_sigma * rng.normal())),
        ))
        t += float(rng.exponential(60.0 / spec.per_minute))
    return shoppers

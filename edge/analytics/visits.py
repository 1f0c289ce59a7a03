"""Per-track emotion smoothing and the visit it becomes: one shopper, one visit.

Smoothing is an exponential moving average of the class probabilities, or a vote over the
last N frames; either way a label does not flicker frame to frame. When a track ends its
smoothed labels are summarised as a visit: start, end, dwell, dominant emotion and shares.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from edgeemo.aggregates import NO_ZONE
from edgeemo.tomlconfig import Section


class SmoothingConfig(Section):
    """`[smoothing]`: how a track's per-frame emotions become one label, and which tracks are visits."""

    mode: Literal["ema", "vote"] = "ema"
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="ema weight of the newest frame")
    window: int = Field(15, ge=1, le=1000, description="vote window in frames")
    min_dwell_s: float = Field(1.0, ge=0.0, le=3600, description="shorter tracks are not counted as visits")


@dataclass
class Visit:
    track_id: int
    start: float
    end: float
    dominant: str
    shares: dict[str, float]
    zone: str = NO_ZONE
    face_px: float | None = None  # the median width of the face crops it was read from (its size band)

    @property
    def dwell_s(self) -> float:
        return self.end - self.start


@dataclass
class TrackEmotion:
    """Smoothed emotion of one track. mode: 'ema' (alpha) or 'vote' (window frames)."""

    labels: tuple[str, ...]
    mode: str = "ema"
    alpha: float = 0.3
    window: int = 15
    _ema: np.ndarray | None = None
    _recent: deque = field(default_factory=deque)
    counts: Counter = field(default_factory=Counter)
    sizes: list[float] = field(default_factory=list)  # the width of each crop classified

    label: str | None = None

    def update(self, probabilities: np.ndarray, frames: int = 1, face_px: float | None = None) -> str:
        """Feed one classification's probabilities, standing for the last `frames` frames (the rate
        cap classifies every few: the smoothing weighs it as that many frames of the same face);
        returns the smoothed label for this frame. `face_px`: the crop's width."""
        frames = max(1, frames)
        if face_px is not None and len(self.sizes) < 10_000:
            self.sizes.append(float(face_px))
        if self.mode == "ema":
            weight = 1 - (1 - self.alpha) ** frames
            self._ema = probabilities.copy() if self._ema is None else (
                weight * probabilities + (1 - weight) * self._ema)
            label = self.labels[int(np.argmax(self._ema))]
        elif self.mode == "vote":
            self._recent.extend([int(np.argmax(probabilities))] * min(frames, self.window))
            while len(self._recent) > self.window:
                self._recent.popleft()
            votes = Counter(self._recent)
            best = max(votes.values())
            # ties go to the most recent of the tied labels: the display follows the face
            label = self.labels[next(i for i in reversed(self._recent) if votes[i] == best)]
        else:
            raise ValueError(f"smoothing mode {self.mode!r}: choose ema or vote")
        self.counts[label] += 1
        self.label = label
        return label

    def hold(self) -> str | None:
        """A frame without a classification: it counts under the current smoothed label."""
        if self.label is not None:
            self.counts[self.label] += 1
        return self.label

    @property
    def confidence(self) -> float | None:
        """How settled the smoothed emotion is (top probability, or the top label's votes over the window);
        None before any classification."""
        if self.mode == "ema":
            return None if self._ema is None else float(np.max(self._ema))
        if not self._recent:
            return None
        # top votes over the whole window: a new face's one vote is not yet a settled emotion
        return Counter(self._recent).most_common(1)[0][1] / self.window

    def visit(self, track_id: int, start: float, end: float, zone: str = NO_ZONE) -> Visit | None:
        total = sum(self.counts.values())
        if total == 0:
            return None
        shares = {label: self.counts[label] / total for label in self.labels if self.counts[label]}
        face_px = float(np.median(self.sizes)) if self.sizes else None
        return Visit(track_id, start, end, self.counts.most_common(1)[0][0], shares, zone, face_px)

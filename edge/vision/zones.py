"""Zones: named polygons of the frame that are analysed, or excluded (staff areas) and never analysed.

Coordinates are fractions of the frame (0..1), so a zone survives a change of resolution.
A face belongs to the zone that holds the centre of its box. Exclude zones are blanked in
the detector's input, so a face there is normally never even detected; a face straddling a
border that is detected anyway is dropped by the box-centre rule before it is tracked,
cropped or classified. When any analyse zone exists, the rest of the frame is treated as
excluded too. With no zones, the whole frame is one zone, `all`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeemo.aggregates import NO_ZONE
from edgeemo.preprocess import Box
from edgeemo.wire import ZONE_PATTERN


class ZoneConfig(BaseModel):
    """One `[[zones]]` table of the config."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ZONE_PATTERN, description="letters, digits, _ . -; shown in reports")
    kind: Literal["analyse", "exclude"] = Field(description="analyse: counted under its name; exclude: never analysed")
    polygon: list[tuple[float, float]] = Field(description="[x, y] points, fractions of the frame from 0 to 1")

    @model_validator(mode="after")
    def _valid_polygon(self) -> ZoneConfig:
        if self.name == NO_ZONE:
            raise ValueError(f"zone {NO_ZONE!r}: the name is reserved for the whole frame when no zones are set")
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r}: a polygon needs at least 3 points, got {len(self.polygon)}")
        for x, y in self.polygon:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"zone {self.name!r}: point [{x}, {y}] is outside the frame (coordinates are 0..1)")
        shape = self.shape()
        if not shape.is_valid:
            from shapely.validation import explain_validity

            raise ValueError(f"zone {self.name!r}: the polygon is not simple ({explain_validity(shape)}); "
                             "list its points in order around the edge")
        if shape.area == 0:
            raise ValueError(f"zone {self.name!r}: the polygon has no area")
        return self

    def shape(self):
        from shapely.geometry import Polygon

        return Polygon(self.polygon)


def check_zones(zones: Sequence[ZoneConfig]) -> None:
    """Names are unique and analyse zones do not overlap (a face must belong to one zone).

    Overlapping analyse zones are refused rather than ranked: a silent precedence rule would
    move counts between zones without anyone noticing. Exclude zones may overlap anything:
    exclusion always wins.
    """
    seen: set[str] = set()
    for zone in zones:
        if zone.name in seen:
            raise ValueError(f"zone {zone.name!r}: the name is used twice")
        seen.add(zone.name)
    analysed = [zone for zone in zones if zone.kind == "analyse"]
    for i, first in enumerate(analysed):
        for second in analysed[i + 1:]:
            if first.shape().intersection(second.shape()).area > 0:
                raise ValueError(f"zone {second.name!r}: overlaps analyse zone {first.name!r}; analyse zones must "
                                 "not overlap (touching edges are fine)")


class ZoneMap:
    """The configured zones at run time: which zone a face is in, and what the detector must not see."""

    def __init__(self, zones: Sequence[ZoneConfig]) -> None:
        self.excluded = [np.asarray(z.polygon, dtype=np.float32) for z in zones if z.kind == "exclude"]
        self.analysed = [(z.name, np.asarray(z.polygon, dtype=np.float32)) for z in zones if z.kind == "analyse"]
        self.names = tuple(name for name, _ in self.analysed) or (NO_ZONE,)
        self._masks: dict[tuple[int, int], np.ndarray | None] = {}

    @property
    def active(self) -> bool:
        return bool(self.excluded or self.analysed)

    def zone_of(self, box: Box, width: int, height: int) -> str | None:
        """The zone holding the box's centre, or None when the face must not be analysed."""
        x, y, w, h = box
        centre = ((x + w / 2) / width, (y + h / 2) / height)
        if any(cv2.pointPolygonTest(polygon, centre, False) >= 0 for polygon in self.excluded):
            return None
        if not self.analysed:
            return NO_ZONE
        for name, polygon in self.analysed:
            if cv2.pointPolygonTest(polygon, centre, False) >= 0:
                return name
        return None

    def blank_mask(self, height: int, width: int) -> np.ndarray | None:
        """Pixels of a (height, width) image the detector must not see; None when there are none."""
        key = (height, width)
        if key not in self._masks:
            self._masks[key] = self._make_mask(height, width) if self.active else None
        return self._masks[key]

    def _make_mask(self, height: int, width: int) -> np.ndarray:
        scale = np.array([width, height], dtype=np.float32)

        def pixels(polygon: np.ndarray) -> np.ndarray:
            return np.round(polygon * scale).astype(np.int32)

        if self.analysed:
            keep = np.zeros((height, width), np.uint8)
            cv2.fillPoly(keep, [pixels(p) for _, p in self.analysed], 1)
            blank = keep == 0
        else:
            blank = np.zeros((height, width), bool)
        if self.excluded:
            excluded = np.zeros((height, width), np.uint8)
            cv2.fillPoly(excluded, [pixels(p) for p in self.excluded], 1)
            blank |= excluded.astype(bool)
        return blank

    def blank(self, gray: np.ndarray) -> np.ndarray:
        """`gray` with the blanked pixels set to black (a copy; the caller's frame is untouched)."""
        mask = self.blank_mask(*gray.shape[:2])
        if mask is None:
            return gray
        out = gray.copy()
        out[mask] = 0
        return out


ZONE_COLOURS = {"analyse": (60, 180, 60), "exclude": (40, 40, 220)}  # BGR: green, red


def draw_zones(image: np.ndarray, zones: Sequence[ZoneConfig]) -> np.ndarray:
    """A copy of a colour frame with each zone shaded, outlined and named (for the installer to check)."""
    out = image.copy()
    height, width = out.shape[:2]
    shade = out.copy()
    scale = np.array([width, height], dtype=np.float32)
    for zone in zones:
        points = np.round(np.asarray(zone.polygon, np.float32) * scale).astype(np.int32)
        cv2.fillPoly(shade, [points], ZONE_COLOURS[zone.kind])
    out = cv2.addWeighted(shade, 0.35, out, 0.65, 0)
    font_scale = max(0.4, width / 1200)
    for zone in zones:
        points = np.round(np.asarray(zone.polygon, np.float32) * scale).astype(np.int32)
        cv2.polylines(out, [points], True, ZONE_COLOURS[zone.kind], max(1, width // 400))
        x, y = points.mean(axis=0).astype(int)
        text = f"{zone.name} ({'not analysed' if zone.kind == 'exclude' else 'analysed'})"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        cv2.rectangle(out, (x - tw // 2 - 3, y - th - 3), (x + tw // 2 + 3, y + 4), (255, 255, 255), -1)
        cv2.putText(out, text, (x - tw // 2, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    if not any(zone.kind == "analyse" for zone in zones) or not zones:
        return out
    note = "outside the analyse zones: not analysed"
    cv2.putText(out, note, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(out, note, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out

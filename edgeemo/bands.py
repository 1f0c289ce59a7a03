"""Face-size bands: a visit is counted in the band of its median face width (the crop the model
read), so that each band is corrected with the model's confusion at that size. Part of the
device-to-hub contract (payload version 4 carries visits by band and label)."""

from __future__ import annotations

import bisect
import math

EDGES_PX = (28, 36, 48)  # band k holds widths in [EDGES_PX[k-1], EDGES_PX[k]); the last is 48 px and up
NAMES = ("lt28", "28-36", "36-48", "ge48")
UNSIZED = "unsized"  # a visit whose face width was not measured (rows from before bands): the calibration of all sizes
WIRE_NAMES = (*NAMES, UNSIZED)


def band_of(face_px: float | None) -> str:
    """The band a visit of this median face width falls in (UNSIZED: the width was not measured)."""
    if face_px is None or math.isnan(face_px):
        return UNSIZED
    return NAMES[bisect.bisect_right(EDGES_PX, face_px)]


def band_range(name: str) -> tuple[float, float]:
    """[low, high) face widths of a band, in px (high is infinite for the last)."""
    index = NAMES.index(name)
    low = 0.0 if index == 0 else float(EDGES_PX[index - 1])
    high = float(EDGES_PX[index]) if index < len(EDGES_PX) else float("inf")
    return low, high

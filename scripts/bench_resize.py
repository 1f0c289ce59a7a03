"""The cost of enlarging a face crop to the model's 48x48 input, per crop, one thread: each
interpolation at each crop width (this machine; a Raspberry Pi 4's cost is an estimate, scaled by the
model card's own x86-to-Pi-4 ratio for the int8 model, and labelled so).

    python scripts/bench_resize.py --out reports/sizes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic (default)": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
WIDTHS = (24, 32, 40)
# The model card's Pi 4 estimate for the v2-sized int8 model (7-14 ms) over its x86 measurement (0.74 ms):
# the same factor applied to the resize (an estimate: OpenCV's NEON paths may scale otherwise).
PI4_FACTOR = (7.0 / 0.74, 14.0 / 0.74)


def per_crop_us(interpolation: int, width: int, repeats: int = 20000) -> float:
    crops = [np.random.default_rng(i).integers(0, 256, (width, width), dtype=np.uint8) for i in range(64)]
    for crop in crops:  # warm up
        cv2.resize(crop, (48, 48), interpolation=interpolation)
    best = float("inf")
    for _ in range(5):  # the best of five passes: the least disturbed by the host
        started = time.perf_counter()
        for i in range(repeats):
            cv2.resize(crops[i % 64], (48, 48), interpolation=interpolation)
        best = min(best, (time.perf_counter() - started) / repeats * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rows = {name: {str(w): round(per_crop_us(code, w), 2) for w in WIDTHS} for name, code in INTERPOLATIONS.items()}
    result = {"unit": "microseconds per crop, one thread, best of 5 passes of 20,000", "x86": rows,
              "pi4_estimate_factor": [round(f, 1) for f in PI4_FACTOR],
              "pi4_estimate_us": {name: {w: [round(v * PI4_FACTOR[0], 1), round(v * PI4_FACTOR[1], 1)]
                                         for w, v in by.items()} for name, by in rows.items()}}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "resize_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

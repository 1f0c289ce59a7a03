"""Does the corrected index's sampling interval fit the spread of the figure? Per face-size band of a model's
chain calibration, store-days of n visits are drawn from the band's own confusion at FER's natural mix; the
figure shown (the clipped corrected mix's index) is computed on each, and its spread is set against the
standard error the estimator states with the pseudo-visits spread evenly (before) and where the store's
corrected mix sends its answers (now). Sampling only: the calibration's own error is left out on purpose.

    python scripts/interval_spread.py models/ferplus_cnn_int8.json > reports/chain/interval_spread.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.calibrations import band_calibrations
from edgeemo.estimates import MixCorrection
from edgeemo.intervals import Z95, smoothed

DRAWS = 3000


def main() -> int:
    record = json.loads(Path(sys.argv[1]).read_text())["calibration"]
    labels = record["labels"]
    groups = DEFAULT_GROUPS.for_labels(labels)
    sign = np.array(groups.signs(labels))
    counts = np.asarray(record["counts"], float)
    natural = counts.sum(axis=1) / counts.sum()
    rng = np.random.default_rng(0)
    print(f"{DRAWS} store-days per row, natural mix, seed 0 ({Path(sys.argv[1]).name})\n")
    print("| band | n | spread of the figure (sd) | stated, even (before) | coverage | stated, as answered (now) | coverage |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for band, calibration in band_calibrations(record).items():
        correction = MixCorrection.of(calibration)
        if correction is None:
            continue
        v = sign @ correction.inverse
        answers = natural @ (calibration.counts / calibration.counts.sum(axis=1, keepdims=True))
        for n in (50, 200, 1000):
            figures, stated = [], {"even": [], "answered": []}
            for _ in range(DRAWS):
                q = rng.multinomial(n, answers) / n
                true = np.clip(correction.inverse @ q, 0.0, 1.0)
                true /= true.sum()
                figures.append(sign @ true)
                fitted = correction.matrix @ true
                for name, towards in (("even", None), ("answered", fitted / fitted.sum())):
                    p = np.array(smoothed(q, n, towards))
                    stated[name].append(np.sqrt(max(float(v**2 @ p - (v @ p) ** 2), 0.0) / n))
            error = np.abs(np.array(figures) - sign @ natural)
            cells = [f"{np.mean(s):.3f} | {np.mean(error <= Z95 * np.array(s)):.3f}" for s in stated.values()]
            print(f"| {band or 'all sizes'} | {n:,} | {np.std(figures):.3f} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

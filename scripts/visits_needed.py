"""How many visits a bucket needs: the 95% half-width of the satisfaction index, and the smallest
difference between two buckets of that many visits found significant 80% of the time (two-sided
test at 95%), for a model's corrected index and for the raw count.

Computed from the model's sidecar calibration with the estimators the hub and `edgeemo report`
use (edgeemo.estimates), at the mix its validation faces were read as (a typical store-day),
so it is arithmetic on the calibration, not a new measurement:
    python scripts/visits_needed.py models/ferplus_cnn_int8.json > reports/quantify/visits_needed.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.estimates import Z95, Calibration, index_estimate

Z80 = 0.8416212335729143  # one-sided 80% quantile of the normal distribution: 80% power
SIZES = (20, 50, 100, 200, 500, 1000, 2000, 5000)


def main(sidecar_path: str) -> None:
    sidecar = json.loads(Path(sidecar_path).read_text())
    calibration = Calibration.from_dict(sidecar["calibration"])
    groups = DEFAULT_GROUPS.for_labels(calibration.labels)
    answers = calibration.counts.sum(axis=0) / calibration.counts.sum()  # the shares the model reported
    print(f"Visits needed, {sidecar['model_file']} (calibration: {sidecar['calibration']['source']}), at the mix "
          "its validation faces were read as. Computed by scripts/visits_needed.py from the calibration.\n")
    print("| visits per bucket | ±95% corrected | ±95% raw count | smallest difference seen 80% of the time, "
          "corrected | same, raw count |")
    print("|---:|---:|---:|---:|---:|")
    for n in SIZES:
        counts = dict(zip(calibration.labels, (answers * n).tolist()))
        corrected, raw = index_estimate(counts, groups, calibration), index_estimate(counts, groups)
        detect = [(Z95 + Z80) * np.sqrt(2) * e.standard_error for e in (corrected, raw)]
        print(f"| {n:,} | {corrected.half_width:.2f} | {raw.half_width:.2f} | {detect[0]:.2f} | {detect[1]:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])

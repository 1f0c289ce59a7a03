"""Where `mixshift`'s coverage goes: the corrected index's coverage, bias and interval half-width on
still-face store-days whose negative visits are all one emotion, by that emotion (the scenario of
`edgeemo evaluate --quantify`, cross-fitted as there: two folds of the scored faces, five splits, each
corrected with the sidecar's validation source and the other fold).

    python scripts/mixshift_by_label.py models/ferplus_cnn_int8.tflite ../shared/data/fer2013 \
        ../shared/data/ferplus/ferplus_votes.csv > reports/quantify/ferplus_cnn_int8_mixshift_by_label.txt
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.estimates import index_estimate
from edgeemo.sidecar import read_sidecar
from edgeemo.train.evaluate import _faces, predict_all
from edgeemo.train.predictors import load_predictor
from edgeemo.train.quantify import CrossFit, _plans, scenario_mix


def main() -> int:
    model, data = Path(sys.argv[1]), sys.argv[2]
    votes = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    predictor = load_predictor(model)
    faces = _faces(model, data, "test", predictor.input_size, votes).for_model(predictor.labels, model)
    truth_of, answer_of = faces.labels, predict_all(predictor, faces.images, progress=False).argmax(axis=1)
    labels = list(predictor.labels)
    sources = read_sidecar(model).calibration["sources"]
    base = tuple(np.asarray(sources[name]["counts"], float) for name in sources if name != "test")
    plans = _plans(truth_of, answer_of, labels, None, CrossFit(base, 2, 5), np.ones(len(truth_of), bool), 0)
    groups = DEFAULT_GROUPS.for_labels(labels)
    sign = np.array(groups.signs(labels))
    natural = np.bincount(truth_of, minlength=len(labels)) / len(truth_of)
    rng = np.random.default_rng(0)
    found: dict[tuple[int, str], list] = defaultdict(list)
    for n in (200, 1000):
        for draw in range(2000):
            answers, calibration = plans[draw % len(plans)]
            mix = scenario_mix("mixshift", natural, labels, groups, rng)
            negative = labels[int(np.flatnonzero(mix * (sign < 0))[0])]
            counts = np.zeros(len(labels), np.int64)
            for c, m in enumerate(rng.multinomial(n, mix)):
                if m:
                    counts += rng.multinomial(m, answers[c])
            estimate = index_estimate(dict(zip(labels, counts.tolist())), groups, calibration)
            assert estimate.value is not None and estimate.low is not None and estimate.high is not None
            truth = float(sign @ mix)
            found[(n, negative)].append((estimate.low <= truth <= estimate.high, estimate.value - truth,
                                         (estimate.high - estimate.low) / 2))
    print(f"{model.name} on {faces.source}: test faces per label "
          + ", ".join(f"{x} {int((truth_of == i).sum())}" for i, x in enumerate(labels)))
    print("| n | negatives all | store-days | coverage | bias | interval half-width |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for (n, negative), rows in sorted(found.items()):
        table = np.array(rows, float)
        print(f"| {n} | {negative} | {len(table)} | {table[:, 0].mean():.3f} | {table[:, 1].mean():+.4f} | "
              f"{table[:, 2].mean():.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What `edgeemo evaluate --chain` adds to a model's report: the chain's visits matched to the truth,
its store-day figures against the truth's, and (`--write-calibration`) the model's calibration
through the chain, per face-size band."""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeemo.bands import EDGES_PX, NAMES, UNSIZED, band_range
from edgeemo.calibrations import band_calibrations, check_enough, merge_chain
from edgeemo.edge.inference.model import open_edge_model
from edgeemo.errors import EdgeemoError
from edgeemo.estimates import add_up
from edgeemo.machine import usable_cpus
from edgeemo.sim.chain import ChainRun, run_chains, summary_of
from edgeemo.sim.chain_score import Outcomes, fold_calibrations, score_chain
from edgeemo.sim.profile import ImageSpec, Profile, load_profile

log = logging.getLogger(__name__)
# A calibration run shows every face in two of the bands: its width drawn within the band (the first from
# 20 px, the last up to 72 px), half the faces through H.264 CRF 23 and half through JPEG q70 (the two
# shipped profiles' image paths).
CALIBRATION_PX = {NAMES[0]: (20.0, float(EDGES_PX[0])), NAMES[-1]: (float(EDGES_PX[-1]), 72.0)}
BANDS_PER_FACE = 2  # each face in two of the four bands: half the hours of every face in every band
BAND_MIN_GROUP_FACES = 25  # a band's visits in each satisfaction group, at least (the still faces' rule is 50)
CALIBRATION_IMAGES = (ImageSpec(codec="h264", quality=23, noise_sigma=2.0, light_drift=0.1),
                      ImageSpec(codec="jpeg", quality=70, noise_sigma=3.0, light_drift=0.15))


def _model(path: Path):
    if path.suffix != ".tflite":
        raise EdgeemoError(f"--chain runs the device's loop, which runs .tflite models; {path} is not one "
                           "(convert it with `edgeemo convert --int8`)")
    return open_edge_model(path, threads=1)


def chain_report(model_path: Path, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...],
                 profile_name: str, boxes: str, record: dict | None, skip: list[str], folds: int,
                 seed: int = 0, draws: int = 1000) -> dict[str, Any]:
    """One shopper per face through the chain, scored (the calibration: the sidecar's chain bands but the
    sources in `skip`, and with `folds` the other folds of these shoppers)."""
    started = time.monotonic()
    profile = load_profile(profile_name)
    model = _model(model_path)
    order = np.random.default_rng(seed).permutation(len(labels))
    runs = run_chains(model, images[order], [names[labels[i]] for i in order], profile, seed, boxes)
    base = band_calibrations(record, skip)
    if folds:
        plans = _folds(runs, folds, seed, record, skip)
        about = (f"cross-fitted: the sidecar's chain calibration ({', '.join(_names(record, skip)) or 'none'}) and, "
                 f"for each of {folds} folds of these shoppers, the other folds' visits")
    else:
        plans = [(Outcomes.of(runs), base)]
        about = f"the sidecar's chain calibration: {', '.join(_names(record, skip)) or 'none (raw counts)'}"
    return {"chain": score_chain(plans, profile.name, draws, seed), "visits": summary_of(runs),
            "chain_calibration": about, "chain_boxes": boxes, "chain_frames": sum(run.frames for run in runs),
            "chain_loop_seconds": round(sum(run.seconds for run in runs), 1), "chain_seconds": round(time.monotonic() - started, 1),
            "chain_cpus": os.cpu_count(), "chain_workers": min(usable_cpus(), len(runs))}


def _names(record: dict | None, skip: list[str]) -> list[str]:
    bands = ((record or {}).get("chain") or {}).get("bands") or {}
    found = {name for entry in bands.values() for name in (entry.get("sources") or {})}
    return sorted(found - set(skip))


def _folds(runs: list[ChainRun], folds: int, seed: int, record: dict | None, skip: list[str]
           ) -> list[tuple[Outcomes, dict]]:
    from edgeemo.calibrations import UNBANDED

    bands = ((record or {}).get("chain") or {}).get("bands") or {}
    base: dict[str | None, np.ndarray] = {}
    for band, entry in bands.items():
        kept = [np.asarray(v, float) for k, v in (entry.get("sources") or {}).items() if k not in skip]
        if kept:
            base[None if band == UNBANDED else band] = add_up(kept)
    labels = runs[0].labels
    seen = [(r, s) for r, run in enumerate(runs) for s in run.in_view()]
    label_of = {(r, s.id): s.label for r, run in enumerate(runs) for s in run.truth.shoppers}
    rng = np.random.default_rng((seed, 7))
    plans = []
    for _ in range(3):  # three seeded splits into folds
        fold: dict[tuple[int, int], int] = {}
        for name in labels:
            members = [key for key in seen if label_of[key] == name]
            members = [members[i] for i in rng.permutation(len(members))]
            offset = int(rng.integers(folds))
            fold.update({key: (i + offset) % folds for i, key in enumerate(members)})
        for f in range(folds):
            scored = Outcomes.of(runs, {key for key in seen if fold[key] == f})
            others = Outcomes.of(runs, {key for key in seen if fold[key] != f})
            own = others.calibration_counts()
            own[None] = add_up(own.values())  # every band together: for visits without a size
            plans.append((scored, fold_calibrations(base, own, labels)))
    return plans


def calibrate_chain(model_path: Path, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...],
                    record: dict | None, source: str, about: str, seed: int = 0,
                    bands_per_face: int = BANDS_PER_FACE) -> tuple[dict, dict]:
    """Every face through the chain in `bands_per_face` of the face-size bands (each pair of bands as often:
    oracle boxes, jittered as the detector's), half the faces through each of two image paths; the counts per
    band merged into the calibration record as source `source`. Returns (the record, a summary)."""
    model = _model(model_path)
    base = load_profile("near")
    by_band: dict[str, np.ndarray] = {}
    rng = np.random.default_rng((seed, 11))
    half = rng.permutation(len(labels)) % 2
    choices = list(itertools.combinations(range(len(NAMES)), bands_per_face))
    shown = [set(choices[i % len(choices)]) for i in rng.permutation(len(labels))]
    runs: list[ChainRun] = []
    for index, band in enumerate(NAMES):
        low, high = CALIBRATION_PX.get(band, band_range(band))
        for path, image in enumerate(CALIBRATION_IMAGES):
            chosen = np.array([i for i in range(len(labels)) if half[i] == path and index in shown[i]], dtype=np.int64)
            profile = Profile(name="calibration", camera=base.camera, shoppers=base.shoppers, image=image)
            heights = rng.uniform(*profile.shoppers.face_height_m, len(chosen))
            widths = rng.uniform(low, high, len(chosen))
            distances = [profile.distance_for(w, h) for w, h in zip(widths, heights)]
            chunks = run_chains(model, images[chosen], [names[labels[i]] for i in chosen], profile,
                              seed + 17 * len(runs), "oracle", distances=distances, face_heights=heights.tolist())
            runs += chunks
            counts = Outcomes.of(chunks).calibration_counts()
            for measured, matrix in counts.items():
                key = band if measured in (None, UNSIZED) else measured  # the band a visit's median width is in
                by_band[key] = by_band[key] + matrix if key in by_band else matrix
            log.info("chain calibration: band %s, %s: %s", band, image.codec, summary_of(chunks))
    for band, matrix in by_band.items():  # no band of a shipped calibration rests on one small draw
        check_enough(matrix, names, f"--chain --write-calibration, band {band}", BAND_MIN_GROUP_FACES)
    made = {"faces": len(labels), "bands_per_face": bands_per_face, "about": about, "bands_px": list(EDGES_PX),
            "seed": seed,
            "boxes": "oracle (true boxes jittered as BlazeFace's)",
            "images": [f"{i.codec} q{i.quality}" for i in CALIBRATION_IMAGES], "visits": int(sum(
                m.sum() for m in by_band.values()))}
    return merge_chain(record, list(names), source, by_band, made), made

"""A model's calibration as its sidecar keeps it, and the `Calibration`s the estimators use.

The record holds, per *source* (the faces it was measured on: the model's validation split, its
test split, a store's own labelled faces), the confusion counts of still faces; and under `chain`,
per face-size band (`edgeemo.bands`), the counts of simulated visits through the whole device chain
(`edgeemo evaluate --chain --write-calibration`). Sources are kept apart so that their disagreement
gives the transfer error (edgeemo.estimates), and so that a benchmark can leave out the faces it
scores. The pooled `counts` (every source) stay at the top for readers of earlier versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.bands import NAMES as BANDS
from edgeemo.errors import EdgeemoError
from edgeemo.estimates import MIN_GROUP_FACES, Calibration, add_up

UNBANDED = "all"  # the chain's counts over every band: what a visit without a measured size is corrected with
PRIOR_FACES = 5.0  # a band's row of a label borrows this many faces' worth of the all-sizes row (see with_prior)


def with_prior(counts: np.ndarray, pooled: np.ndarray, faces: float = PRIOR_FACES) -> np.ndarray:
    """A band's counts with each label's row shrunk towards the all-sizes row by `faces` pseudo-faces: a label
    the band saw a few times (or never: contempt at 24 px) is corrected with what the model does at every size,
    with the weight of five faces (so its interval stays wide), instead of the correction failing for all."""
    rows = pooled.sum(axis=1, keepdims=True)
    shape = np.divide(pooled, rows, out=np.zeros_like(pooled, dtype=float), where=rows > 0)
    return np.asarray(counts, float) + faces * shape


def group_faces(counts: np.ndarray, labels: Sequence[str]) -> dict[str, int]:
    """Calibration faces in each satisfaction group (positive, negative, other)."""
    groups = DEFAULT_GROUPS.for_labels(labels)
    faces = counts.sum(axis=1)
    return {"positive": int(sum(f for x, f in zip(labels, faces) if x in groups.positive)),
            "negative": int(sum(f for x, f in zip(labels, faces) if x in groups.negative)),
            "other": int(sum(f for x, f in zip(labels, faces) if x not in groups.positive + groups.negative))}


def check_enough(counts: np.ndarray, labels: Sequence[str], what: str, least: int = MIN_GROUP_FACES) -> None:
    """Refuse a calibration with fewer than `least` faces in a satisfaction group: its correction would be
    one small draw's luck, shipped to every store."""
    thin = {g: n for g, n in group_faces(counts, labels).items() if n < least}
    if thin:
        found = ", ".join(f"{g} {n}" for g, n in thin.items())
        raise EdgeemoError(f"{what}: too few faces to calibrate on ({found}; at least {least} a group: "
                           "positive, negative and other); label more faces")


def merge_source(record: Mapping[str, Any] | None, labels: Sequence[str], name: str, source: Mapping[str, Any],
                 description: str) -> dict[str, Any]:
    """The sidecar's calibration with still-face source `name` replaced by `source` ({"counts", "data",
    "split", ...}); the pooled counts recomputed. A record of other labels is started afresh."""
    record = dict(record or {})
    if list(record.get("labels", labels)) != list(labels):
        record = {}
    sources = {k: v for k, v in (record.get("sources") or {}).items() if isinstance(v, Mapping)}
    if not sources and record.get("counts") is not None and record.get("source"):
        sources["validation"] = {"counts": record["counts"], "faces": record.get("faces"),  # a version-1 record
                                 "about": record["source"]}
    sources[name] = dict(source)
    pooled = add_up(s["counts"] for s in sources.values())
    record.update(labels=list(labels), sources=sources, counts=pooled.astype(int).tolist(), faces=int(pooled.sum()),
                  source=description if len(sources) == 1 else " + ".join(
                      f"{k} ({int(np.asarray(s['counts']).sum())} faces)" for k, s in sources.items()))
    record.setdefault("temperature", None)
    record.pop("index", None)  # the three-group weights of version 1: the estimators work them out
    return record


def merge_chain(record: Mapping[str, Any] | None, labels: Sequence[str], name: str,
                by_band: Mapping[str, np.ndarray], made: Mapping[str, Any]) -> dict[str, Any]:
    """The calibration with the chain's counts of source `name`, per band, put in (and their sum over bands)."""
    record = dict(record or {})
    if list(record.get("labels", labels)) != list(labels):
        raise EdgeemoError("the chain's labels differ from the sidecar calibration's; calibrate still faces first "
                           "(edgeemo evaluate --write-calibration)")
    chain = dict(record.get("chain") or {})
    bands = {k: dict(v) for k, v in (chain.get("bands") or {}).items()}
    total = add_up(by_band.values())
    for band, counts in {**by_band, UNBANDED: total}.items():
        entry = dict(bands.get(band) or {})
        entry["sources"] = {**(entry.get("sources") or {}), name: np.asarray(counts).astype(int).tolist()}
        bands[band] = entry
    chain.update(bands=bands, made={**(chain.get("made") or {}), name: dict(made)})
    record["chain"] = chain
    return record


def still_calibration(record: Mapping[str, Any] | None, skip: Sequence[str] = ()) -> Calibration | None:
    """The still-face calibration of the record's sources, leaving out those named in `skip`."""
    if not record or not record.get("labels"):
        return None
    sources = record.get("sources")
    if not sources:
        return Calibration.from_dict(record) if not skip else None
    kept = {k: v for k, v in sources.items() if k not in skip}
    if not kept:
        return None
    return Calibration.from_dict({"labels": record["labels"], "counts": add_up(v["counts"] for v in kept.values()),
                                  "sources": kept})


def band_calibrations(record: Mapping[str, Any] | None, skip: Sequence[str] = ()
                      ) -> dict[str | None, Calibration]:
    """Per band (None: a visit whose size was not measured), the chain's calibration of the record's
    sources but those in `skip`; without a chain calibration, the still faces' for every visit."""
    if not record or not record.get("labels"):
        return {}
    labels = record["labels"]
    found: dict[str | None, Calibration] = {}
    bands = (record.get("chain") or {}).get("bands") or {}
    everything = {k: v for k, v in ((bands.get(UNBANDED) or {}).get("sources") or {}).items() if k not in skip}
    pooled = add_up(everything.values()) if everything else None
    for band, entry in bands.items():
        sources = {k: v for k, v in (entry.get("sources") or {}).items() if k not in skip}
        if sources and pooled is not None and (band in BANDS or band == UNBANDED):
            found[None if band == UNBANDED else band] = Calibration.from_dict(
                {"labels": labels, "counts": with_prior(add_up(sources.values()), pooled),
                 "sources": {k: with_prior(np.asarray(v, float), pooled) for k, v in sources.items()}})
    if not found:
        still = still_calibration(record, skip)
        return {None: still} if still is not None else {}
    return found


def sources_of(record: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return dict((record or {}).get("sources") or {})

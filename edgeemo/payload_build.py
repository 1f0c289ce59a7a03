"""Building the aggregate payload on the device: the one place its fields are laid out (the parser
and the structs that check it are `edgeemo.payload`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from edgeemo.aggregates import V1_GROUPS, SatisfactionGroups, satisfaction_from_counts
from edgeemo.bands import UNSIZED, WIRE_NAMES
from edgeemo.labels import LABELS as V1_LABELS
from edgeemo.payload import SCHEMA_VERSION
from edgeemo.wire import iso


def _count(value: object) -> int:
    """A visit count as stored: a non-negative int (not a bool, not a float): anything else is not a count."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a count of visits")
    return value


def build_payload(*, store_id: str, device_id: str, zone: str, seq: int, start: float, length_s: int,
                  labels: Iterable[str], faces_seen: int, visits_by_emotion: Mapping[str, int],
                  groups: SatisfactionGroups, dwell_s_total: float, model: Mapping[str, str] | None,
                  visits_by_band: Mapping[str, Mapping[str, int]] | None = None) -> dict[str, Any]:
    """The version-4 payload of one zone's interval: the one place its fields are laid out. Visits the
    bands do not account for (rows written before bands were counted) go under `unsized`."""
    labels = list(labels)
    if not math.isfinite(dwell_s_total) or dwell_s_total < 0:
        raise ValueError(f"dwell {dwell_s_total!r}: not a duration")
    bands: dict[str, dict[str, int]] = {band: {label: _count(counts.get(label, 0)) for label in labels}
                                        for band, counts in (visits_by_band or {}).items() if band in WIRE_NAMES}
    for label in labels:
        rest = int(visits_by_emotion.get(label, 0)) - sum(counts[label] for counts in bands.values())
        if rest:
            bands.setdefault(UNSIZED, dict.fromkeys(labels, 0))[label] += rest
    return {
        "schema_version": SCHEMA_VERSION, "store_id": store_id, "device_id": device_id, "zone": zone, "seq": seq,
        "start": iso(start), "end": iso(start + length_s), "labels": labels, "faces_seen": faces_seen,
        "visits": sum(visits_by_emotion.values()),
        "emotions": {label: int(visits_by_emotion.get(label, 0)) for label in labels},
        "bands": {band: counts for band, counts in bands.items() if sum(counts.values())},
        "satisfaction_index": satisfaction_from_counts(visits_by_emotion, groups),
        "satisfaction_groups": groups.as_dict(), "dwell_s_total": dwell_s_total,
        "model": dict(model) if model else None,
    }


def payload_from_row(row: Mapping[str, Any], store_id: str, device_id: str) -> dict[str, Any]:
    """The payload of one row of a device's `aggregates` table (the device's outbox sends it, the
    hub's import reads it); a row migrated from version 1, which has no labels or groups, is read
    with version 1's seven labels and groups."""
    groups = SatisfactionGroups(**{k: tuple(v) for k, v in json.loads(row["groups"]).items()}) if row["groups"] \
        else V1_GROUPS
    return build_payload(store_id=store_id, device_id=device_id, zone=row["zone"], seq=row["seq"], start=row["start"],
                         length_s=row["length_s"], labels=json.loads(row["labels"]) if row["labels"] else V1_LABELS,
                         faces_seen=row["faces_seen"], visits_by_emotion=json.loads(row["emotions"]), groups=groups,
                         dwell_s_total=row["dwell_s_total"],
                         model=json.loads(row["model"]) if row.get("model") else None,
                         visits_by_band=json.loads(row["bands"]) if row.get("bands") else None)

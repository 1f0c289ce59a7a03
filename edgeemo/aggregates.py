"""What a device's aggregates mean, for the device and every consumer alike: the payload's
schema versions, the satisfaction index and k-anonymity suppression.

It lives on the ground floor because the edge runtime, `edgeemo report` and the fleet hub
all need the same definitions, and none of them may import another stage's internals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from edgeemo.labels import LABELS
from edgeemo.wire import iso

SCHEMA_VERSION = 2
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
NO_ZONE = "all"  # the zone of every aggregate when no zones are configured: the whole frame
DEFAULT_POSITIVE = ("happy",)
DEFAULT_NEGATIVE = ("angry", "contempt", "disgust", "fear", "sad")
V1_LABELS = LABELS  # what version 1 implied: FER-2013's seven labels


@dataclass(frozen=True)
class SatisfactionGroups:
    """Which dominant emotions count as positive and negative; the rest count only in the denominator."""

    positive: tuple[str, ...] = DEFAULT_POSITIVE
    negative: tuple[str, ...] = DEFAULT_NEGATIVE

    def for_labels(self, labels: Iterable[str]) -> SatisfactionGroups:
        """The groups restricted to a model's labels (the default names contempt, a FER+-only label)."""
        known = set(labels)
        return SatisfactionGroups(tuple(x for x in self.positive if x in known),
                                  tuple(x for x in self.negative if x in known))

    def as_dict(self) -> dict[str, list[str]]:
        return {"positive": list(self.positive), "negative": list(self.negative)}


DEFAULT_GROUPS = SatisfactionGroups()
V1_GROUPS = SatisfactionGroups(("happy",), ("angry", "disgust", "fear", "sad"))  # what version 1 computed


def build_payload(*, store_id: str, device_id: str, zone: str, seq: int, start: float, length_s: int,
                  labels: Iterable[str], faces_seen: int, visits_by_emotion: Mapping[str, int],
                  groups: SatisfactionGroups, dwell_s_total: float) -> dict[str, Any]:
    """The schema-version-2 payload of one zone's interval: the one place its fields are laid out."""
    labels = list(labels)
    visits = sum(visits_by_emotion.values())
    return {
        "schema_version": SCHEMA_VERSION, "store_id": store_id, "device_id": device_id, "zone": zone, "seq": seq,
        "start": iso(start), "end": iso(start + length_s), "labels": labels, "faces_seen": faces_seen,
        "visits": visits, "emotions": {label: int(visits_by_emotion.get(label, 0)) for label in labels},
        "satisfaction_index": satisfaction_from_counts(visits_by_emotion, groups),
        "satisfaction_groups": groups.as_dict(),
        "mean_dwell_s": round(dwell_s_total / visits, 2) if visits else None,
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
                         dwell_s_total=row["dwell_s_total"])


def satisfaction_from_counts(visits_by_emotion: Mapping[str, int],
                             groups: SatisfactionGroups = DEFAULT_GROUPS) -> float | None:
    """Share of positive visits minus share of negative ones, in [-1, 1]; None without visits."""
    positive = sum(n for label, n in visits_by_emotion.items() if label in groups.positive)
    negative = sum(n for label, n in visits_by_emotion.items() if label in groups.negative)
    return satisfaction_from_totals(positive, negative, sum(visits_by_emotion.values()))


def satisfaction_from_totals(positive: int, negative: int, visits: int) -> float | None:
    """The same index from summed counts (what the hub's roll-ups keep); None without visits."""
    return (positive - negative) / visits if visits else None


def is_suppressed(visits: int, min_visits: int) -> bool:
    """k-anonymity of the aggregates: a bucket with fewer than k visits is not shown."""
    return visits < min_visits


@cache
def payload_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    name = "aggregate.schema.json" if version == SCHEMA_VERSION else f"aggregate.v{version}.schema.json"
    return json.loads((SCHEMA_DIR / name).read_text())


def as_current(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A version-1 payload read as version 2 (zone 'all', the 7 FER-2013 labels, no sequence number)."""
    if payload.get("schema_version") == SCHEMA_VERSION:
        return dict(payload)
    upgraded = dict(payload, schema_version=SCHEMA_VERSION, zone=NO_ZONE, labels=list(V1_LABELS),
                    satisfaction_groups=V1_GROUPS.as_dict())
    upgraded.setdefault("seq", None)
    return upgraded


class PayloadError(ValueError):
    """An aggregate payload that is not valid under any schema version (one line: why)."""


@cache
def _compiled_validator(version: int) -> Any:
    """The schema compiled to Python by fastjsonschema (~40 µs a payload, so a hub keeps up with
    thousands a second; jsonschema took ~4 ms). The schema files declare draft 2020-12 but use
    only keywords draft 7 has, which is what fastjsonschema implements."""
    import fastjsonschema

    schema = dict(payload_schema(version), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    return fastjsonschema.compile(schema)


def validate_payload(payload: Any) -> dict[str, Any]:
    """Check a received payload against its schema version and the rules a schema cannot state
    (emotion keys and groups among the labels, emotions summing to visits); returns it as version 2.

    Needs `fastjsonschema` (the hub's and the tests' dependency, not the device's).
    """
    import fastjsonschema

    if not isinstance(payload, dict):
        raise PayloadError(f"payload is a JSON {type(payload).__name__}, not an object")
    version = payload.get("schema_version")
    if version not in (1, SCHEMA_VERSION) or isinstance(version, bool):
        raise PayloadError(f"schema_version {version!r} is not 1 or {SCHEMA_VERSION}")
    try:
        _compiled_validator(version)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = "/".join(str(part) for part in (exc.path or [])[1:]) or "payload"
        raise PayloadError(f"{where}: {exc.message.removeprefix('data').lstrip('. ')[:200]}") from None
    current = as_current(payload)
    labels = set(current["labels"])
    strangers = sorted(set(current["emotions"]) - labels) + sorted(
        {x for group in current["satisfaction_groups"].values() for x in group} - labels)
    if strangers:
        raise PayloadError(f"label {strangers[0]!r} is not among the payload's labels")
    if sum(current["emotions"].values()) != current["visits"]:
        raise PayloadError(f"emotions sum to {sum(current['emotions'].values())}, visits is {current['visits']}")
    return current

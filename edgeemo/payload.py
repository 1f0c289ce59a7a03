"""The aggregate payload a device sends for one zone's interval: its versions, how the device
builds it, and one total parser from bytes to a checked report or a named refusal.

Version 4 (what devices send now) adds the visits by face-size band (`edgeemo.bands`), so that each
band is corrected with the model's confusion at that size; version 3 carries the interval's total
dwell exactly and the model that produced the counts; versions 1 to 3 are still accepted and read as
version 4, their visits in the band of no measured size. The parser never
raises: whatever the bytes (nested garbage, NaN, 1e999, 2**64, a year 9999, keys repeated: the last
one counts), it returns an `IntervalReport` or a `Refusal` with a reason a hub can count.

Structs are msgspec's: one pass decodes and checks types and bounds (a few microseconds a
payload), and the JSON Schema in edgeemo/schemas/ is generated from them (`schema_document`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from edgeemo.aggregates import NO_ZONE, V1_GROUPS
from edgeemo.bands import UNSIZED, WIRE_NAMES
from edgeemo.labels import LABELS as V1_LABELS
from edgeemo.wire import LABEL_PATTERN, MODEL_NAME_PATTERN, NAME_PATTERN, ZONE_PATTERN, iso

SCHEMA_VERSION = 4
VERSIONS = (1, 2, 3, 4)
MAX_COUNT = 2**31 - 1  # an INTEGER column on both databases
# What one camera can see: at most this many faces (and so visits) a second of its interval, on average.
# A turnstile lets through one or two people a second, a frame holds a few dozen faces at most; 100 a
# second is far past any store, and keeps an hour's cell of one device zone under 360,000 visits (a day
# under 9 million), so no sum the hub keeps can come near a 32-bit counter, let alone a 64-bit one.
MAX_FACES_PER_S = 100
MAX_SEQ = 2**53  # exact in a JSON number, a double and a BIGINT
MAX_DWELL_S = 1e9  # seconds of dwell in one interval: about 30 years, far past any real store
MAX_LABELS = 32
# An interval's length divides an hour, and its start is a multiple of its length (the device cuts
# intervals on the epoch's grid), so intervals of one length never overlap and never straddle an hour.
LENGTHS = frozenset(n for n in range(10, 3601) if 3600 % n == 0)


def whole(pattern: str) -> str:
    """A `^...$` pattern that msgspec (Python's `re.search`, whose `$` also matches before a final
    newline) applies to the whole string, as JSON Schema (ECMA-262) readers do: "s1\\n" is no name."""
    return pattern.removesuffix("$") + r"(?!\n)$"


Name = Annotated[str, Meta(pattern=whole(NAME_PATTERN))]
Zone = Annotated[str, Meta(pattern=whole(ZONE_PATTERN))]
Label = Annotated[str, Meta(pattern=whole(LABEL_PATTERN))]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Seq = Annotated[int, Meta(ge=1, le=MAX_SEQ)]
Index = Annotated[float, Meta(ge=-1.0, le=1.0)]
Dwell = Annotated[float, Meta(ge=0.0, le=MAX_DWELL_S)]
Labels = Annotated[list[Label], Meta(min_length=2, max_length=MAX_LABELS)]
Emotions = Annotated[dict[Label, Count], Meta(max_length=MAX_LABELS)]
GroupLabels = Annotated[list[Label], Meta(max_length=MAX_LABELS)]


class Groups(Struct, forbid_unknown_fields=True, frozen=True):
    """Which dominant emotions count as positive and negative in the satisfaction index."""

    positive: GroupLabels
    negative: GroupLabels


class ModelRef(Struct, forbid_unknown_fields=True, frozen=True):
    """The model that classified the faces: its file name and the sha256 of its bytes (its sidecar's)."""

    name: Annotated[str, Meta(pattern=whole(MODEL_NAME_PATTERN))]
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class PayloadV1(Struct, tag_field="schema_version", tag=1, forbid_unknown_fields=True, kw_only=True):
    """Version 1: one zone, FER-2013's seven labels, no sequence number."""

    store_id: Annotated[str, Meta(min_length=1, max_length=64)]
    device_id: Annotated[str, Meta(min_length=1, max_length=64)]
    start: datetime
    end: datetime
    faces_seen: Count
    visits: Count
    emotions: Emotions
    satisfaction_index: Index | None
    mean_dwell_s: Dwell | None


class PayloadV2(Struct, tag_field="schema_version", tag=2, forbid_unknown_fields=True, kw_only=True):
    """Version 2: zones, the model's labels, the satisfaction groups, a per-device sequence number."""

    store_id: Name
    device_id: Name
    zone: Zone
    seq: Seq
    start: datetime
    end: datetime
    labels: Labels
    faces_seen: Count
    visits: Count
    emotions: Emotions
    satisfaction_index: Index | None
    satisfaction_groups: Groups
    mean_dwell_s: Dwell | None


class PayloadV3(Struct, tag_field="schema_version", tag=3, forbid_unknown_fields=True, kw_only=True):
    """Version 3: one device's counts for one zone and one interval (no frames, faces, track ids or
    identities). Key: (store_id, device_id, zone, start). Adds the exact total dwell and the model."""

    store_id: Annotated[Name, Meta(description="the device's store; also a topic level")]
    device_id: Annotated[Name, Meta(description="the device; also a topic level")]
    zone: Annotated[Zone, Meta(description="the configured zone's name; 'all' without zones")]
    seq: Annotated[Seq, Meta(description="per-device sequence number, one per (interval, zone) row, given "
                                         "when the row is first written: a gap means a missing interval")]
    start: Annotated[datetime, Meta(description="interval start, RFC 3339 with an offset (the device sends UTC)",
                                    extra_json_schema={"format": "date-time"})]
    end: Annotated[datetime, Meta(description="interval end; end - start divides an hour, start is a multiple of it",
                                  extra_json_schema={"format": "date-time"})]
    labels: Annotated[Labels, Meta(description="the model's labels in output order, from its sidecar")]
    faces_seen: Annotated[Count, Meta(description="distinct tracked faces in the zone in the interval")]
    visits: Annotated[Count, Meta(description="tracks that ended in the interval and lasted the minimum dwell")]
    emotions: Annotated[Emotions, Meta(description="visits by dominant emotion; keys among labels; sums to visits")]
    satisfaction_index: Annotated[Index | None, Meta(description="share of positive visits minus share of "
                                                                 "negative ones; null without visits")]
    satisfaction_groups: Groups
    dwell_s_total: Annotated[Dwell, Meta(description="the visits' dwell, summed, in seconds")]
    model: Annotated[ModelRef | None, Meta(description="the model that classified the faces; null for rows "
                                                       "written before version 3")] = None


Band = Annotated[str, Meta(pattern="^(" + "|".join(WIRE_NAMES) + r")(?!\n)$")]
Bands = Annotated[dict[Band, Emotions], Meta(max_length=len(WIRE_NAMES))]


class PayloadV4(Struct, tag_field="schema_version", tag=4, forbid_unknown_fields=True, kw_only=True):
    """Version 4: version 3 and the visits by face-size band, each band's visits by dominant emotion."""

    store_id: Annotated[Name, Meta(description="the device's store; also a topic level")]
    device_id: Annotated[Name, Meta(description="the device; also a topic level")]
    zone: Annotated[Zone, Meta(description="the configured zone's name; 'all' without zones")]
    seq: Annotated[Seq, Meta(description="per-device sequence number, one per (interval, zone) row, given "
                                         "when the row is first written: a gap means a missing interval")]
    start: Annotated[datetime, Meta(description="interval start, RFC 3339 with an offset (the device sends UTC)",
                                    extra_json_schema={"format": "date-time"})]
    end: Annotated[datetime, Meta(description="interval end; end - start divides an hour, start is a multiple of it",
                                  extra_json_schema={"format": "date-time"})]
    labels: Annotated[Labels, Meta(description="the model's labels in output order, from its sidecar")]
    faces_seen: Annotated[Count, Meta(description="distinct tracked faces in the zone in the interval")]
    visits: Annotated[Count, Meta(description="tracks that ended in the interval and lasted the minimum dwell")]
    emotions: Annotated[Emotions, Meta(description="visits by dominant emotion; keys among labels; sums to visits")]
    bands: Annotated[Bands, Meta(description="visits by the face-size band of their median face width (lt28, "
                                             "28-36, 36-48, ge48 px; unsized: not measured), then by dominant "
                                             "emotion; for each label the bands add up to emotions")]
    satisfaction_index: Annotated[Index | None, Meta(description="share of positive visits minus share of "
                                                                 "negative ones; null without visits")]
    satisfaction_groups: Groups
    dwell_s_total: Annotated[Dwell, Meta(description="the visits' dwell, summed, in seconds")]
    model: Annotated[ModelRef | None, Meta(description="the model that classified the faces; null for rows "
                                                       "written before version 3")] = None


AnyPayload = PayloadV1 | PayloadV2 | PayloadV3 | PayloadV4
_decoder = msgspec.json.Decoder(AnyPayload)


class IntervalReport(Struct, frozen=True, gc=False):
    """What a device reported about one zone's interval, whatever the payload version (a msgspec
    Struct: thousands are made a second, and a frozen dataclass builds several times slower)."""

    store_id: str
    device_id: str
    zone: str
    seq: int | None
    start: int  # unix seconds
    length_s: int
    labels: tuple[str, ...]
    emotions: tuple[tuple[str, int], ...]  # (label, visits) in label order
    bands: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # (band, (label, visits) in label order), bands in order
    groups: Groups
    faces_seen: int
    visits: int
    dwell_s_total: float
    model: ModelRef | None
    version: int


@dataclass(frozen=True)
class Refusal:
    reason: str  # malformed | invalid | time | implausible
    error: str  # one line: what is wrong, and where (printable: it is logged and stored)

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", printable(self.error))


def printable(text: str, limit: int = 200) -> str:
    """`text` as one printable line of at most `limit` characters: a refusal quotes what a device
    sent, and a NUL or a newline must reach neither a log line nor a database (PostgreSQL refuses NUL)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


@dataclass(frozen=True)
class TimeRules:
    """What a hub accepts as an interval's time: not before `earliest`, not later than now + skew."""

    earliest: float = 1_577_836_800.0  # 2020-01-01T00:00:00Z
    max_skew_s: float = 900.0
    max_age_s: float | None = None  # the hub's raw retention: an older interval was pruned, so it cannot be stored

    def first_allowed(self, now: float) -> float:
        return self.earliest if self.max_age_s is None else max(self.earliest, now - self.max_age_s)


DEFAULT_TIME_RULES = TimeRules()


def parse_payload(body: bytes | bytearray, now: float, rules: TimeRules = DEFAULT_TIME_RULES) -> IntervalReport | Refusal:
    """Bytes to a checked report or a refusal; never raises."""
    try:
        payload = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        return Refusal("invalid", str(exc)[:200])
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Refusal("malformed", f"not JSON ({str(exc)[:120]})")
    except RecursionError:  # skipping a deeply nested unknown value on the way to the version tag
        return Refusal("invalid", "nested too deeply to be an aggregate")
    try:
        return _checked(payload, now, rules)
    except (ValueError, OverflowError, TypeError) as exc:  # a rule the structs cannot state
        return Refusal("invalid", str(exc)[:200])


def _checked(payload: AnyPayload, now: float, rules: TimeRules) -> IntervalReport | Refusal:
    if isinstance(payload, PayloadV1):
        labels, zone, seq, groups = V1_LABELS, NO_ZONE, None, Groups(list(V1_GROUPS.positive), list(V1_GROUPS.negative))
    else:
        labels, zone, seq, groups = tuple(payload.labels), payload.zone, payload.seq, payload.satisfaction_groups
    if len(set(labels)) < len(labels):
        raise ValueError("labels: a label is listed twice")
    strangers = sorted((set(payload.emotions) | set(groups.positive) | set(groups.negative)) - set(labels))
    if strangers:
        raise ValueError(f"label {strangers[0]!r} is not among the payload's labels")
    if set(groups.positive) & set(groups.negative):
        raise ValueError("satisfaction_groups: a label is both positive and negative")
    counts = payload.emotions
    if sum(counts.values()) != payload.visits:
        raise ValueError(f"emotions sum to {sum(payload.emotions.values())}, visits is {payload.visits}")
    if isinstance(payload, (PayloadV3, PayloadV4)):
        dwell = payload.dwell_s_total
    else:
        dwell = round((payload.mean_dwell_s or 0.0) * payload.visits, 3)
    timing = _interval(payload.start, payload.end, now, rules)
    if isinstance(timing, Refusal):
        return timing
    start, length = timing
    most = MAX_FACES_PER_S * length
    if payload.visits > most or payload.faces_seen > most:
        return Refusal("implausible", f"{max(payload.visits, payload.faces_seen)} visits or faces in {length} s: "
                       f"more than one camera can see ({MAX_FACES_PER_S} a second)")
    bands = _bands(payload, labels)
    return IntervalReport(
        store_id=payload.store_id, device_id=payload.device_id, zone=zone, seq=seq, start=start, length_s=length,
        labels=tuple(labels), emotions=tuple([(label, counts.get(label, 0)) for label in labels]), bands=bands,
        groups=groups, faces_seen=payload.faces_seen, visits=payload.visits, dwell_s_total=dwell,
        model=payload.model if isinstance(payload, (PayloadV3, PayloadV4)) else None, version=_version(payload))


def _bands(payload: AnyPayload, labels: tuple[str, ...]) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """The visits by band (a payload before version 4: all of them unsized); each label's bands must add up
    to its visits, and only the payload's labels may appear."""
    found = payload.bands if isinstance(payload, PayloadV4) else {UNSIZED: payload.emotions}
    for band, counts in found.items():
        strangers = sorted(set(counts) - set(labels))
        if strangers:
            raise ValueError(f"bands.{band}: label {strangers[0]!r} is not among the payload's labels")
    for label in labels:
        total = sum(counts.get(label, 0) for counts in found.values())
        if total != payload.emotions.get(label, 0):
            raise ValueError(f"bands: {label} visits add up to {total} over the bands, emotions says "
                             f"{payload.emotions.get(label, 0)}")
    return tuple((band, tuple((label, found[band].get(label, 0)) for label in labels))
                 for band in WIRE_NAMES if band in found and any(found[band].values()))


def _version(payload: AnyPayload) -> int:
    tag = payload.__struct_config__.tag  # every payload struct is tagged with its version number
    assert isinstance(tag, int), tag
    return tag


def _interval(start: datetime, end: datetime, now: float, rules: TimeRules) -> tuple[int, int] | Refusal:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start/end: a date-time needs its offset (the device sends UTC, 'Z')")
    if start.microsecond or end.microsecond:
        raise ValueError("start/end: whole seconds only")
    first, last = start.timestamp(), end.timestamp()
    length = last - first
    if length not in LENGTHS:
        return Refusal("time", f"end - start is {length:g} s: an interval lasts a divisor of an hour, 10 s or more")
    if first % length:
        return Refusal("time", f"start {_when(first)} is not on the {length:g} s grid the device cuts intervals on")
    if first < rules.first_allowed(now) or last > now + rules.max_skew_s:
        return Refusal("time", f"interval {_when(first)}..{_when(last)} is before {_when(rules.first_allowed(now))} "
                       "(the earliest date, or past the raw retention) or ends "
                       f"more than {rules.max_skew_s:g} s after the hub's clock ({_when(now)})")
    return int(first), int(length)


def _when(timestamp: float) -> str:
    """A time for a refusal's message, even one no date-time can name (year 10000 after its offset)."""
    try:
        return iso(timestamp)
    except (ValueError, OverflowError, OSError):
        return f"unix {timestamp:.0f}"


def schema_document() -> dict[str, Any]:
    """The JSON Schema of the current version (edgeemo/schemas/aggregate.schema.json is this, written out)."""
    document = msgspec.json.schema(PayloadV4)
    body = document["$defs"].pop("PayloadV4")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://edgeemo.invalid/schemas/aggregate.v4.schema.json",
            **body, "title": "edgeemo interval aggregate, version 4", "$defs": document["$defs"]}

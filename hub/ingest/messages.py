"""From a received message to a row, or to a named refusal: never an exception.

`parse_message` checks the size, parses the payload (`edgeemo.payload`: every version, every
bound) and that the payload names the device its topic names. What needs the database (a
sequence number that jumps, an interval that overlaps a stored one) is checked where the batch
is written (`edgeemo.hub.ingest.writer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import msgspec

from edgeemo.hub.storage.schema import Interval
from edgeemo.payload import DEFAULT_TIME_RULES, IntervalReport, Refusal, TimeRules, parse_payload

# what a hub counts a refused payload under (rejects.reason)
REASONS = {
    "oversized": "larger than [mqtt] max_payload_bytes",
    "malformed": "not JSON (or not UTF-8)",
    "invalid": "not a valid aggregate of any version: a type, a bound or a rule (the error names it)",
    "time": "an interval not on the device grid, before [ingest] earliest, or ending in the future",
    "implausible": "more visits or faces than one camera can see in the interval (edgeemo.payload.MAX_FACES_PER_S)",
    "foreign": "names another store or device than its topic",
    "seq_jump": "a sequence number further than [ingest] max_seq_jump above the device's highest",
    "overlap": "overlaps another stored interval of the device and zone",
    "flood": "over the device's [ingest] rate budget: acknowledged unread (a lost interval is asked for again)",
    "unstorable": "refused by the database after retries, with no room left to keep it as a dead letter",
}


@dataclass(frozen=True)
class Rejected:
    store: str
    device: str
    reason: str  # a key of REASONS
    error: str


@lru_cache(maxsize=1024)
def _groups_json(positive: tuple[str, ...], negative: tuple[str, ...]) -> str:
    return msgspec.json.encode({"positive": positive, "negative": negative}).decode()


def interval_of(report: IntervalReport) -> Interval:
    """A checked report as a row of `intervals`."""
    groups = report.groups
    counts = dict(report.emotions)
    return Interval(
        store=report.store_id, device=report.device_id, zone=report.zone, start=report.start,
        length_s=report.length_s, seq=report.seq, labels=report.labels, emotions=report.emotions,
        groups=_groups_json(tuple(groups.positive), tuple(groups.negative)),
        faces_seen=report.faces_seen, visits=report.visits,
        positive=sum(counts.get(label, 0) for label in groups.positive),
        negative=sum(counts.get(label, 0) for label in groups.negative),
        dwell_s_total=report.dwell_s_total,
        model=msgspec.json.encode(report.model).decode() if report.model is not None else None,
        bands=report.bands)


def parse_message(topic_store: str, topic_device: str, body: bytes | bytearray, max_bytes: int, now: float,
                  rules: TimeRules = DEFAULT_TIME_RULES) -> Interval | Rejected:
    """One message from a device's aggregates topic (`edgeemo.wire`); never raises."""
    try:
        return _parse(topic_store, topic_device, body, max_bytes, now, rules)
    except Exception as exc:  # noqa: BLE001 - a bug here must cost one message, never the ingest thread
        return Rejected(topic_store, topic_device, "invalid", f"internal error reading it ({type(exc).__name__})")


def _parse(topic_store: str, topic_device: str, body: bytes | bytearray, max_bytes: int, now: float,
           rules: TimeRules) -> Interval | Rejected:
    if len(body) > max_bytes:
        return Rejected(topic_store, topic_device, "oversized", f"{len(body)} bytes, more than {max_bytes}")
    parsed = parse_payload(body, now, rules)
    if isinstance(parsed, Refusal):
        return Rejected(topic_store, topic_device, parsed.reason, parsed.error)
    if (parsed.store_id, parsed.device_id) != (topic_store, topic_device):
        return Rejected(topic_store, topic_device, "foreign", f"payload names {parsed.store_id[:64]}/"
                        f"{parsed.device_id[:64]}, its topic {topic_store}/{topic_device}")
    return interval_of(parsed)

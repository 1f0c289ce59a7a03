"""The device↔hub wire contract, defined once: names, topics, re-send requests and times.

The device's outbox (`edgeemo.edge.analytics`) and the hub's ingest (`edgeemo.hub`) both
import this module; neither writes a topic, a pattern or a limit of its own. What a payload
holds is the other half of the contract: `edgeemo.aggregates` (its versions and schemas).

Topics under `<topic_prefix>/<store_id>/<device_id>/`:
- `aggregates`: one JSON object per interval and zone, QoS 1, published by the device's outbox;
- `availability`: "online" (retained); the broker publishes the retained last will "offline"
  if the device vanishes;
- `resend` (the device subscribes): a consumer that found a gap in the sequence numbers asks
  for rows again with `{"seq": [5, 6]}` or `{"from": 5, "to": 9}`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone, tzinfo

# store_id, device_id and each topic_prefix level become MQTT topic levels: no wildcards
# (+ #), no empty levels, nothing a broker or an ACL pattern would read differently.
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
TOPIC_PREFIX_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
NAME_RULE = "1-64 letters, digits, _ . -"
ZONE_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"  # a zone's name travels in every payload and is shown in reports
LABEL_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"  # a model's label (from its sidecar), in every payload
MODEL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"  # a model file's name, in every version-3 payload

AGGREGATES, AVAILABILITY, RESEND = "aggregates", "availability", "resend"
ONLINE, OFFLINE = b"online", b"offline"
MAX_RESEND = 10_000  # sequence numbers one re-send request may name
MAX_RESEND_BYTES = 256 * 1024  # the longest request: 10,000 numbers of 16 digits, with room to spare
_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))


def is_name(text: str) -> bool:
    """Whether a store or device name (a topic level) keeps the name rule: a topic names them whether a
    payload does or not (availability), and the hub stores only names a payload could carry."""
    return _NAME.fullmatch(text) is not None


def device_topic(prefix: str, store_id: str, device_id: str, kind: str) -> str:
    """`<prefix>/<store>/<device>/<kind>`, kind one of AGGREGATES, AVAILABILITY, RESEND."""
    return f"{prefix.rstrip('/')}/{store_id}/{device_id}/{kind}"


def hub_subscriptions(prefix: str, share_group: str) -> list[str]:
    """What a hub subscribes to: every device's aggregates through a shared subscription (the
    hubs of a group split them), and every device's availability (retained, so not shared)."""
    prefix = prefix.rstrip("/")
    return [f"$share/{share_group}/{prefix}/+/+/{AGGREGATES}", f"{prefix}/+/+/{AVAILABILITY}"]


def split_topic(prefix: str, topic: str) -> tuple[str, str, str] | None:
    """(store, device, kind) of a device topic under `prefix`; None for anything else."""
    levels = topic.split("/")
    depth = len(prefix.rstrip("/").split("/"))
    if len(levels) != depth + 3 or "/".join(levels[:depth]) != prefix.rstrip("/"):
        return None
    return levels[depth], levels[depth + 1], levels[depth + 2]


def resend_request(first: int, last: int) -> bytes:
    """The body of a re-send request for the sequence numbers first..last (at most MAX_RESEND)."""
    if not 0 <= last - first < MAX_RESEND:
        raise ValueError(f"a re-send request names 1 to {MAX_RESEND} sequence numbers, not {first}..{last}")
    return json.dumps({"from": first, "to": last}).encode()


def parse_resend(payload: bytes) -> list[int]:
    """The sequence numbers a re-send request names; ValueError for anything else (too long, nested too
    deeply for the parser, not JSON): a device's MQTT callback must survive whatever arrives."""
    if len(payload) > MAX_RESEND_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than a re-send request needs ({MAX_RESEND_BYTES})")
    try:
        request = json.loads(payload)
    except RecursionError:
        raise ValueError("nested too deeply to be a re-send request") from None
    if isinstance(request, dict) and isinstance(request.get("seq"), list):
        seqs = request["seq"]
    elif isinstance(request, dict) and isinstance(request.get("from"), int) and isinstance(request.get("to"), int):
        if not 0 <= request["to"] - request["from"] < MAX_RESEND:
            raise ValueError(f"range {request['from']}..{request['to']} is empty or longer than {MAX_RESEND}")
        seqs = list(range(request["from"], request["to"] + 1))
    else:
        raise ValueError('expected {"seq": [...]} or {"from": N, "to": M}')  # noqa: TRY004 - a bad message, not a bug
    if len(seqs) > MAX_RESEND or not all(isinstance(s, int) and not isinstance(s, bool) for s in seqs):
        raise ValueError(f"seq must be a list of at most {MAX_RESEND} integers")
    return seqs


def iso(timestamp: float) -> str:
    """A unix time as the payload's UTC date-time, to the second."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str, local: tzinfo | None = None) -> float:
    """An ISO date (2026-11-01) or date-time (2026-11-01T10:00[:00][Z|+01:00]) as unix seconds, in
    `local` (UTC by default) unless it says otherwise; ValueError (naming the text) when it is
    neither or out of range."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=local or timezone.utc)
        return moment.timestamp()
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not an ISO date or date-time ({exc})") from None

"""The payload parser is total: every version it accepts, every hostile body a refusal with a
reason, never an exception (the hub's ingest thread must not die on one message)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.labels import FERPLUS_LABELS
from edgeemo.payload import (
    LENGTHS,
    IntervalReport,
    Refusal,
    TimeRules,
    parse_payload,
    schema_document,
)
from edgeemo.payload_build import build_payload
from edgeemo.wire import iso
from tests.conftest import REPO

T0 = 1_795_000_000 - 1_795_000_000 % 3600  # an hour boundary in Nov 2026
NOW = T0 + 86400
MODEL = {"name": "ferplus_cnn_int8.tflite", "sha256": "ab" * 32}


def good(**changes) -> dict:
    payload = build_payload(store_id="s1", device_id="d1", zone="door", seq=7, start=T0, length_s=60,
                            labels=FERPLUS_LABELS, faces_seen=4, visits_by_emotion={"happy": 2, "sad": 1},
                            groups=DEFAULT_GROUPS, dwell_s_total=31.25, model=MODEL,
                            visits_by_band={"28-36": {"happy": 2}, "ge48": {"sad": 1}})
    return {**payload, **changes}


def parse(payload: dict | bytes, now: float = NOW) -> IntervalReport | Refusal:
    return parse_payload(payload if isinstance(payload, bytes) else json.dumps(payload).encode(), now)


def test_a_version_4_payload_is_read_as_sent() -> None:
    report = parse(good())
    assert isinstance(report, IntervalReport)
    assert (report.store_id, report.device_id, report.zone, report.seq) == ("s1", "d1", "door", 7)
    assert (report.start, report.length_s, report.visits, report.faces_seen) == (T0, 60, 3, 4)
    assert report.dwell_s_total == 31.25  # exact: version 3 sends the sum, not a rounded mean
    assert dict(report.emotions) == {label: {"happy": 2, "sad": 1}.get(label, 0) for label in FERPLUS_LABELS}
    assert report.model.name == MODEL["name"] and report.version == 4
    assert {band: {k: v for k, v in counts if v} for band, counts in report.bands} == {
        "28-36": {"happy": 2}, "ge48": {"sad": 1}}


def test_version_3_is_read_as_version_4_with_its_visits_unsized() -> None:
    v3 = {key: value for key, value in good().items() if key != "bands"}
    report = parse({**v3, "schema_version": 3})
    assert report.version == 3 and report.model.name == MODEL["name"]
    assert [(band, {k: v for k, v in counts if v}) for band, counts in report.bands] == [
        ("unsized", {"happy": 2, "sad": 1})]


def test_a_device_row_from_before_bands_is_sent_with_its_visits_unsized() -> None:
    payload = build_payload(store_id="s1", device_id="d1", zone="door", seq=7, start=T0, length_s=60,
                            labels=FERPLUS_LABELS, faces_seen=4, visits_by_emotion={"happy": 2, "sad": 1},
                            groups=DEFAULT_GROUPS, dwell_s_total=31.25, model=MODEL,
                            visits_by_band={"28-36": {"happy": 1}})
    assert payload["bands"]["28-36"]["happy"] == 1 and payload["bands"]["unsized"]["happy"] == 1
    assert payload["bands"]["unsized"]["sad"] == 1 and isinstance(parse(payload), IntervalReport)


def test_versions_1_and_2_are_still_accepted() -> None:
    v2 = {key: value for key, value in good().items() if key not in ("dwell_s_total", "model", "bands")}
    v2.update(schema_version=2, mean_dwell_s=round(10.0 / 3, 2))
    report = parse(v2)
    assert report.version == 2 and report.dwell_s_total == 9.99 and report.model is None  # what 2 could say
    v1 = {"schema_version": 1, "store_id": "s", "device_id": "d", "start": "2026-11-17T10:00:00Z",
          "end": "2026-11-17T10:01:00Z", "faces_seen": 2, "visits": 1, "emotions": {"happy": 1},
          "satisfaction_index": 1.0, "mean_dwell_s": 4.2}
    report = parse(v1)
    assert report.version == 1 and report.zone == "all" and len(report.labels) == 7 and report.seq is None
    assert parse({**v1, "emotions": {"contempt": 1}}).reason == "invalid"  # version 1 knew seven labels


HOSTILE = {
    "nested 10 KB": (b"[" * 5000 + b"]" * 5000, "invalid"),
    "nested objects": (b'{"a":' * 3000 + b"1" + b"}" * 3000, "invalid"),
    "not JSON": (b"{oops", "malformed"),
    "not UTF-8": (json.dumps(good()).encode().replace(b'"door"', b'"do\xffr"'), "malformed"),
    "a lone surrogate": (json.dumps(good()).encode().replace(b'"door"', b'"do\xed\xa0\x80r"'), "malformed"),
    "NaN": (json.dumps(good()).replace("31.25", "NaN").encode(), "malformed"),
    "Infinity dwell": (json.dumps(good()).replace("31.25", "1e999").encode(), "invalid"),
    "visits 2**31": (good(visits=2**31, emotions={"happy": 2**31}), "invalid"),
    "visits 2**63": (good(visits=2**63), "invalid"),
    "visits 2**31-1 in a minute": (good(visits=2**31 - 1, faces_seen=2**31 - 1, emotions={"happy": 2**31 - 1}),
                                   "implausible"),
    "6,001 faces in a minute": (good(faces_seen=6001), "implausible"),
    "seq 2**63": (good(seq=2**63), "invalid"),
    "seq 0": (good(seq=0), "invalid"),
    "negative faces": (good(faces_seen=-1), "invalid"),
    "a boolean": (good(visits=True), "invalid"),
    "a float count": (good(visits=3.0), "invalid"),
    "an extra key": (good(track_id=5), "invalid"),
    "an extra key with a NUL in it": (good(**{"\u0000evil\n": 1}), "invalid"),
    "a missing key": ({k: v for k, v in good().items() if k != "zone"}, "invalid"),
    "schema_version 5": (good(schema_version=5), "invalid"),
    "version 3 with bands": (good(schema_version=3), "invalid"),
    "bands that do not add up": (good(bands={"28-36": {"happy": 1}, "ge48": {"sad": 1}}), "invalid"),
    "bands that add up to more": (good(bands={"28-36": {"happy": 3}, "ge48": {"sad": 1}}), "invalid"),
    "an unknown band": (good(bands={"huge": {"happy": 2}, "ge48": {"sad": 1}}), "invalid"),
    "a band with a newline": (good(bands={"ge48\n": {"happy": 2, "sad": 1}}), "invalid"),
    "a stranger label in a band": (good(bands={"28-36": {"happy": 2, "smug": 0}, "ge48": {"sad": 1}}), "invalid"),
    "a negative band count": (good(bands={"28-36": {"happy": 3, "sad": -1}, "ge48": {"sad": 2}}), "invalid"),
    "bands not an object": (good(bands=[1, 2]), "invalid"),
    "bands missing": ({k: v for k, v in good().items() if k != "bands"}, "invalid"),
    "schema_version '3'": (good(schema_version="3"), "invalid"),
    "emotions not summing": (good(emotions={"happy": 5}), "invalid"),
    "a stranger label": (good(emotions={"smug": 3}), "invalid"),
    "a label twice": (good(labels=["happy", "happy", "sad"], emotions={"happy": 3}), "invalid"),
    "a group label not among labels": (good(satisfaction_groups={"positive": ["joy"], "negative": []}), "invalid"),
    "a label both positive and negative": (good(satisfaction_groups={"positive": ["sad"], "negative": ["sad"]}),
                                           "invalid"),
    "a zone with a slash": (good(zone="a/b"), "invalid"),
    "a store with a NUL": (good(store_id="s\u0000"), "invalid"),
    "a 100 KB label list": (good(labels=["x" * 20] * 5000), "invalid"),
    "index 2": (good(satisfaction_index=2), "invalid"),
    "a bad model hash": (good(model={"name": "m", "sha256": "nope"}), "invalid"),
    "year 9999": (good(start="9999-12-31T23:59:00Z", end="9999-12-31T23:59:59Z"), "time"),
    "year 9999 in a -14:00 zone": (good(start="9999-12-31T23:59:00-14:00", end="10000-01-01T00:00:00-14:00"),
                                   "invalid"),
    "year 1": (good(start="0001-01-01T00:00:00+14:00", end="0001-01-01T00:01:00+14:00"), "time"),
    "next week": (good(start="2026-12-05T10:00:00Z", end="2026-12-05T10:01:00Z"), "time"),
    "end before start": (good(start="2026-11-18T10:01:00Z", end="2026-11-18T10:00:00Z"), "time"),
    "off the device grid": (good(start="2026-11-18T10:00:30Z", end="2026-11-18T10:01:30Z"), "time"),
    "59 s long": (good(start="2026-11-18T10:00:00Z", end="2026-11-18T10:00:59Z"), "time"),
    "without an offset": (good(start="2026-11-18T10:00:00", end="2026-11-18T10:01:00"), "invalid"),
    "fractions of a second": (good(start="2026-11-18T10:00:00.5Z", end="2026-11-18T10:01:00.5Z"), "invalid"),
    "not a date": (good(start="yesterday"), "invalid"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_payload_is_refused_with_its_reason(case: str) -> None:
    body, reason = HOSTILE[case]
    refusal = parse(body)
    assert isinstance(refusal, Refusal), case
    assert refusal.reason == reason, refusal
    assert refusal.error and "\n" not in refusal.error and len(refusal.error) <= 200


def test_more_than_a_camera_can_see_is_refused_in_every_version() -> None:
    """A count far past what one camera sees in the interval (2^31 - 1 visits in a minute) is a named
    refusal, not a number for the hub's sums to overflow on; up to 100 a second is still read."""
    most = 100 * 60
    assert parse(good(visits=most, faces_seen=most, emotions={"happy": most},
                      bands={"unsized": {"happy": most}})).visits == most
    v2 = {key: value for key, value in good().items() if key not in ("dwell_s_total", "model", "bands")}
    v2.update(schema_version=2, mean_dwell_s=1.0)
    v1 = {"schema_version": 1, "store_id": "s", "device_id": "d", "start": "2026-11-17T10:00:00Z",
          "end": "2026-11-17T10:01:00Z", "faces_seen": 2, "visits": 1, "emotions": {"happy": 1},
          "satisfaction_index": 1.0, "mean_dwell_s": 4.2}
    for payload in (good(), v2, v1):
        huge = {**payload, "visits": 2**31 - 1, "emotions": {"happy": 2**31 - 1}}
        refusal = parse(huge)
        assert isinstance(refusal, Refusal) and refusal.reason == "implausible", refusal
        assert "2147483647" in refusal.error and "one camera" in refusal.error
        assert parse({**payload, "faces_seen": most + 1}).reason == "implausible"


def test_a_repeated_key_counts_once_the_last_one() -> None:
    body = json.dumps(good()).replace('"visits": 3', '"visits": 99, "visits": 3').encode()
    assert b'"visits": 99' in body
    assert parse(body).visits == 3


def test_time_rules_are_the_hub_s_to_set() -> None:
    old = good(start="2021-06-01T10:00:00Z", end="2021-06-01T10:01:00Z")
    assert isinstance(parse(old), IntervalReport)
    assert parse_payload(json.dumps(old).encode(), NOW, TimeRules(earliest=T0)).reason == "time"
    ahead = good(start=iso(NOW + 300), end=iso(NOW + 360))  # a device clock 6 minutes ahead of the hub's
    assert isinstance(parse_payload(json.dumps(ahead).encode(), NOW, TimeRules(max_skew_s=900)), IntervalReport)
    assert parse_payload(json.dumps(ahead).encode(), NOW, TimeRules(max_skew_s=60)).reason == "time"


def test_the_lengths_are_the_divisors_of_an_hour_from_10_s() -> None:
    assert min(LENGTHS) == 10 and max(LENGTHS) == 3600 and all(3600 % n == 0 for n in LENGTHS)
    assert {60, 300, 900, 3600} <= LENGTHS and 7 not in LENGTHS and 420 not in LENGTHS


def test_the_published_schema_is_the_parser_s() -> None:
    """edgeemo/schemas/aggregate.schema.json is generated from the structs the parser uses."""
    committed = json.loads((REPO / "edgeemo" / "schemas" / "aggregate.schema.json").read_text())
    assert committed == json.loads(json.dumps(schema_document()))


# -- fuzz: mutations of a valid payload ---------------------------------------------------------------
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["2026-11-18T10:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "happy", "", "all"]),
)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=12)


def mutations() -> st.SearchStrategy[bytes]:
    """A valid version-3 payload with keys replaced, dropped or added, or its bytes cut or flipped."""
    base = good()
    keys = st.sampled_from(sorted(base))

    def replace(key: str, value) -> bytes:
        return json.dumps({**base, key: value}, allow_nan=True).encode()

    def drop(key: str) -> bytes:
        return json.dumps({k: v for k, v in base.items() if k != key}).encode()

    def cut(at: int) -> bytes:
        body = json.dumps(base).encode()
        return body[: at % len(body)]

    def flip(at: int, byte: int) -> bytes:
        body = bytearray(json.dumps(base).encode())
        body[at % len(body)] = byte
        return bytes(body)

    return st.one_of(
        st.builds(replace, keys, VALUES), st.builds(drop, keys), st.builds(cut, st.integers(0, 10_000)),
        st.builds(flip, st.integers(0, 10_000), st.integers(0, 255)),
        st.builds(lambda key, value: json.dumps({**base, key: value}).encode(), st.text(max_size=12), VALUES),
        st.builds(lambda n: json.dumps({**base, "emotions": {"happy": n, "sad": 3 - n}}).encode(),
                  st.integers(-5, 8)),
    )


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_every_mutation_is_read_or_refused_never_raised(body: bytes) -> None:
    result = parse_payload(body, NOW)  # an exception fails this test
    assert isinstance(result, (IntervalReport, Refusal))
    if isinstance(result, IntervalReport):
        assert 0 <= result.visits < 2**31 and sum(n for _, n in result.emotions) == result.visits
        assert math.isfinite(result.dwell_s_total) and 0 <= result.dwell_s_total <= 1e9
        assert result.length_s in LENGTHS and result.start % result.length_s == 0
        assert result.seq is None or 1 <= result.seq <= 2**53
    else:
        assert result.reason in ("malformed", "invalid", "time", "implausible") and len(result.error) <= 200

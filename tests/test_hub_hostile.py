"""Fleet ingest that no message can stop, on both databases: fuzzed payloads stored exactly or refused
with a reason, a poison message kept as a dead letter while the rest of its batch is stored, a
worker that stops said and acted on, sequence numbers that cannot blow up gap bookkeeping, and
timestamps and overlaps refused rather than counted."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeemo.aggregates import DEFAULT_GROUPS
from edgeemo.hub.ingest.gaps import MAX_RANGES, check_gaps, due_requests
from edgeemo.hub.ingest.messages import Interval, Rejected, parse_message
from edgeemo.hub.ingest.writer import store_messages, write_batch
from edgeemo.hub.storage.db import open_database
from edgeemo.hub.storage.schema import INTERVAL_FIELDS, interval_of
from edgeemo.labels import FERPLUS_LABELS
from edgeemo.payload_build import build_payload
from edgeemo.wire import MAX_RESEND
from tests.test_hub_store import rollups_equal_sums
from tests.test_payload import HOSTILE, NOW, T0, mutations


def payload_of(device: str, seq: int, minute: int = 0, length_s: int = 60, zone: str = "all", visits: int = 1,
               dwell: float = 4.0, store: str = "s1", t0: int = T0) -> bytes:
    """A good payload `minute` minutes after `t0` (T0 for parse_message at the fixed NOW; recent_day() for a
    live hub, which judges times by its own clock)."""
    return json.dumps(build_payload(
        store_id=store, device_id=device, zone=zone, seq=seq, start=t0 + 60 * minute, length_s=length_s,
        labels=FERPLUS_LABELS, faces_seen=visits, visits_by_emotion={"happy": visits}, groups=DEFAULT_GROUPS,
        dwell_s_total=dwell, model=None)).encode()


def parsed(body: bytes, device: str = "d1", store: str = "s1") -> Interval | Rejected:
    return parse_message(store, device, body, 16384, NOW)


def stored(database, key: tuple) -> Interval | None:
    with database.transaction() as tx:
        row = tx.one(f"SELECT {', '.join(c.name for c in INTERVAL_FIELDS)} FROM intervals WHERE store = ? AND "
                     "device = ? AND zone = ? AND start = ?", key)
    return interval_of(row) if row else None


# -- fuzz ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_fuzzed_payloads_are_stored_exactly_or_refused_with_a_reason(hub_url: str) -> None:
    """10,000 mutations of a valid payload (100 batches of 100), each batch with one good device's
    interval in it: every mutation is stored as parsed or refused with a reason; none raises; the
    good device is stored every time; the roll-ups stay the sums of what is stored."""
    database = open_database(hub_url)
    seen = {"batches": 0, "stored": 0, "refused": {}}

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(mutations(), min_size=99, max_size=99))
    def batch(bodies: list[bytes]) -> None:
        seen["batches"] += 1
        results = [parsed(body) for body in bodies]  # an exception fails the test
        results.append(parsed(payload_of("good", seen["batches"], minute=seen["batches"]), device="good"))
        intervals = [r for r in results if isinstance(r, Interval)]
        rejects = [r for r in results if isinstance(r, Rejected)]
        assert all(r.reason in ("malformed", "invalid", "time", "implausible", "foreign") and r.error
                   for r in rejects)
        result = store_messages(database, intervals, rejects, [], NOW)
        latest = {interval.key: interval for interval in intervals}
        differ = [key for key, interval in latest.items() if stored(database, key) != interval]
        assert len(differ) == len(result.refused), (differ, result.refused)  # not stored = refused, with why
        assert all(r.reason in ("overlap", "seq_jump") for r in result.refused)
        assert stored(database, intervals[-1].key) == intervals[-1]  # the good device, every time
        seen["stored"] += len(latest) - len(differ)
        for reason in [r.reason for r in rejects + result.refused]:
            seen["refused"][reason] = seen["refused"].get(reason, 0) + 1

    try:
        batch()
        rollups_equal_sums(database)
    finally:
        database.close()
    print(f"fuzz: {seen['batches'] * 100} payloads in {seen['batches']} batches; {seen['stored']} stored as parsed; "
          f"refused {seen['refused']}")
    assert seen["batches"] == 100


# -- the checks that need the database -----------------------------------------------------------------
def test_overlapping_intervals_of_one_device_and_zone_are_refused(hub_url: str) -> None:
    database = open_database(hub_url)
    try:
        stored_first = write_batch(database, [parsed(payload_of("d1", 1, minute=1)),  # [T0+60, T0+120)
                                              parsed(payload_of("d1", 2, minute=5, length_s=300))], NOW)
        assert stored_first.new == 2
        result = write_batch(database, [
            parsed(payload_of("d1", 3, minute=0, length_s=300)),  # [T0, T0+300) holds minute 1
            parsed(payload_of("d1", 4, minute=5)),  # a 60 s interval where a 300 s one starts
            parsed(payload_of("d1", 5, minute=0, length_s=300, zone="till")),  # another zone: no overlap
        ], NOW)
        assert (result.new, sorted(r.reason for r in result.refused)) == (1, ["overlap", "overlap"])
        within = write_batch(database, [parsed(payload_of("d1", 6, minute=12)),  # inside the next one
                                        parsed(payload_of("d1", 7, minute=10, length_s=300))], NOW)
        assert within.new == 1 and [r.reason for r in within.refused] == ["overlap"]
        with database.transaction() as tx:
            assert tx.one("SELECT count FROM rejects WHERE reason = 'overlap'")[0] == 3
            assert tx.one("SELECT count(*) FROM intervals")[0] == 4
        rollups_equal_sums(database)
    finally:
        database.close()


def test_an_implausible_sequence_jump_is_refused_not_expanded(hub_url: str) -> None:
    database = open_database(hub_url)
    try:
        write_batch(database, [parsed(payload_of("d1", seq, minute=seq)) for seq in (1, 2, 3)], NOW)
        result = write_batch(database, [parsed(payload_of("d1", 10**12, minute=5))], NOW, max_seq_jump=1000)
        assert result.new == 0 and [r.reason for r in result.refused] == ["seq_jump"]
        # a device the hub never met may start anywhere below 2**53: one range, bounded work
        tracemalloc.start()
        write_batch(database, [parsed(payload_of("fresh", 2**53, minute=7), device="fresh")], NOW)
        write_batch(database, [parsed(payload_of("fresh", 2**53 - 10**6, minute=8), device="fresh")], NOW)
        open_gaps = check_gaps(database, now=NOW, first_request_after_s=0, max_seq_jump=10**7)
        requests = due_requests(database, now=NOW + 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        database.close()
    assert open_gaps == 1  # "fresh": the ranges below its highest, within the look-back; d1 has none
    assert len(requests) <= MAX_RANGES and all(r.body["to"] - r.body["from"] < MAX_RESEND for r in requests)
    assert [r.body for r in requests] == [  # one request a range: its first MAX_RESEND numbers
        {"from": 2**53 - 10**7, "to": 2**53 - 10**7 + MAX_RESEND - 1},
        {"from": 2**53 - 10**6 + 1, "to": 2**53 - 10**6 + MAX_RESEND}]
    assert peak < 20 * 2**20  # megabytes, not the 391 MiB a million 10,000-wide requests took


def test_dwell_arrives_exactly(hub_url: str) -> None:
    database = open_database(hub_url)
    try:
        write_batch(database, [parsed(payload_of("d1", 1, visits=3, dwell=10.0))], NOW)
        with database.transaction() as tx:
            assert tx.one("SELECT dwell_s_total FROM intervals")[0] == 10.0  # version 2 sent 3.33 x 3 = 9.99
            assert tx.one("SELECT dwell_s_total FROM hourly")[0] == 10.0
    finally:
        database.close()


def test_every_hostile_payload_is_counted_by_reason(hub_url: str) -> None:
    database = open_database(hub_url)
    try:
        bodies = [body if isinstance(body, bytes) else json.dumps(body).encode() for body, _ in HOSTILE.values()]
        rejects = [parsed(body) for body in bodies]
        assert all(isinstance(r, Rejected) for r in rejects)
        store_messages(database, [], rejects, [], NOW)
        with database.transaction() as tx:
            counted = dict(tx.rows("SELECT reason, count FROM rejects"))
        expected: dict[str, int] = {}
        for body, (_, reason) in zip(bodies, HOSTILE.values()):
            reason = "oversized" if len(body) > 16384 else reason  # the hub measures before it reads
            expected[reason] = expected.get(reason, 0) + 1
        assert counted == expected
    finally:
        database.close()


def test_a_device_restarted_or_clock_stepped_inside_an_interval_leaves_no_gap_on_the_hub(hub_url: str,
                                                                                           tmp_path) -> None:
    from collections import Counter

    from edgeemo.edge.analytics.intervals import Aggregate
    from edgeemo.edge.analytics.store import AnalyticsStore
    from edgeemo.payload_build import payload_from_row

    def aggregate(minute: int, happy: int) -> Aggregate:
        return Aggregate(float(T0 + 60 * minute), 60, FERPLUS_LABELS, groups=DEFAULT_GROUPS,
                         visits_by_emotion=Counter(happy=happy), dwell_s_total=5.0 * happy)

    device = AnalyticsStore(tmp_path / "device.db")
    device.add_aggregate(aggregate(0, 1))
    device.close()  # a restart inside minute 0
    device = AnalyticsStore(tmp_path / "device.db")
    device.add_aggregate(aggregate(0, 1))  # minute 0 reopened and grown
    device.add_aggregate(aggregate(1, 1))
    device.flush()
    device.add_aggregate(aggregate(1, 2))  # the clock stepped: minute 1 closed early, then grew again
    device.add_aggregate(aggregate(2, 1))
    device.flush()
    rows = [row for _, row in device.unsent(100)]
    device.close()
    database = open_database(hub_url)
    try:
        sent = [parsed(json.dumps(payload_from_row(row, "s1", "d1")).encode()) for row in rows]
        assert write_batch(database, sent, NOW).new == 3
        assert check_gaps(database, now=NOW, first_request_after_s=0) == 0
        with database.transaction() as tx:
            assert tx.rows("SELECT seq, visits FROM intervals ORDER BY seq") == [(1, 2), (2, 3), (3, 1)]
            assert tx.one("SELECT gaps, max_seq FROM devices") == ("[]", 3)
    finally:
        database.close()

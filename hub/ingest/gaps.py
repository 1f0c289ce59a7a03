"""Missing intervals, found from each device's sequence numbers and asked for again.

The broker's acknowledgement proves delivery to the broker, not to the database (a broker
that drops a slow subscriber's queue acknowledges all the same), so the hub counts: every
aggregate has a per-device sequence number, and a hole between 1 and the highest number seen
is a gap. A gap that outlives `first_request_after_s` is requested on the device's `resend`
topic, again with exponential back-off while it stays open; the health endpoint lists them.

Gaps are ranges, and everything here is bounded whatever numbers a device sends: at most
MAX_RANGES ranges a device, one request a range (its first MAX_RESEND numbers: the rest are
asked for once those arrive), and only the last `max_seq_jump` numbers below a device's highest
are examined (what lies further back is older than any jump the hub accepts, so a device first
met at seq 5,000,000 is not asked for 4,999,999 intervals it no longer holds).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from edgeemo.hub.storage.db import Database
from edgeemo.wire import MAX_RESEND

MAX_RANGES = 50  # gaps remembered per device (the health page shows counts, the request asks for these)
MAX_DOUBLINGS = 32  # past this, base * 2**n is beyond any max_backoff_s: the count stops mattering
MAX_REQUESTS = 1_000_000  # gap_requests stops counting here (an INTEGER; a gap asked hourly for 114 years)


def backoff_s(base_s: float, requests: int, max_backoff_s: float) -> float:
    """The wait before asking again after `requests` requests: doubling from `base_s`, capped. Total: a gap
    asked 1,024 times (hourly, about 42 days) or a billion times is `max_backoff_s`, never an OverflowError
    (`2 ** 1024` is no float) that stops the re-send check of every device."""
    return min(max_backoff_s, base_s * 2.0 ** min(max(requests, 0), MAX_DOUBLINGS))


def missing_ranges(contiguous: int, seqs: list[int], max_seq: int) -> tuple[int, list[list[int]]]:
    """From the sequence numbers above `contiguous` (sorted): the new contiguous end and the holes."""
    ranges: list[list[int]] = []
    expected = contiguous + 1
    for seq in seqs:
        if seq > expected:
            ranges.append([expected, seq - 1])
        expected = max(expected, seq + 1)
    if max_seq >= expected:
        ranges.append([expected, max_seq])
    new_contiguous = ranges[0][0] - 1 if ranges else max(contiguous, max_seq)
    return new_contiguous, ranges[:MAX_RANGES]


def _present(tx, store: str, device: str, low: int, high: int | None = None) -> list[int]:
    upper = "" if high is None else " AND seq <= ?"
    return [row[0] for row in tx.rows(f"SELECT DISTINCT seq FROM intervals WHERE store = ? AND device = ? "
                                      f"AND seq >= ?{upper} ORDER BY seq",
                                      (store, device, low) if high is None else (store, device, low, high))]


def update_gaps(tx, store: str, device: str, gaps: list[list[int]], checked: int,
                max_seq: int, max_seq_jump: int | None = None) -> tuple[list[list[int]], int]:
    """The device's gaps after new arrivals, and how far its sequence numbers are now examined.

    Only the known gaps and the numbers above `checked` are read (indexed ranges), so a gap the
    device can no longer fill does not make every later check re-read its whole history."""
    if max_seq_jump is not None:
        checked = max(checked, max_seq - max_seq_jump - 1)
    kept: list[list[int]] = []
    for first, last in gaps:  # what arrived inside the known gaps
        kept += missing_ranges(first - 1, _present(tx, store, device, first, last), last)[1]
    if max_seq > checked:  # the numbers above what was examined before
        kept += missing_ranges(checked, _present(tx, store, device, checked + 1), max_seq)[1]
    if len(kept) > MAX_RANGES:  # remember the oldest; the rest is found again from where they end
        kept = kept[:MAX_RANGES]
        return kept, kept[-1][1]
    return kept, max(checked, max_seq)


def check_gaps(database: Database, now: float | None = None, first_request_after_s: float = 30.0,
               max_seq_jump: int | None = None) -> int:
    """Re-examine the devices that received intervals since the last check; returns open gaps."""
    now = int(time.time() if now is None else now)
    with database.transaction(write=True) as tx:
        dirty = tx.rows("SELECT store, device, checked_seq, max_seq, gaps, gap_requests, next_request_at "
                        "FROM devices WHERE gaps_dirty = 1")
        for store, device, checked, max_seq, old_gaps, requests, next_at in dirty:
            old = json.loads(old_gaps)
            gaps, checked = update_gaps(tx, store, device, old, checked, max_seq, max_seq_jump)
            if not gaps:
                requests, next_at = 0, None
            elif not old:  # newly open: give it time to fill by itself
                requests, next_at = 0, now + int(first_request_after_s)
            contiguous = gaps[0][0] - 1 if gaps else checked
            tx.run("UPDATE devices SET contiguous_seq = ?, checked_seq = ?, gaps = ?, gaps_dirty = 0, "
                   "gap_requests = ?, next_request_at = ? WHERE store = ? AND device = ?",
                   (contiguous, checked, json.dumps(gaps), requests, next_at, store, device))
        return tx.row("SELECT count(*) FROM devices WHERE gaps <> '[]'")[0]


@dataclass(frozen=True)
class ResendRequest:
    store: str
    device: str
    body: dict  # {"from": a, "to": b}


def due_requests(database: Database, now: float | None = None, max_backoff_s: float = 3600.0,
                 base_s: float = 30.0) -> list[ResendRequest]:
    """The re-send requests due now; each device's next one is pushed back (doubling, capped)."""
    now = int(time.time() if now is None else now)
    requests = []
    with database.transaction(write=True) as tx:
        due = tx.rows("SELECT store, device, gaps, gap_requests FROM devices WHERE gaps <> '[]' "
                      "AND next_request_at IS NOT NULL AND next_request_at <= ?", (now,))
        for store, device, gaps, done in due:
            for first, last in json.loads(gaps)[:MAX_RANGES]:  # one request a range, whatever its width
                requests.append(ResendRequest(store, device, {"from": first, "to": min(last, first + MAX_RESEND - 1)}))
            wait = backoff_s(base_s, done, max_backoff_s)
            tx.run("UPDATE devices SET gap_requests = CASE WHEN gap_requests < ? THEN gap_requests + 1 ELSE "
                   "gap_requests END, next_request_at = ? WHERE store = ? AND device = ?",
                   (MAX_REQUESTS, now + int(wait), store, device))
    return requests

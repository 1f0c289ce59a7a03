"""A message budget per device, so one device that floods cannot hold up the others.

The broker delivers a shared subscription in one order; a device that publishes 60,000 messages
puts them all in front of its neighbours' next interval. Each device has a token bucket (an
average rate and a burst, on the monotonic clock); a message over it is acknowledged without
being read, which costs a few microseconds instead of a parse and a database write, and is
counted. An honest device stays far below it (its outbox sends 20 a second by default, a day's
backlog of five zones is 7,200 messages), and an interval it loses that way is found as a gap
and asked for again.
"""

from __future__ import annotations

MAX_DEVICES = 100_000  # buckets kept; past it, full (idle) ones are forgotten: they would start full anyway


class DeviceBudget:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = rate_per_s, float(burst)
        self._buckets: dict[tuple[str, str], list[float]] = {}  # device -> [tokens, monotonic time]

    def take(self, device: tuple[str, str], now: float) -> bool:
        """One message from `device` at `now` (monotonic): True when within its budget."""
        bucket = self._buckets.get(device)
        if bucket is None:
            if len(self._buckets) >= MAX_DEVICES:
                self._forget_idle(now)
            bucket = self._buckets[device] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _forget_idle(self, now: float) -> None:
        full = [device for device, (tokens, at) in self._buckets.items()
                if tokens + (now - at) * self.rate >= self.burst]
        for device in full:
            del self._buckets[device]
        if len(self._buckets) >= MAX_DEVICES:  # every one busy (thousands of names flooding): start over
            self._buckets.clear()

"""Login throttling: too many failed logins for one name, or from one address, lock it for a while.

In memory, per hub process (the dashboard is served by one `hub serve`): a restart forgets the
failures, which only gives a guesser back one window's tries. While locked, a login is refused
before its password is checked, so guessing in a lockout learns nothing and costs no Argon2 work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MAX_KEYS = 20_000  # names and addresses remembered at once (a guesser trying random names cannot grow it)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float | None = None


class LoginThrottle:
    """Failures per name and per address in a sliding window; at the limit, a lockout that expires."""

    def __init__(self, per_name: int, per_address: int, window_s: float, lockout_s: float, clock=time.monotonic):
        self.limits = {"name": per_name, "address": per_address}
        self.window_s, self.lockout_s, self.clock = window_s, lockout_s, clock
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def locked_for(self, name: str, address: str) -> float:
        """Seconds until this name and address may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [entry.locked_until - now for key in self._keys(name, address)
                     if (entry := self._failures.get(key)) and entry.locked_until is not None]
        return max([0.0, *waits])

    def failed(self, name: str, address: str) -> bool:
        """Count a failed login; True when it locked the name or the address."""
        now = self.clock()
        locked = False
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._forget_old(now)
            for key in self._keys(name, address):
                entry = self._failures.setdefault(key, _Failures())
                entry.times = [t for t in entry.times if now - t < self.window_s] + [now]
                if len(entry.times) >= self.limits[key[0]] and (entry.locked_until is None or entry.locked_until <= now):
                    entry.locked_until, entry.times = now + self.lockout_s, []
                    locked = True
        return locked

    def succeeded(self, name: str) -> None:
        """A right password forgets the name's failures (not the address's: one account's password
        must not reset a guesser's count against the others)."""
        with self._lock:
            self._failures.pop(("name", name), None)

    @staticmethod
    def _keys(name: str, address: str) -> list[tuple[str, str]]:
        return [("name", name), ("address", address)]

    def _forget_old(self, now: float) -> None:
        """Drop what no longer counts; if a flood of keys all still count, the oldest half."""
        for key in [k for k, e in self._failures.items()
                    if (e.locked_until is None or e.locked_until <= now) and all(now - t >= self.window_s for t in e.times)]:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:  # the unlocked first, oldest first: a flood must not free a lock
            order = sorted(self._failures, key=lambda k: self._failures[k].locked_until is not None)
            for key in order[:MAX_KEYS // 2]:
                del self._failures[key]

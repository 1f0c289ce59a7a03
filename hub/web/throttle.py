"""Login throttling: too many failed logins for one name from one address, or from one address for
any names, lock that pair, or that address, for a while.

Not a name on its own: five wrong passwords from anywhere locked a known name for everyone, its
owner included, so anyone who knew a name could keep its owner out. A guesser's address is locked
for every name (per-address limit) and each name it tried (per-pair limit); the owner's own address
is not. See docs/threat-model.md for what that leaves open (a guesser with many addresses).

In memory, per hub process (the dashboard is served by one `hub serve`): a restart forgets the
failures, which only gives a guesser back one window's tries. Every attempt counts as a failure
the moment it is let through (`attempt`, one locked step), and a right password takes its own
attempt back: logins sent at once cannot all pass before the first has failed. While locked, a
login is refused before its password is checked, so guessing in a lockout learns nothing and
costs no Argon2 work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MAX_KEYS = 20_000  # names and addresses remembered at once, past live locks (at most twice that in all)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)
    locked_until: float | None = None


class LoginThrottle:
    """Failures per (name, address) and per address in a sliding window; at the limit, a lockout that expires."""

    def __init__(self, per_name: int, per_address: int, window_s: float, lockout_s: float, clock=time.monotonic):
        self.limits = {"name": per_name, "address": per_address}  # "name": one name from one address
        self.window_s, self.lockout_s, self.clock = window_s, lockout_s, clock
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def attempt(self, name: str, address: str) -> tuple[float, bool]:
        """Let a login through or not, in one step: (seconds it must wait, 0 when let through; whether
        letting it through locked the name or the address for the next ones). A let-through attempt
        counts as failed until `succeeded`."""
        with self._lock:
            wait_s = self._locked_for(name, address, self.clock())
            if wait_s > 0:
                return wait_s, False
            return 0.0, self._failed(name, address)

    def locked_for(self, name: str, address: str) -> float:
        """Seconds until this name and address may try again (0: now)."""
        with self._lock:
            return self._locked_for(name, address, self.clock())

    def failed(self, name: str, address: str) -> bool:
        """Count a failed login; True when it locked the name or the address."""
        with self._lock:
            return self._failed(name, address)

    def _locked_for(self, name: str, address: str, now: float) -> float:
        waits = [entry.locked_until - now for key in self._keys(name, address)
                 if (entry := self._failures.get(key)) and entry.locked_until is not None]
        return max([0.0, *waits])

    def _failed(self, name: str, address: str) -> bool:
        now = self.clock()
        locked = False
        if len(self._failures) >= MAX_KEYS:
            self._forget_old(now)
        for key in self._keys(name, address):
            entry = self._failures.setdefault(key, _Failures())
            entry.times = [t for t in entry.times if now - t < self.window_s] + [now]
            if len(entry.times) >= self.limits[key[0]] and (entry.locked_until is None or entry.locked_until <= now):
                entry.locked_until, entry.times = now + self.lockout_s, []
                locked = True
        return locked

    def succeeded(self, name: str, address: str) -> None:
        """A right password forgets the name's failures from this address and takes its own attempt
        back from the address (not the address's other failures: one account's password must not
        reset a guesser's count against the others)."""
        with self._lock:
            self._failures.pop(self._keys(name, address)[0], None)
            entry = self._failures.get(("address", address))
            if entry is not None and entry.times:
                entry.times.pop()

    @staticmethod
    def _keys(name: str, address: str) -> list[tuple[str, str]]:
        return [("name", f"{name}\x00{address}"), ("address", address)]  # NUL: in neither a name nor an address

    def _forget_old(self, now: float) -> None:
        """Drop what no longer counts, then the unlocked oldest first: a flood of new names or
        addresses never frees a lock. Only past twice MAX_KEYS live locks, the soonest to expire go."""
        for key in [k for k, e in self._failures.items()
                    if (e.locked_until is None or e.locked_until <= now) and all(now - t >= self.window_s for t in e.times)]:
            del self._failures[key]
        unlocked = [k for k, e in self._failures.items() if e.locked_until is None or e.locked_until <= now]
        for key in unlocked[:max(0, len(self._failures) - MAX_KEYS // 2)]:
            del self._failures[key]
        if len(self._failures) >= 2 * MAX_KEYS:
            for key in sorted(self._failures, key=lambda k: self._failures[k].locked_until or 0.0)[:MAX_KEYS]:
                del self._failures[key]

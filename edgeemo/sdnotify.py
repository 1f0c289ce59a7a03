"""systemd's notify protocol (sd_notify): READY=1, WATCHDOG=1, STOPPING=1, STATUS=. On the ground floor: the device and the hub both use it.

A datagram to the socket in $NOTIFY_SOCKET (a path, or '@' for the abstract namespace);
without it (not under systemd) every call does nothing. WATCHDOG=1 is sent from the frame
loop only, at most every half watchdog interval, so a loop that stalls on a hung camera
stops sending it and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ServiceNotifier:
    def __init__(self, environ: dict[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        environ = dict(os.environ) if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = int(environ.get("WATCHDOG_USEC", "0")) / 1e6
        if environ.get("WATCHDOG_PID") and environ["WATCHDOG_PID"] != str(os.getpid()):
            self.watchdog_s = 0.0  # the watchdog is meant for another process
        self._socket: socket.socket | None = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.last_ping = float("-inf")  # on `clock`; monotonic() starts near zero at boot: "never" is -inf
        self.watchdog_pings = 0
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, message: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify %r to %s failed: %s", message, self.address.lstrip("\0"), exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        """Ping the watchdog if half its interval has passed since the last ping."""
        if self._socket is None or self.watchdog_s <= 0:
            return
        now = self.clock()
        if now - self.last_ping >= self.watchdog_s / 2:
            self.last_ping = now
            self.watchdog_pings += 1
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

"""IANA time zones by name, for every side that shows a store's own time: the hub's store
calendars (`edgeemo.hub.localtime`) and the device's `edgeemo report --timezone`. A name is
checked against the zones this host knows, so a typo is one line naming it, never UTC by accident.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from edgeemo.errors import EdgeemoError

UTC = "UTC"


class TimeZoneError(EdgeemoError):
    """A time zone name that is not an IANA zone this host knows."""


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA zone names (from the `tzdata` package edgeemo depends on, or the system's), without the
    host-specific aliases a setting must not depend on (posix/, right/ with leap seconds, localtime)."""
    return frozenset(name for name in available_timezones()
                     if not name.startswith(("posix/", "right/")) and name not in ("localtime", "Factory", "posixrules"))


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name (America/Los_Angeles), or TimeZoneError naming it."""
    if not isinstance(name, str) or name not in known_zones():
        raise TimeZoneError(f"time zone {str(name)[:64]!r}: not an IANA zone name (e.g. America/New_York, "
                            "Asia/Kolkata; `python -c 'import zoneinfo; print(sorted(zoneinfo.available_timezones()))'` "
                            "lists them)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TimeZoneError(f"time zone {name!r}: its rules cannot be read on this host (is the tzdata package "
                            "installed?)") from None

"""Each store's own calendar: its IANA time zone, and the local hours, days and ISO weeks its
roll-ups and views are cut at.

Buckets are kept as unix seconds of their local start, so an hour bucket of a store in
Asia/Kathmandu (+05:45) starts at :15 UTC, a day bucket at local midnight, and a day across a
DST change is 23 or 25 hours long. Every zone's offsets and changes fall on quarter hours, so
all the minutes of one UTC quarter hour share their local hour and day: the cache is keyed by
it. A device's intervals must not straddle a local hour: its `bucket_s` must divide 15 minutes
(the default, 60 s, does) for the roll-ups to be exact in every zone.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from edgeemo.timezones import UTC, TimeZoneError, zone  # noqa: F401 (the zones by name: the ground floor's)
from edgeemo.wire import parse_iso

QUARTER, HOUR, DAY = 900, 3600, 86400
MONDAY_OFFSET = 4 * DAY  # the unix epoch was a Thursday: 1970-01-05, four days on, a Monday


def _local(name: str, timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=zone(name))


def _start_of(moment: datetime) -> int:
    """Unix seconds of a local wall time (the earlier one when the clock was set back)."""
    return int(moment.replace(fold=0).timestamp())


def _wall_hour(name: str, timestamp: int) -> tuple:
    local = _local(name, timestamp)
    return local.date(), local.hour, local.fold  # fold: the second of two equal wall hours (clocks set back)


@functools.lru_cache(maxsize=1 << 16)
def _quarter_buckets(name: str, quarter: int) -> tuple[int, int]:
    """A local hour starts at its first quarter hour with the same wall date, hour and fold: that is
    :00 local in most zones, but an hour cut short by a 30-minute change (Australia/Lord_Howe) starts
    where the change put the clock."""
    start = quarter * QUARTER
    wall = _wall_hour(name, start)
    while start - QUARTER >= quarter * QUARTER - 2 * HOUR and _wall_hour(name, start - QUARTER) == wall:
        start -= QUARTER
    return start, day_start(name, quarter * QUARTER)


def rollup_buckets(name: str, timestamp: int) -> tuple[int, int]:
    """(hour bucket, day bucket) of an interval starting at `timestamp`, in the zone's local time."""
    return _quarter_buckets(name, timestamp // QUARTER)


def hour_start(name: str, timestamp: int) -> int:
    if name == UTC:
        return timestamp - timestamp % HOUR
    return rollup_buckets(name, int(timestamp))[0]


def day_start(name: str, timestamp: float) -> int:
    """Unix seconds of local midnight of the day holding `timestamp`."""
    if name == UTC:
        return int(timestamp - timestamp % DAY)
    local = _local(name, timestamp)
    return _start_of(local.replace(hour=0, minute=0, second=0, microsecond=0))


@functools.lru_cache(maxsize=1 << 14)
def week_start(name: str, timestamp: float) -> int:
    """Unix seconds of local midnight on the Monday of the ISO week holding `timestamp`."""
    if name == UTC:
        return int(timestamp - (timestamp - MONDAY_OFFSET) % (7 * DAY))
    local = _local(name, timestamp)
    monday = (local - timedelta(days=local.weekday())).date()
    return _start_of(datetime(monday.year, monday.month, monday.day, tzinfo=zone(name)))


def next_day(name: str, day: int) -> int:
    """The local midnight after the one at `day` (23, 24 or 25 hours on)."""
    date = _local(name, day).date() + timedelta(days=1)
    return _start_of(datetime(date.year, date.month, date.day, tzinfo=zone(name)))


def bucket_start(name: str, timestamp: int, bucket: str) -> int:
    """The start of the local hour, day or ISO week holding `timestamp`."""
    if bucket == "hour":
        return hour_start(name, timestamp)
    if bucket == "day":
        return day_start(name, timestamp) if name == UTC else rollup_buckets(name, int(timestamp))[1]
    return week_start(name, day_start(name, timestamp))


def bucket_end(name: str, start: int, bucket: str) -> int:
    """The end of the local bucket that starts at `start`."""
    if bucket == "hour":
        return start + 3600
    end = next_day(name, start)
    for _ in range(6 if bucket == "week" else 0):
        end = next_day(name, end)
    return end


def weekday_hour(name: str, timestamp: int) -> tuple[int, int]:
    """(ISO weekday with 0 = Monday, hour of day) in local time."""
    if name == UTC:
        return int((timestamp - MONDAY_OFFSET) // DAY % 7), int(timestamp % DAY // HOUR)
    local = _local(name, timestamp)
    return local.weekday(), local.hour


@functools.lru_cache(maxsize=1 << 14)
def _ordinal(name: str, timestamp: int) -> int:
    return _local(name, timestamp).date().toordinal()


def days_between(name: str, earlier: int, later: int) -> int:
    """Calendar days from the local date of `earlier` to that of `later`."""
    if name == UTC:
        return int(later // DAY - earlier // DAY)
    return _ordinal(name, later) - _ordinal(name, earlier)


def offset_label(name: str, timestamp: float) -> str:
    """The zone with its UTC offset at that time, e.g. "America/Los_Angeles (UTC-08:00)"."""
    if name == UTC:
        return "UTC"
    offset = _local(name, timestamp).strftime("%z")
    return f"{name} (UTC{offset[:3]}:{offset[3:]})"


def local_iso(name: str, timestamp: float) -> str:
    """A time as the store's local date-time with its offset (2026-11-01T00:00:00-07:00); UTC as Z."""
    if name == UTC:
        return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return _local(name, timestamp).isoformat(timespec="seconds")


def parse_local(text: str, name: str) -> float:
    """An ISO date or date-time in the store's local time unless it names its own offset (ValueError)."""
    return parse_iso(text, zone(name))


# -- times as people read them ------------------------------------------------------------------
# The pages say every time in the store's own zone, named: never an ISO string, never UTC unless the
# store is in UTC. Day first with the month's name, so no reader wonders whether 03/04 is March or April.
def zone_abbreviation(name: str, timestamp: float) -> str:
    """The zone's short name at that time (PST, CET), or its offset when it has none (UTC+05:45)."""
    if name == UTC:
        return "UTC"
    short = _local(name, timestamp).strftime("%Z")
    if short[:1] in "+-" or not short:
        offset = _local(name, timestamp).strftime("%z")
        return f"UTC{offset[:3]}:{offset[3:]}"
    return short


def _day(moment: datetime, year: bool = True) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}" + (f" {moment.year}" if year else "")


def readable_time(name: str, timestamp: float, zone_named: bool = True, year: bool = True) -> str:
    """A moment as a person reads it in the store's zone: "Mon 30 Nov 2026, 05:29 PST" (without the year
    where a table has no room for it)."""
    local = _local(name, timestamp)
    return f"{_day(local, year)}, {local:%H:%M}" + (f" {zone_abbreviation(name, timestamp)}" if zone_named else "")


def readable_range(name: str, since: float, until: float) -> str:
    """[since, until) in the store's zone: whole days as the days they are ("Mon 23 Nov – Sun 29 Nov 2026",
    the last day inclusive), anything else with its hours ("Mon 30 Nov 2026, 10:00 – 14:00")."""
    start, end = _local(name, since), _local(name, until)
    if day_start(name, since) == int(since) and day_start(name, until) == int(until) and until > since:
        last = _local(name, until - 1)
        if last.date() == start.date():
            return _day(start)
        return f"{_day(start, start.year != last.year)} – {_day(last)}"
    if end.date() == start.date():
        return f"{_day(start)}, {start:%H:%M} – {end:%H:%M}"
    if day_start(name, until) == int(until):  # ends at a midnight: the end of the day before
        last = _local(name, until - 1)
        if last.date() == start.date():
            return f"{_day(start)}, {start:%H:%M} – 24:00"
        return f"{_day(start, start.year != last.year)}, {start:%H:%M} – {_day(last)}, 24:00"
    return f"{_day(start, start.year != end.year)}, {start:%H:%M} – {_day(end)}, {end:%H:%M}"

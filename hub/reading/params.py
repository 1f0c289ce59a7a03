"""A request's parameters as the pages, the API and `hub export` take them: a range in the store's
own time, a bucket, k, a store or zone name; anything else is a `QueryError` naming it (a 400, or
one line on the command line)."""

from __future__ import annotations

import re
import time

from edgeemo.errors import EdgeemoError
from edgeemo.hub.localtime import UTC, parse_local
from edgeemo.wire import NAME_PATTERN, ZONE_PATTERN

BUCKETS = ("hour", "day", "week")
EARLIEST, LATEST = 946_684_800, 7_258_118_400  # 2000-01-01 and 2200-01-01 UTC: the range a query may ask about
NAMES = {"store": re.compile(NAME_PATTERN), "zone": re.compile(ZONE_PATTERN)}


class QueryError(EdgeemoError):
    """A range, bucket or k that cannot be shown (the API answers 400, the CLI one line)."""


def parse_time(text: str, name: str, timezone: str = UTC) -> int:
    """A date (2026-11-01) or date-time (2026-11-01T10:00[Z]) as unix seconds, in the store's local time
    unless it names its offset, in 2000-2199 (a range every day, week and offset of which has a name)."""
    try:
        moment = int(parse_local(text[:64], timezone))
    except (ValueError, OverflowError):
        raise QueryError(f"{name}={text[:64]!r}: expected a date like 2026-11-01 or 2026-11-01T10:00Z") from None
    if not EARLIEST - 86400 <= moment < LATEST + 86400:  # a day's slack: a date in any zone
        raise QueryError(f"{name}={text[:64]!r}: expected a time from 2000-01-01 to 2199-12-31")
    return moment


def check_name(value: str, kind: str) -> str:
    """A store or zone name as the devices may send it (letters, digits, _ . -), else a QueryError naming it."""
    if not NAMES[kind].fullmatch(value):
        raise QueryError(f"{kind}={value[:80]!r}: not a {kind} name (letters, digits, _ . -; "
                         f"at most {64 if kind == 'store' else 32})")
    return value


def time_range(params: dict, default_days: int = 7, suffix: str = "", timezone: str = UTC) -> tuple[int, int]:
    """[since, until) from since/until (dates in the store's zone) or days (ending now)."""
    now = int(time.time())
    until = parse_time(params[f"until{suffix}"], f"until{suffix}", timezone) if params.get(f"until{suffix}") else now
    if params.get(f"since{suffix}"):
        since = parse_time(params[f"since{suffix}"], f"since{suffix}", timezone)
    else:
        try:
            days = float(params.get(f"days{suffix}", default_days))
        except ValueError:
            raise QueryError(f"days{suffix}={str(params.get(f'days{suffix}'))[:64]!r}: expected a number") from None
        if not 0 < days <= 3660:
            raise QueryError(f"days{suffix}={days:g}: expected 0 < days <= 3660")
        since = max(until - int(days * 86400), EARLIEST)
    if since >= until:
        raise QueryError(f"since{suffix} must be before until{suffix}")
    return since, until


def choose_bucket(params: dict, since: int, until: int) -> str:
    bucket = params.get("bucket") or ("hour" if until - since <= 3 * 86400 else "day")
    if bucket not in BUCKETS:
        raise QueryError(f"bucket={str(bucket)[:16]!r}: choose hour, day or week")
    if bucket == "hour" and until - since > 92 * 86400:
        raise QueryError("bucket=hour covers at most 92 days: choose day or week")
    return bucket


def min_visits(params: dict, default: int) -> int:
    try:
        k = int(str(params.get("min_visits", default))[:12])
    except ValueError:
        raise QueryError("min_visits: expected an integer") from None
    if k > 1_000_000:
        raise QueryError(f"min_visits={k}: at most 1,000,000")
    if k < default:  # a viewer may suppress more, never less, than the fleet's k
        raise QueryError(f"min_visits={k}: the hub's k is {default}; only larger values are allowed")
    return k

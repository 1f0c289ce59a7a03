"""`edgeemo report`'s buckets in the store's own time zone, made of whole k-anonymity cells.

The device checks k on cells of one UTC hour (`edgeemo.aggregates.CELL_S`), so every bucket must
be a union of whole cells, or a report could split a cell and two reports subtract to a group
under k. An hour bucket is a cell (in a zone with a :30 or :45 offset it runs 10:30-11:30 local);
a day bucket holds the cells whose middle falls on that local date, which is the local day exactly
wherever midnight falls on a whole UTC hour (every zone but a handful) and within half an hour of
it elsewhere. A day across a DST change holds 23 or 25 cells.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from edgeemo.aggregates import CELL_S
from edgeemo.timezones import UTC, zone
from edgeemo.wire import iso


class ReportCalendar:
    """The buckets of one zone (an IANA name, checked: TimeZoneError names a wrong one)."""

    def __init__(self, name: str = UTC) -> None:
        self.name, self.tz = name, zone(name)

    def bucket(self, end: float, kind: str) -> tuple[int, int]:
        """[start, end) of the hour or day bucket holding a visit that ended at `end` (unix seconds)."""
        cell = int(end // CELL_S) * CELL_S
        if kind == "hour":
            return cell, cell + CELL_S
        day = self.local(cell + CELL_S / 2).date()
        return self._first_cell(day), self._first_cell(day + timedelta(days=1))

    def _first_cell(self, day: date) -> int:
        """The first cell whose middle is on or after the local midnight starting `day`."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()
        return math.ceil((midnight - CELL_S / 2) / CELL_S) * CELL_S

    def local(self, timestamp: float) -> datetime:
        return datetime.fromtimestamp(timestamp, tz=self.tz)

    def iso(self, timestamp: float) -> str:
        """A bucket's start or end for the CSV and JSON: local with its offset (UTC: ...Z, as before)."""
        return iso(timestamp) if self.name == UTC else self.local(timestamp).isoformat(timespec="seconds")

    def tick(self, start: int, kind: str) -> str:
        """A bucket as a chart's axis says it: the local date of a day, the local hour of an hour."""
        if kind == "hour":
            return f"{self.local(start):%m-%d %H:%M}"
        return f"{self.local(start + CELL_S / 2):%Y-%m-%d}"

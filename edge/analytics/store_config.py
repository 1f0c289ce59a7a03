"""`[store]`: the device database's settings, and since when its visits were read by the model it runs now."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import Field, field_validator

from edgeemo.payload import LENGTHS
from edgeemo.timezones import TimeZoneError, zone
from edgeemo.tomlconfig import Section


class StoreConfig(Section):
    """`[store]`: the local database, its intervals, commits and retention."""

    path: Path | None = Field(None, description="SQLite file; default: $STATE_DIRECTORY/edgeemo.db or ./edgeemo.db")
    bucket_s: int = Field(60, ge=10, le=3600, description="aggregation interval (per-minute by default); it "
                          "divides an hour, as the hub requires (10, 12, 15, 20, 30, 60, 300, 900, 3600, ...)")
    commit_every_s: float = Field(10.0, gt=0, le=3600, description="batched commits")
    retention_days: float = Field(90.0, gt=0, le=3650)
    max_pending_rows: int = Field(100_000, ge=100, description="rows held in memory while the disk fails")
    timezone: str | None = Field(None, description="the store's IANA time zone (America/Los_Angeles): `edgeemo "
                                 "report` shows its days and times in it (default UTC); the hub keeps its own")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zone(value)
            except TimeZoneError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("bucket_s")
    @classmethod
    def _divides_an_hour(cls, value: int) -> int:
        if value not in LENGTHS:
            raise ValueError(f"{value} s does not divide an hour; the hub refuses such intervals (use e.g. 60 or 300)")
        return value


def calibration_since(previous: dict[str, object], made_by: dict[str, object], now: float | None = None) -> float:
    """Since when visits have been classified by this model with these satisfaction groups: kept
    from the last run when it ran the same, else now. `edgeemo report` corrects only those visits
    with the model's calibration; earlier ones (another model, other groups) are counted raw."""
    same = all(previous.get(key) == json.loads(json.dumps(value)) for key, value in made_by.items())
    since = previous.get("calibration_since")
    if same and isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    return time.time() if now is None else now

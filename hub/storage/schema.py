"""The hub's tables, described once: the migrations create them from these descriptions, reads
and bulk writes take their column lists from them, and `Interval` is the `intervals` row.

Types are portable SQL that PostgreSQL and SQLite both accept; each column also names its
PostgreSQL array type (bulk writes send columns as arrays) and the schema version that added
it, so a migration step is "create the tables of version 1" or "add the columns of version N".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from operator import attrgetter
from typing import Any

import msgspec

from edgeemo.bands import UNSIZED

TEXT, BIGINT, INTEGER, FLOAT = ("TEXT", "text"), ("BIGINT", "bigint"), ("INTEGER", "integer"), \
    ("DOUBLE PRECISION", "float8")
HOUR, DAY = 3600, 86400


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # the portable SQL type
    array: str  # its PostgreSQL array element type (bulk writes)
    null: bool = False
    default: str | None = None  # SQL literal; a column added to an existing table needs one unless null
    since: int = 1  # the schema version that added it
    references: str | None = None  # e.g. "users (name) ON DELETE CASCADE"
    codec: str | None = None  # "json": a tuple kept as a JSON list; "json_items": (key, value) pairs as an object
    widened: int | None = None  # the schema version that made an INTEGER column BIGINT (a sum that can grow)

    def sql_at(self, version: int) -> str:
        return INTEGER[0] if self.widened is not None and version < self.widened else self.sql

    def ddl(self, version: int | None = None) -> str:
        kind = self.sql if version is None else self.sql_at(version)
        return " ".join(filter(None, (self.name, kind, None if self.null else "NOT NULL",
                                      f"DEFAULT {self.default}" if self.default is not None else None,
                                      f"REFERENCES {self.references}" if self.references else None)))

    def encode(self, value: Any) -> Any:
        if self.codec == "json_bands":  # ((band, ((label, visits), ...)), ...) as {band: {label: visits}}; or NULL
            return None if value is None else msgspec.json.encode({band: dict(counts) for band, counts in value}).decode()
        if self.codec == "json":
            return json_list(tuple(value))
        if self.codec == "json_items":
            return msgspec.json.encode(dict(value)).decode()
        return value

    def decode(self, value: Any) -> Any:
        if self.codec == "json_bands":
            return None if value is None else tuple((band, tuple(counts.items())) for band, counts in json.loads(value).items())
        if self.codec == "json":
            return tuple(json.loads(value))
        if self.codec == "json_items":
            return tuple(json.loads(value).items())
        return value


@lru_cache(maxsize=4096)
def json_list(items: tuple) -> str:
    """A tuple as compact JSON, remembered: a fleet repeats a handful of label lists millions of times."""
    return msgspec.json.encode(items).decode()


def col(name: str, kind: tuple[str, str], **options: Any) -> Column:
    return Column(name, kind[0], kind[1], **options)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def at(self, version: int) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.since <= version)

    def create(self, version: int = 1) -> str:
        """CREATE TABLE with the columns the table had at `version`."""
        body = ", ".join(c.ddl(version) for c in self.at(version))
        return f"CREATE TABLE {self.name} ({body}, PRIMARY KEY ({', '.join(self.key)}))"

    def added_in(self, version: int) -> list[str]:
        return [f"ALTER TABLE {self.name} ADD COLUMN {c.ddl()}" for c in self.columns if c.since == version > 1]

    def widened_in(self, version: int) -> list[str]:
        """The columns that became BIGINT at `version`."""
        return [c.name for c in self.columns if c.widened == version]

    def names(self, columns: tuple[Column, ...] | None = None) -> str:
        return ", ".join(c.name for c in (columns or self.columns))

    def arrays(self, names: tuple[str, ...] | None = None) -> dict[str, str]:
        """{column: PostgreSQL array type} of the given columns (all by default), in order."""
        by_name = {c.name: c for c in self.columns}
        return {name: by_name[name].array for name in (names or tuple(by_name))}


def interval_column(kind: tuple[str, str], **options: Any) -> Any:
    """A field of `Interval` that is a column of `intervals` (its name is the field's)."""
    return field(metadata={"column": (kind, options)})


@dataclass(slots=True)  # not frozen: frozen dataclasses build slowly, and thousands are built a second
class Interval:
    """One device's zone over one interval, as received (validated): a row of `intervals`."""

    store: str = interval_column(TEXT)
    device: str = interval_column(TEXT)
    zone: str = interval_column(TEXT)
    start: int = interval_column(BIGINT)  # unix seconds (UTC)
    length_s: int = interval_column(INTEGER)
    seq: int | None = interval_column(BIGINT, null=True)
    labels: tuple[str, ...] = interval_column(TEXT, codec="json")
    emotions: tuple[tuple[str, int], ...] = interval_column(TEXT, codec="json_items")  # (label, visits) in label order
    groups: str = interval_column(TEXT)  # JSON {"positive": [...], "negative": [...]}
    faces_seen: int = interval_column(INTEGER)
    visits: int = interval_column(INTEGER)
    positive: int = interval_column(INTEGER)
    negative: int = interval_column(INTEGER)
    dwell_s_total: float = interval_column(FLOAT)
    model: str | None = interval_column(TEXT, null=True, since=3)  # JSON {"name", "sha256"}; None before version 3
    # version 9 (payload version 4): visits by face-size band and label (edgeemo.bands); None before: all unsized
    bands: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None = interval_column(
        TEXT, null=True, since=9, codec="json_bands")

    @property
    def key(self) -> tuple[str, str, str, int]:
        return self.store, self.device, self.zone, self.start

    def numbers(self) -> tuple[int, int, int, int, float]:
        return self.faces_seen, self.visits, self.positive, self.negative, self.dwell_s_total

    def by_band(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        """Visits by face-size band and label; an interval from before bands: every visit unsized."""
        return self.bands if self.bands is not None else ((UNSIZED, self.emotions),)


INTERVAL_FIELDS = tuple(col(f.name, f.metadata["column"][0], **f.metadata["column"][1]) for f in fields(Interval))
KEY = (col("store", TEXT), col("device", TEXT), col("zone", TEXT))
NUMBERS = tuple(c for c in INTERVAL_FIELDS if c.name in ("faces_seen", "visits", "positive", "negative",
                                                         "dwell_s_total"))



def counter(column: Column, version: int = 8) -> Column:
    """A summing copy of an INTEGER column: BIGINT from `version` (8: a cell, a day or an emotion's
    visits are sums, which one hostile interval of 2^31 - 1 visits pushed past 32 bits on PostgreSQL)."""
    return replace(column, sql=BIGINT[0], array=BIGINT[1], widened=version) if column.sql == INTEGER[0] else column


SUMS = tuple(counter(c) for c in NUMBERS)
META = Table("hub_meta", (col("key", TEXT), col("value", TEXT)), ("key",))
# one row per device, zone and interval: the payload as received (validated)
INTERVALS = Table("intervals", (*INTERVAL_FIELDS, col("received_at", BIGINT)), ("store", "device", "zone", "start"))
# additive roll-ups, kept in the same transaction as the intervals they sum (the store's local hours and days,
# from version 5; UTC before, and for a store in UTC)
# version 4: how a roll-up row's counts were made, "<model sha256>|<satisfaction groups JSON>" ('' when
# several models or groups were summed, NULL when unknown): what the corrected estimates take the model's
# calibration and the groups from (hub/estimating.py rollup_key)
# version 6: an hourly row is a cell, the unit every released number is summed from (edgeemo.aggregates.Release):
# its `day` (the local day it belongs to) lets a long range sum cells by day in SQL; the daily tables, whose rows
# summed cells under k into what a viewer sees, are gone (kept here only to migrate through versions 1-5)
# version 8: every summed count BIGINT (on PostgreSQL; SQLite's INTEGER is 64-bit already), so no sum of bounded
# intervals can overflow a cell, a day or the upkeep that seals them
ROLLUP = (*KEY, col("bucket", BIGINT), counter(col("intervals", INTEGER)), *SUMS,
          col("model", TEXT, null=True, since=4))
HOURLY = Table("hourly", (*ROLLUP, col("day", BIGINT, null=True, since=6)), ("store", "device", "zone", "bucket"))
DAILY = Table("daily", ROLLUP, ("store", "device", "zone", "bucket"))
HOURLY_EMOTIONS, DAILY_EMOTIONS = (
    Table(name, (*KEY, col("bucket", BIGINT, since=since), col("label", TEXT, since=since),
                 counter(col("visits", INTEGER, since=since))), ("store", "device", "zone", "bucket", "label"))
    for name, since in (("hourly_emotions", 1), ("daily_emotions", 5)))
# version 9: each cell's visits by face-size band and label (payload version 4; rows before it: band 'unsized'),
# what the corrected estimates read: each band is corrected with the model's confusion at that face size
HOURLY_BANDS = Table("hourly_bands", (*KEY, col("bucket", BIGINT), col("band", TEXT), col("label", TEXT),
                                      counter(col("visits", INTEGER))), ("store", "device", "zone", "bucket", "band",
                                                                         "label"))
# each device's state: availability, last interval, sequence numbers and their gaps
DEVICES = Table("devices", (
    col("store", TEXT), col("device", TEXT), col("online", INTEGER, default="0"),
    col("availability_at", BIGINT, null=True), col("last_seen", BIGINT, null=True),
    col("last_start", BIGINT, null=True), col("labels", TEXT, null=True),
    col("max_seq", BIGINT, default="0"), col("contiguous_seq", BIGINT, default="0"),
    col("gaps", TEXT, default="'[]'"), col("gaps_dirty", INTEGER, default="0"),
    col("gap_requests", INTEGER, default="0"), col("next_request_at", BIGINT, null=True),
    # version 2: how far the sequence numbers have been examined for gaps
    col("checked_seq", BIGINT, default="0", since=2),
    # version 3: the model of the device's last interval (JSON {"name", "sha256"})
    col("model", TEXT, null=True, since=3),
    # version 4: the satisfaction groups of its last interval (JSON), which its corrected index uses
    col("groups", TEXT, null=True, since=4),
), ("store", "device"))
# refused payloads, counted per device and reason
REJECTS = Table("rejects", (col("store", TEXT), col("device", TEXT), col("reason", TEXT), col("count", BIGINT),
                            col("last_at", BIGINT), col("last_error", TEXT)), ("store", "device", "reason"))
# version 3: payloads that could not be stored after retries, kept (and acknowledged) so they never block ingest
DEAD_LETTERS = Table("dead_letters", (
    col("store", TEXT, since=3), col("device", TEXT, since=3), col("digest", TEXT, since=3),
    col("topic", TEXT, since=3), col("reason", TEXT, since=3), col("error", TEXT, since=3),
    col("body", TEXT, since=3),  # base64 of the message as received
    col("count", BIGINT, since=3), col("first_at", BIGINT, since=3), col("last_at", BIGINT, since=3),
), ("store", "device", "digest"))
# version 5: each store's IANA time zone (a store without a row is in UTC); its roll-ups are cut at its local
# hours and days (hub/localtime.py), and a change of zone re-derives them (hub/storage/stores.py)
STORES = Table("stores", (col("store", TEXT, since=5), col("timezone", TEXT, since=5), col("set_at", BIGINT, since=5)),
               ("store",))
# version 7: what long ranges and the overview read, kept by the upkeep (hub/storage/upkeep.py): each device zone's
# released numbers per local day (the sums of its released cells: edgeemo.aggregates.Release with the hub's k),
# and the hours written since, to seal again once they settle
SEALED_KEY = (*KEY, col("day", BIGINT), col("model", TEXT))  # model: the cells' roll-up key, '' unknown or mixed
RELEASED_DAILY = Table("released_daily", (*SEALED_KEY, *SUMS),
                       ("store", "device", "zone", "day", "model"))
RELEASED_DAILY_EMOTIONS = Table("released_daily_emotions", (*SEALED_KEY, col("label", TEXT),
                                                            counter(col("visits", INTEGER))),
                                ("store", "device", "zone", "day", "model", "label"))
RELEASED_DAILY_BANDS = Table("released_daily_bands", (*SEALED_KEY, col("band", TEXT), col("label", TEXT),
                                                      counter(col("visits", INTEGER))),
                             ("store", "device", "zone", "day", "model", "band", "label"))
DIRTY_HOURS = Table("dirty_hours", (col("store", TEXT), col("day", BIGINT), col("bucket", BIGINT)),
                    ("store", "day", "bucket"))
USERS = Table("users", (col("name", TEXT), col("password_hash", TEXT), col("role", TEXT), col("created_at", BIGINT)),
              ("name",))
SESSIONS = Table("sessions", (col("token_hash", TEXT), col("name", TEXT, references="users (name) ON DELETE CASCADE"),
                              col("csrf", TEXT),
                              col("expires_at", BIGINT)), ("token_hash",))


def interval_of(row: tuple) -> Interval:
    """An `Interval` from a row selected with `INTERVALS.names(INTERVAL_FIELDS)`."""
    return Interval(*(column.decode(value) for column, value in zip(INTERVAL_FIELDS, row)))


_FIELD_VALUES = attrgetter(*(column.name for column in INTERVAL_FIELDS))
_ENCODED = [(i, column.encode) for i, column in enumerate(INTERVAL_FIELDS) if column.codec]


def interval_row(interval: Interval, received_at: int) -> tuple:
    """The `intervals` row of an interval, in `INTERVALS` column order (on the ingest path: the
    values are taken in one C call, and only the JSON columns go through Python)."""
    values = [*_FIELD_VALUES(interval), received_at]
    for index, encode in _ENCODED:
        values[index] = encode(values[index])
    return tuple(values)

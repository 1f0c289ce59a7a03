"""`edgeemo report`: satisfaction over time and the emotion mix, from the analytics database.

Buckets are built from visits (one shopper, one visit), under the hub's k-anonymity rule
(`edgeemo.aggregates.Release`): a visit counts only when its cell (its zone over one UTC hour)
has at least k visits and is over and settled, and the range snaps outward to whole hours, so no
two reports (other ranges, buckets, zones or k) differ by a group under k. A bucket none of whose
visits count is not listed (whether anyone came does not show either). Hours and days are the
store's own (`--timezone`, else the device's `[store] timezone`, else UTC; `calendar.py`). A
bucket's emotion shares are raw (`raw_share_*`: what the model read); the whole range's mix is
also corrected, with its interval, beside them. Outputs: satisfaction.png, emotion_mix.png,
report.csv, emotion_mix.csv, report.json.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeemo.aggregates import (
    CELL_S,
    DEFAULT_GROUPS,
    SETTLE_S,
    Release,
    SatisfactionGroups,
    is_suppressed,
    satisfaction_from_counts,
)
from edgeemo.bands import band_of
from edgeemo.calibrations import band_calibrations
from edgeemo.edge.analytics.calendar import ReportCalendar
from edgeemo.edge.analytics.charts import write_charts
from edgeemo.edge.analytics.schema import open_readonly
from edgeemo.errors import EdgeemoError
from edgeemo.estimates import PRECISION_FLOOR, Calibration, Estimate, banded_estimates, index_estimate, mix_estimate
from edgeemo.labels import LABELS
from edgeemo.timezones import UTC, TimeZoneError
from edgeemo.wire import parse_iso

log = logging.getLogger(__name__)
TOTAL = "(all zones)"
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last moment an ISO date can name
BUCKETS = ("hour", "day")  # whole cells: a shorter bucket would split the hours k is checked on
RAW_SHARE = "raw_share_"  # a bucket's share of visits by dominant label: counted, never corrected


def _parse_time(value: str | None, flag: str, calendar: ReportCalendar) -> float | None:
    if value is None:
        return None
    try:
        return parse_iso(value, calendar.tz)
    except ValueError:
        raise EdgeemoError(f"{flag} {value!r}: not an ISO date or time (e.g. 2026-11-22 or 2026-11-22T09:00)") from None


def report_calendar(db_path: Path, option: str | None) -> tuple[ReportCalendar, str]:
    """The report's time zone and where it came from: --timezone, else the zone the device's config
    names (`[store] timezone`, which `edgeemo run` records in the database), else UTC."""
    name, source = (option, "--timezone") if option is not None else (_configured_timezone(db_path), "config")
    if name is None:
        return ReportCalendar(UTC), "default"
    try:
        return ReportCalendar(name), source
    except TimeZoneError as exc:
        where = "--timezone" if source == "--timezone" else f"{db_path}: the device's [store] timezone"
        raise EdgeemoError(f"{where}: {exc}") from None


def _configured_timezone(db_path: Path) -> str | None:
    """The `[store] timezone` of the run that wrote the database (None: none set, or unreadable here: reading
    the visits says why)."""
    try:
        connection = open_readonly(db_path)
        try:
            row = connection.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
        finally:
            connection.close()
        name = json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError, TypeError):
        return None
    return name if isinstance(name, str) else None


@dataclass
class VisitRows:
    """The visits of a report's range, and what the database says about reading them."""

    rows: list[tuple[float, float, str, str, str]]  # (end, dwell_s, dominant, zone, face-size band)
    labels: list[str]
    groups: SatisfactionGroups
    zones: list[str]
    calibration: dict[str | None, Calibration] | None = None  # the run's model's by face-size band: corrects ...
    calibration_since: float = float("inf")  # ... the visits that ended since then (that model's)

    def calibration_for(self, ends: Iterable[float]) -> dict[str | None, Calibration] | None:
        """The calibration for these visits: only when the current model classified all of them."""
        ends = list(ends)
        return self.calibration if ends and min(ends) >= self.calibration_since else None


def read_visits(db_path: Path, since: float | None, until: float | None, zone: str | None = None) -> VisitRows:
    """Every visit in [since, until) (of one zone, if given), with the labels and groups of the run."""
    if not db_path.is_file():
        raise EdgeemoError(f"{db_path}: no analytics database here (written by `edgeemo run --db`)")
    try:
        connection = open_readonly(db_path)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in connection.execute("PRAGMA table_info(visits)")}
        zone_column = "zone" if "zone" in columns else "'all'"  # a version-1 database read as it is
        size_column = "face_px" if "face_px" in columns else "NULL"  # before version 4: no size measured
        query = (f"SELECT end, dwell_s, dominant, {zone_column}, {size_column} FROM visits WHERE end >= ? "
                 "AND end < ?")
        params: list = [since if since is not None else float("-inf"), until if until is not None else float("inf")]
        if zone is not None:
            query += f" AND {zone_column} = ?"
            params.append(zone)
        rows = [(*row[:4], band_of(row[4] if isinstance(row[4], (int, float)) else None))
                for row in connection.execute(query + " ORDER BY end", params).fetchall()]
        all_zones = sorted({row[0] for row in connection.execute(f"SELECT DISTINCT {zone_column} FROM visits")})
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        connection.close()
    except sqlite3.Error as exc:
        raise EdgeemoError(f"{db_path}: not a readable edgeemo database ({exc})") from exc
    sane = [row for row in rows if isinstance(row[0], (int, float)) and 0 <= row[0] < LATEST_TIME
            and isinstance(row[1], (int, float)) and 0 <= row[1] < LATEST_TIME]
    if len(sane) < len(rows):
        log.warning("%s: skipped %d visit(s) with impossible times (before 1970 or after 9999)",
                    db_path, len(rows) - len(sane))
        rows = sane
    if zone is not None and zone not in all_zones:
        raise EdgeemoError(f"--zone {zone}: no visits in that zone in {db_path} (zones: {', '.join(all_zones) or 'none'})")
    try:
        labels = json.loads(meta["labels"]) if "labels" in meta else list(LABELS)  # version 1: FER-2013's
        groups = (SatisfactionGroups(**{k: tuple(v) for k, v in json.loads(meta["satisfaction_groups"]).items()})
                  if "satisfaction_groups" in meta else DEFAULT_GROUPS)
        since = float(json.loads(meta["calibration_since"])) if meta.get("calibration_since") else float("inf")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise EdgeemoError(f"{db_path}: unreadable meta table ({exc})") from exc
    calibration = _stored_calibration(meta.get("calibration"), labels, db_path)
    zones = [zone] if zone is not None else sorted({row[3] for row in rows}) or all_zones
    return VisitRows(rows, labels, groups, zones, calibration, since)


def by_band(visits: Iterable[tuple]) -> dict[str | None, Counter]:
    """Visits (end, dwell, dominant, zone, band) counted by face-size band and dominant emotion."""
    found: dict[str | None, Counter] = {}
    for _, _, dominant, _, band in visits:
        found.setdefault(band, Counter())[dominant] += 1
    return found


def estimates_of(visits: list[tuple], labels: list[str], groups: SatisfactionGroups,
                 calibration: dict[str | None, Calibration] | None) -> tuple[Estimate, dict[str, Estimate]]:
    """The index and the mix of these visits: each face-size band corrected with the model's calibration there
    (the hub's arithmetic, edgeemo.estimates), or the raw count without one."""
    if calibration:
        return banded_estimates(by_band(visits), labels, groups, calibration)
    counts = Counter(visit[2] for visit in visits)
    return index_estimate(counts, groups), mix_estimate(counts, labels)


def _stored_calibration(text: str | None, labels: list[str], db_path: Path) -> dict[str | None, Calibration] | None:
    """The run's model's calibration by band from the database's meta; one that cannot be read (edited,
    corrupt) is no calibration: the report counts raw and says so, as for an unknown model."""
    try:
        stored = json.loads(text) if text else None
        if isinstance(stored, dict) and stored.get("labels") == labels:
            return band_calibrations(stored) or None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        log.warning("%s: the model's calibration in the database cannot be read (%s); counting raw", db_path,
                    str(exc)[:120])
    return None


def index_fields(counts: Counter, groups: SatisfactionGroups, estimate_of: Estimate, suppressed: bool
                 ) -> dict[str, Any]:
    """The satisfaction index of visits: corrected when the model's calibration is known, its 95%
    interval and whether it is too wide to read, the raw count beside it; nothing when suppressed."""
    if suppressed:
        return dict.fromkeys(INDEX_FIELDS)
    estimate = estimate_of.as_dict(4, PRECISION_FLOOR)
    raw = satisfaction_from_counts(counts, groups)
    return {"satisfaction_index": estimate["value"], "satisfaction_low": estimate["low"],
            "satisfaction_high": estimate["high"], "satisfaction_method": estimate["method"],
            "satisfaction_imprecise": estimate["imprecise"], "satisfaction_raw": None if raw is None else round(raw, 4)}


INDEX_FIELDS = ("satisfaction_index", "satisfaction_low", "satisfaction_high", "satisfaction_method",
                "satisfaction_imprecise", "satisfaction_raw")


def released(visits: list[tuple], release: Release) -> list[tuple]:
    """The (end, dwell_s, dominant, zone) visits whose cell (zone, UTC hour of the end) the rule keeps."""
    cells = Counter((zone, int(end // CELL_S)) for end, _, _, zone, *_ in visits)
    return [visit for visit in visits
            if release.keeps(cells[(visit[3], int(visit[0] // CELL_S))], int(visit[0] // CELL_S) * CELL_S)]


def bucket_rows(visits: list[tuple], bucket: str, min_visits: int, labels: list[str],
                groups: SatisfactionGroups = DEFAULT_GROUPS, data: VisitRows | None = None,
                calendar: ReportCalendar | None = None) -> list[dict[str, Any]]:
    """Per-bucket numbers from released (end, dwell_s, dominant, ...) visits (`released`), in the calendar's
    hours or days (UTC by default); a bucket without any is not listed, one under k (of other visits than
    released) suppressed. Each label's share is raw (`raw_share_*`)."""
    calendar = calendar or ReportCalendar(UTC)
    grouped: dict[tuple[int, int], list[tuple[float, str, float, str]]] = {}
    for end, dwell, dominant, _, band in visits:
        grouped.setdefault(calendar.bucket(end, bucket), []).append((dwell, dominant, end, band))
    rows = []
    for start, stop in sorted(grouped):
        members = grouped[(start, stop)]
        counts = Counter(dominant for _, dominant, _, _ in members)
        calibration = data.calibration_for(end for _, _, end, _ in members) if data is not None else None
        suppressed = is_suppressed(len(members), min_visits)
        index, _ = estimates_of([(end, dwell, dominant, "", band) for dwell, dominant, end, band in members], labels,
                                groups, calibration)
        rows.append({
            "start": calendar.iso(start),
            "end": calendar.iso(stop),
            "visits": None if suppressed else len(members),
            "suppressed": suppressed,
            **index_fields(counts, groups, index, suppressed),
            "mean_dwell_s": None if suppressed or not members else round(sum(d for d, *_ in members) / len(members), 2),
            **{f"{RAW_SHARE}{label}": None if suppressed or not members else counts[label] / len(members)
               for label in labels},
        })
    return rows


def _summary(rows: list[tuple], min_visits: int, data: VisitRows) -> dict[str, Any]:
    """The whole range's numbers: the index, each label's share corrected with its interval (`emotion_mix`)
    and raw beside it (`emotion_mix_raw`)."""
    counts = Counter(row[2] for row in rows)
    suppressed = is_suppressed(len(rows), min_visits)
    calibration = data.calibration_for(row[0] for row in rows)
    index, shares = estimates_of(rows, data.labels, data.groups, calibration)
    mix = None if suppressed else {label: estimate.as_dict(4, PRECISION_FLOOR) for label, estimate in shares.items()}
    raw = None if suppressed else {label: round(counts[label] / len(rows), 4) for label in data.labels}
    return {"visits": None if suppressed else len(rows), "suppressed": suppressed,
            **index_fields(counts, data.groups, index, suppressed), "emotion_mix": mix, "emotion_mix_raw": raw}


@dataclass
class HeldBack:
    """The visits of a range that no released number includes: in hours with fewer than k visits in their
    zone, or in hours not over and settled yet. For the person running the report only (they hold the
    database): never written into the report's files, where two reports' counts could be subtracted."""

    under_k: int
    not_over: int

    @property
    def visits(self) -> int:
        return self.under_k + self.not_over


def _range(since: str | None, until: str | None, calendar: ReportCalendar) -> tuple[float | None, float | None]:
    """[since, until) in the report's zone, snapped outward to whole cells (hours), checked."""
    start, stop = _parse_time(since, "--since", calendar), _parse_time(until, "--until", calendar)
    if start is not None and stop is not None and start >= stop:
        raise EdgeemoError(f"--since {since} is not before --until {until}: the range is empty")
    start = None if start is None else start - start % CELL_S  # whole cells: the range snaps outward
    stop = None if stop is None else -(-stop // CELL_S) * CELL_S
    return start, stop


def held_back(db_path: Path, since: str | None, until: str | None, min_visits: int = 5,
              zone: str | None = None, now: float | None = None, timezone: str | None = None) -> HeldBack:
    """How many of the range's visits `build_report` with the same arguments leaves out, and why."""
    now = time.time() if now is None else now
    calendar, _ = report_calendar(Path(db_path), timezone)
    rows = read_visits(Path(db_path), *_range(since, until, calendar), zone).rows
    kept = {id(row) for row in released(rows, Release(min_visits, now))}
    left_out = [row for row in rows if id(row) not in kept]
    not_over = sum(1 for row in left_out if int(row[0] // CELL_S) * CELL_S + CELL_S + SETTLE_S > now)
    return HeldBack(len(left_out) - not_over, not_over)


def build_report(db_path: Path, out: Path, since: str | None, until: str | None, bucket: str = "hour",
                 min_visits: int = 5, zone: str | None = None, timezone: str | None = None) -> dict[str, Any]:
    if min_visits < 1:
        raise EdgeemoError(f"--min-visits {min_visits}: must be at least 1")
    calendar, timezone_source = report_calendar(Path(db_path), timezone)
    start, stop = _range(since, until, calendar)
    if bucket not in BUCKETS:
        raise EdgeemoError(f"--bucket {bucket}: choose hour or day (a shorter bucket would split the hours "
                           "k-anonymity is checked on)")
    data = read_visits(Path(db_path), start, stop, zone)
    shown = released(data.rows, Release(min_visits, time.time()))
    data.labels += sorted({row[2] for row in shown} - set(data.labels))  # a label the last model lacks (released)
    data.zones = [zone] if zone is not None else sorted({row[3] for row in shown})  # zones with released visits
    rows = bucket_rows(shown, bucket, min_visits, data.labels, data.groups, data, calendar)
    by_zone = {name: [row for row in shown if row[3] == name] for name in data.zones}
    zone_rows = {name: bucket_rows(visits, bucket, min_visits, data.labels, data.groups, data, calendar)
                 for name, visits in by_zone.items()}
    summary = _summary(shown, min_visits, data)
    try:
        out.mkdir(parents=True, exist_ok=True)
        report = {
            "database": str(db_path), "since": since, "until": until, "bucket": bucket, "min_visits": min_visits,
            "timezone": calendar.name, "timezone_source": timezone_source,
            "zone": zone, "labels": data.labels, "satisfaction_groups": data.groups.as_dict(),
            "visits": len(shown),
            **{key: value for key, value in summary.items() if key in (*INDEX_FIELDS, "emotion_mix", "emotion_mix_raw")},
            "calibration": data.calibration_for(row[0] for row in shown) is not None,
            "suppressed_buckets": sum(row["suppressed"] for row in rows),
            "buckets": rows,
            "zones": {name: {**_summary(by_zone[name], min_visits, data), "buckets": zone_rows[name]}
                      for name in data.zones},
        }
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        several = len(data.zones) > 1
        with open(out / "report.csv", "w", newline="") as handle:
            fields = ["zone", "start", "end", "visits", "suppressed", *INDEX_FIELDS, "mean_dwell_s",
                      *(f"{RAW_SHARE}{label}" for label in data.labels)]
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for name, series in ({TOTAL: rows, **zone_rows} if several else {data.zones[0] if data.zones else TOTAL: rows}).items():
                writer.writerows({"zone": name, **row} for row in series)
        write_mix_csv(out / "emotion_mix.csv", summary, data.labels)
        write_charts(rows, out, data.labels, data.groups, zone_rows if several else None, calendar=calendar,
                     bucket=bucket, mix=summary["emotion_mix"], mix_raw=summary["emotion_mix_raw"])
    except OSError as exc:
        raise EdgeemoError(f"{out}: cannot write the report there ({exc.strerror or exc})") from exc
    return report


def write_mix_csv(path: Path, summary: dict[str, Any], labels: list[str]) -> None:
    """The whole range's mix, one row a label: the share (corrected when a calibration is known, `method`),
    its interval, whether it is too wide to read, and the raw share beside it. Empty under k."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["label", "share", "low", "high", "method", "imprecise",
                                                     "raw_share"])
        writer.writeheader()
        if summary["emotion_mix"] is None:
            return
        for label in labels:
            shown = summary["emotion_mix"][label]
            writer.writerow({"label": label, "share": shown["value"], "low": shown["low"], "high": shown["high"],
                             "method": shown["method"], "imprecise": shown["imprecise"],
                             "raw_share": summary["emotion_mix_raw"][label]})

"""`edgeemo report`: satisfaction over time and the emotion mix, from the analytics database.

Buckets are built from visits (one shopper, one visit). A bucket with fewer than k visits
is suppressed (its numbers blanked, marked `suppressed`), so a chart can never single out
one or two shoppers. Outputs: satisfaction.png, emotion_mix.png, report.csv, report.json.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeemo.aggregates import DEFAULT_GROUPS, SatisfactionGroups, is_suppressed, satisfaction_from_counts
from edgeemo.edge.analytics.schema import open_readonly
from edgeemo.errors import EdgeemoError
from edgeemo.labels import LABELS
from edgeemo.wire import iso, parse_iso

log = logging.getLogger(__name__)
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last moment an ISO date can name
BUCKET_SECONDS = {"15min": 900, "hour": 3600, "day": 86400}
COLOURS = {"angry": "#d62728", "contempt": "#e377c2", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
           "neutral": "#c7c7c7", "sad": "#1f77b4", "surprise": "#ff7f0e"}
OTHER_COLOURS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")
TOTAL = "(all zones)"


def colour(label: str, labels: list[str]) -> str:
    """A fixed colour per known emotion; labels of other models get the next free one."""
    if label in COLOURS:
        return COLOURS[label]
    others = [x for x in labels if x not in COLOURS]
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)]


def _parse_time(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise EdgeemoError(f"{flag} {value!r}: not an ISO date or time (e.g. 2026-11-22 or 2026-11-22T09:00)") from None


@dataclass
class VisitRows:
    """The visits of a report's range, and what the database says about reading them."""

    rows: list[tuple[float, float, str, str]]  # (end, dwell_s, dominant, zone)
    labels: list[str]
    groups: SatisfactionGroups
    zones: list[str]


def read_visits(db_path: Path, since: float | None, until: float | None, zone: str | None = None) -> VisitRows:
    """Every visit in [since, until) (of one zone, if given), with the labels and groups of the run."""
    if not db_path.is_file():
        raise EdgeemoError(f"{db_path}: no analytics database here (written by `edgeemo run --db`)")
    try:
        connection = open_readonly(db_path)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in connection.execute("PRAGMA table_info(visits)")}
        zone_column = "zone" if "zone" in columns else "'all'"  # a version-1 database read as it is
        query = f"SELECT end, dwell_s, dominant, {zone_column} FROM visits WHERE end >= ? AND end < ?"
        params: list = [since if since is not None else float("-inf"), until if until is not None else float("inf")]
        if zone is not None:
            query += f" AND {zone_column} = ?"
            params.append(zone)
        rows = connection.execute(query + " ORDER BY end", params).fetchall()
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
    except (ValueError, TypeError) as exc:
        raise EdgeemoError(f"{db_path}: unreadable meta table ({exc})") from exc
    labels += sorted({row[2] for row in rows} - set(labels))  # a visit of a label the last model lacks
    zones = [zone] if zone is not None else sorted({row[3] for row in rows}) or all_zones
    return VisitRows(rows, labels, groups, zones)


def bucket_rows(visits: list[tuple], bucket_s: int, min_visits: int, labels: list[str],
                groups: SatisfactionGroups = DEFAULT_GROUPS) -> list[dict[str, Any]]:
    """Per-bucket numbers from (end, dwell_s, dominant, ...) visits; small buckets are suppressed."""
    grouped: dict[int, list[tuple[float, str]]] = {}
    for end, dwell, dominant, *_ in visits:
        grouped.setdefault(int(end // bucket_s) * bucket_s, []).append((dwell, dominant))
    rows = []
    for start in sorted(grouped):
        members = grouped[start]
        counts = Counter(dominant for _, dominant in members)
        suppressed = is_suppressed(len(members), min_visits)
        rows.append({
            "start": iso(start),
            "end": iso(start + bucket_s),
            "visits": None if suppressed else len(members),
            "suppressed": suppressed,
            "satisfaction_index": None if suppressed else satisfaction_from_counts(counts, groups),
            "mean_dwell_s": None if suppressed else round(sum(d for d, _ in members) / len(members), 2),
            **{f"share_{label}": None if suppressed else counts[label] / len(members) for label in labels},
        })
    return rows


def write_charts(rows: list[dict[str, Any]], out: Path, labels: list[str], groups: SatisfactionGroups,
                 zone_rows: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """satisfaction.png (overall, and one line per zone when there are several) and emotion_mix.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def shown_of(series: list[dict[str, Any]]) -> tuple[list, list]:
        kept = [row for row in series if not row["suppressed"]]
        return [datetime.fromtimestamp(parse_iso(row["start"]), tz=timezone.utc) for row in kept], kept

    times, shown = shown_of(rows)
    figure, axis = plt.subplots(figsize=(9, 3.5))
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.plot(times, [row["satisfaction_index"] for row in shown], marker="o", label="all zones", color="black")
    for zone, series in (zone_rows or {}).items():
        zone_times, zone_shown = shown_of(series)
        axis.plot(zone_times, [row["satisfaction_index"] for row in zone_shown], marker=".", label=zone, alpha=0.8)
    if zone_rows:
        axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    axis.set_ylim(-1.05, 1.05)
    axis.set_ylabel("satisfaction index")
    axis.set_title(f"Satisfaction over time (share {'/'.join(groups.positive) or '-'} − share "
                   f"{'/'.join(groups.negative) or '-'})", fontsize=10)
    if not shown:
        axis.text(0.5, 0.5, "no bucket has enough visits to show", ha="center", transform=axis.transAxes)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out / "satisfaction.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(9, 3.5))
    bottom = [0.0] * len(shown)
    ticks = [row["start"][:16].replace("T", " ") for row in shown]
    for label in labels:
        shares = [row[f"share_{label}"] for row in shown]
        axis.bar(ticks, shares, bottom=bottom, label=label, color=colour(label, labels))
        bottom = [b + s for b, s in zip(bottom, shares)]
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of visits")
    axis.set_title("Emotion mix (dominant emotion per visit)")
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    if not shown:
        axis.text(0.5, 0.5, "no bucket has enough visits to show", ha="center", transform=axis.transAxes)
    axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(out / "emotion_mix.png", dpi=110)
    plt.close(figure)


def _summary(rows: list[tuple], min_visits: int, groups: SatisfactionGroups) -> dict[str, Any]:
    counts = Counter(row[2] for row in rows)
    suppressed = is_suppressed(len(rows), min_visits)
    return {"visits": None if suppressed and rows else len(rows), "suppressed": suppressed,
            "satisfaction_index": None if suppressed else satisfaction_from_counts(counts, groups)}


def build_report(db_path: Path, out: Path, since: str | None, until: str | None, bucket: str = "hour",
                 min_visits: int = 5, zone: str | None = None) -> dict[str, Any]:
    if min_visits < 1:
        raise EdgeemoError(f"--min-visits {min_visits}: must be at least 1")
    start, stop = _parse_time(since, "--since"), _parse_time(until, "--until")
    if start is not None and stop is not None and start >= stop:
        raise EdgeemoError(f"--since {since} is not before --until {until}: the range is empty")
    data = read_visits(Path(db_path), start, stop, zone)
    bucket_s = BUCKET_SECONDS[bucket]
    rows = bucket_rows(data.rows, bucket_s, min_visits, data.labels, data.groups)
    by_zone = {name: [row for row in data.rows if row[3] == name] for name in data.zones}
    zone_rows = {name: bucket_rows(visits, bucket_s, min_visits, data.labels, data.groups)
                 for name, visits in by_zone.items()}
    try:
        out.mkdir(parents=True, exist_ok=True)
        report = {
            "database": str(db_path), "since": since, "until": until, "bucket": bucket, "min_visits": min_visits,
            "zone": zone, "labels": data.labels, "satisfaction_groups": data.groups.as_dict(),
            "visits": len(data.rows),
            "satisfaction_index": _summary(data.rows, min_visits, data.groups)["satisfaction_index"],
            "suppressed_buckets": sum(row["suppressed"] for row in rows),
            "buckets": rows,
            "zones": {name: {**_summary(by_zone[name], min_visits, data.groups), "buckets": zone_rows[name]}
                      for name in data.zones},
        }
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        several = len(data.zones) > 1
        with open(out / "report.csv", "w", newline="") as handle:
            fields = ["zone", "start", "end", "visits", "suppressed", "satisfaction_index", "mean_dwell_s",
                      *(f"share_{label}" for label in data.labels)]
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for name, series in ({TOTAL: rows, **zone_rows} if several else {data.zones[0] if data.zones else TOTAL: rows}).items():
                writer.writerows({"zone": name, **row} for row in series)
        write_charts(rows, out, data.labels, data.groups, zone_rows if several else None)
    except OSError as exc:
        raise EdgeemoError(f"{out}: cannot write the report there ({exc.strerror or exc})") from exc
    return report

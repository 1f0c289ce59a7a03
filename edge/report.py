"""`edgeemo report`: satisfaction over time and the emotion mix, from the analytics database.

Buckets are built from visits (one shopper, one visit). A bucket with fewer than k visits
is suppressed (its numbers blanked, marked `suppressed`), so a chart can never single out
one or two shoppers. Outputs: satisfaction.png, emotion_mix.png, report.csv, report.json.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeemo.edge.analytics import iso
from edgeemo.edge.store import open_readonly
from edgeemo.edge.visits import satisfaction_from_counts
from edgeemo.errors import EdgeemoError
from edgeemo.labels import LABELS

BUCKET_SECONDS = {"15min": 900, "hour": 3600, "day": 86400}
COLOURS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
           "neutral": "#c7c7c7", "sad": "#1f77b4", "surprise": "#ff7f0e"}


def _parse_time(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EdgeemoError(f"{flag} {value!r}: not an ISO date or time (e.g. 2026-11-22 or 2026-11-22T09:00)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def read_visits(db_path: Path, since: float | None, until: float | None) -> list[tuple[float, float, str]]:
    """(end, dwell_s, dominant) of every visit in [since, until)."""
    if not db_path.is_file():
        raise EdgeemoError(f"{db_path}: no analytics database here (written by `edgeemo run --db`)")
    try:
        connection = open_readonly(db_path)
        rows = connection.execute(
            "SELECT end, dwell_s, dominant FROM visits WHERE end >= ? AND end < ? ORDER BY end",
            (since if since is not None else float("-inf"), until if until is not None else float("inf")),
        ).fetchall()
        connection.close()
    except sqlite3.Error as exc:
        raise EdgeemoError(f"{db_path}: not a readable edgeemo database ({exc})") from exc
    return rows


def bucket_rows(visits: list[tuple[float, float, str]], bucket_s: int, min_visits: int) -> list[dict[str, Any]]:
    grouped: dict[int, list[tuple[float, str]]] = {}
    for end, dwell, dominant in visits:
        grouped.setdefault(int(end // bucket_s) * bucket_s, []).append((dwell, dominant))
    rows = []
    for start in sorted(grouped):
        members = grouped[start]
        counts = Counter(dominant for _, dominant in members)
        suppressed = len(members) < min_visits
        rows.append({
            "start": iso(start),
            "end": iso(start + bucket_s),
            "visits": None if suppressed else len(members),
            "suppressed": suppressed,
            "satisfaction_index": None if suppressed else satisfaction_from_counts(counts),
            "mean_dwell_s": None if suppressed else round(sum(d for d, _ in members) / len(members), 2),
            **{f"share_{label}": None if suppressed else counts[label] / len(members) for label in LABELS},
        })
    return rows


def write_charts(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows if not row["suppressed"]]
    times = [datetime.fromisoformat(row["start"].replace("Z", "+00:00")) for row in shown]
    figure, axis = plt.subplots(figsize=(9, 3.5))
    axis.axhline(0, color="grey", linewidth=0.8)
    axis.plot(times, [row["satisfaction_index"] for row in shown], marker="o")
    axis.set_ylim(-1.05, 1.05)
    axis.set_ylabel("satisfaction index")
    axis.set_title("Satisfaction over time (share happy − share angry/disgust/fear/sad)")
    if not shown:
        axis.text(0.5, 0.5, "no bucket has enough visits to show", ha="center", transform=axis.transAxes)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out / "satisfaction.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(9, 3.5))
    bottom = [0.0] * len(shown)
    labels = [row["start"][:16].replace("T", " ") for row in shown]
    for label in LABELS:
        shares = [row[f"share_{label}"] for row in shown]
        axis.bar(labels, shares, bottom=bottom, label=label, color=COLOURS.get(label))
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


def build_report(db_path: Path, out: Path, since: str | None, until: str | None, bucket: str = "hour",
                 min_visits: int = 5) -> dict[str, Any]:
    if min_visits < 1:
        raise EdgeemoError(f"--min-visits {min_visits}: must be at least 1")
    visits = read_visits(Path(db_path), _parse_time(since, "--since"), _parse_time(until, "--until"))
    rows = bucket_rows(visits, BUCKET_SECONDS[bucket], min_visits)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeemoError(f"{out}: cannot create the report folder ({exc.strerror})") from exc
    overall = Counter(dominant for _, _, dominant in visits)
    report = {
        "database": str(db_path), "since": since, "until": until, "bucket": bucket, "min_visits": min_visits,
        "visits": len(visits),
        "satisfaction_index": satisfaction_from_counts(overall) if len(visits) >= min_visits else None,
        "suppressed_buckets": sum(row["suppressed"] for row in rows),
        "buckets": rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    with open(out / "report.csv", "w", newline="") as handle:
        fields = ["start", "end", "visits", "suppressed", "satisfaction_index", "mean_dwell_s",
                  *(f"share_{label}" for label in LABELS)]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_charts(rows, out)
    return report

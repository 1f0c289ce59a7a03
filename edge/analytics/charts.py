"""The report's charts (matplotlib): satisfaction over time, with each bucket's 95% interval and the raw
count beside the corrected index, and the emotion mix."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeemo.aggregates import SatisfactionGroups
from edgeemo.wire import parse_iso

COLOURS = {"angry": "#d62728", "contempt": "#e377c2", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
           "neutral": "#c7c7c7", "sad": "#1f77b4", "surprise": "#ff7f0e"}
OTHER_COLOURS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")


def colour(label: str, labels: list[str]) -> str:
    """A fixed colour per known emotion; labels of other models get the next free one."""
    if label in COLOURS:
        return COLOURS[label]
    others = [x for x in labels if x not in COLOURS]
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)]


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
    corrected = any(row["satisfaction_method"] == "corrected" for row in shown)
    if shown:  # the 95% interval of each bucket, and the raw count beside the headline
        axis.fill_between(times, [row["satisfaction_low"] for row in shown], [row["satisfaction_high"] for row in shown],
                          color="black", alpha=0.12, step=None, label="95% interval")
        if corrected:
            axis.plot(times, [row["satisfaction_raw"] for row in shown], linestyle="--", color="grey", linewidth=1,
                      label="raw count")
    axis.plot(times, [row["satisfaction_index"] for row in shown], marker="o", color="black",
              label="all zones" + (", corrected" if corrected else ""))
    imprecise = [(t, row["satisfaction_index"]) for t, row in zip(times, shown) if row["satisfaction_imprecise"]]
    if imprecise:  # too wide to read as a number: hollow
        axis.plot(*zip(*imprecise), linestyle="none", marker="o", markerfacecolor="white", color="black",
                  label="imprecise (interval wider than +-0.15)")
    for zone, series in (zone_rows or {}).items():
        zone_times, zone_shown = shown_of(series)
        axis.plot(zone_times, [row["satisfaction_index"] for row in zone_shown], marker=".", label=zone, alpha=0.8)
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

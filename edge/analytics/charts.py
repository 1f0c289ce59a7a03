"""The report's charts (matplotlib), in the store's own time (the zone named on the axis): satisfaction
over time, with each bucket's 95% interval and the raw count beside the corrected index; and the
emotion mix, each bucket's raw shares (labelled raw) beside the whole range's corrected shares with
their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeemo.aggregates import SatisfactionGroups
from edgeemo.edge.analytics.calendar import ReportCalendar
from edgeemo.timezones import UTC
from edgeemo.wire import parse_iso

COLOURS = {"angry": "#d62728", "contempt": "#e377c2", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
           "neutral": "#c7c7c7", "sad": "#1f77b4", "surprise": "#ff7f0e"}
OTHER_COLOURS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a")
RECALIBRATE = ("Corrected assumes the model errs here as on the faces it was calibrated on; "
               "calibrate on this store's own labelled faces: edgeemo evaluate --split own --write-calibration")


def colour(label: str, labels: list[str]) -> str:
    """A fixed colour per known emotion; labels of other models get the next free one."""
    if label in COLOURS:
        return COLOURS[label]
    others = [x for x in labels if x not in COLOURS]
    return OTHER_COLOURS[others.index(label) % len(OTHER_COLOURS)]


def write_charts(rows: list[dict[str, Any]], out: Path, labels: list[str], groups: SatisfactionGroups,
                 zone_rows: dict[str, list[dict[str, Any]]] | None = None, calendar: ReportCalendar | None = None,
                 bucket: str = "hour", mix: dict[str, dict] | None = None,
                 mix_raw: dict[str, float] | None = None) -> None:
    """satisfaction.png (overall, and one line per zone when there are several) and emotion_mix.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    calendar = calendar or ReportCalendar(UTC)
    time_axis = f"time ({calendar.name})"  # the zone the chart's times are in, said on the chart

    def shown_of(series: list[dict[str, Any]]) -> tuple[list, list]:
        kept = [row for row in series if not row["suppressed"]]
        return [calendar.local(parse_iso(row["start"])) for row in kept], kept

    times, shown = shown_of(rows)
    figure, axis = plt.subplots(figsize=(9, 3.5))
    axis.axhline(0, color="grey", linewidth=0.8)
    corrected = any(row["satisfaction_method"] == "corrected" for row in shown)
    if shown:  # the 95% interval of each bucket, and the raw count beside the headline
        axis.fill_between(times, [row["satisfaction_low"] for row in shown], [row["satisfaction_high"] for row in shown],
                          color="black", alpha=0.12, step=None, label="95% interval")
        if corrected:
            axis.plot(times, [row["satisfaction_raw"] for row in shown], linestyle="--", color="grey", linewidth=1,
                      label="raw count (uncorrected)")
    axis.plot(times, [row["satisfaction_index"] for row in shown], marker="o", color="black",
              label="all zones" + (", corrected" if corrected else ", raw count"))
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
    axis.set_xlabel(time_axis)
    locator = mdates.AutoDateLocator(tz=calendar.tz)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=calendar.tz))
    axis.set_title(f"Satisfaction over time (share {'/'.join(groups.positive) or '-'} − share "
                   f"{'/'.join(groups.negative) or '-'}, from −1 to 1)", fontsize=10)
    if not shown:
        axis.text(0.5, 0.5, "no bucket has enough visits to show", ha="center", transform=axis.transAxes)
    figure.tight_layout()
    figure.savefig(out / "satisfaction.png", dpi=110)
    plt.close(figure)
    _mix_chart(plt, shown, out, labels, calendar, bucket, mix, mix_raw)


def _mix_chart(plt, shown: list[dict[str, Any]], out: Path, labels: list[str], calendar: ReportCalendar,
               bucket: str, mix: dict[str, dict] | None, mix_raw: dict[str, float] | None) -> None:
    """emotion_mix.png: each bucket's raw shares stacked (left), and the whole range's shares (right):
    corrected with its 95% interval where one is backed ("not enough data" where not), the raw share beside."""
    figure, (axis, whole) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2.4, 1]})
    bottom = [0.0] * len(shown)
    places = list(range(len(shown)))
    ticks = [calendar.tick(int(parse_iso(row["start"])), bucket) for row in shown]
    for label in labels:
        shares = [row[f"raw_share_{label}"] for row in shown]
        axis.bar(places, shares, bottom=bottom, label=label, color=colour(label, labels))
        bottom = [b + s for b, s in zip(bottom, shares)]
    step = max(1, len(ticks) // 16)  # at most 16 labels: a month of days or a day of hours stays readable
    axis.set_xticks(places[::step], ticks[::step])
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of visits (raw)")
    axis.set_xlabel(f"{bucket} ({calendar.name})")
    axis.set_title(f"Raw emotion mix by {bucket}: the main emotion of each visit as the model read it, uncorrected",
                   fontsize=9)
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    if not shown:
        axis.text(0.5, 0.5, "no bucket has enough visits to show", ha="center", transform=axis.transAxes)
    axis.tick_params(axis="x", labelrotation=30, labelsize=8)

    positions = list(range(len(labels)))
    if mix is not None and mix_raw is not None:
        corrected = any(mix[label]["method"] == "corrected" for label in labels)
        whole.barh([p + 0.2 for p in positions], [mix_raw[label] for label in labels], height=0.4, color="#cbd5e0",
                   label="raw (uncorrected)")
        if corrected:
            legend: str | None = "corrected, 95% interval"  # on the first bar drawn
            for p, label in zip(positions, labels):
                share = mix[label]
                if share["value"] is None or share["low"] is None or share["high"] is None or share["imprecise"]:
                    whole.text(0.005, p - 0.2, "not enough data", va="center", fontsize=7, color="#718096")
                    continue
                whole.barh(p - 0.2, share["value"], height=0.4, color="#2b6cb0",
                           xerr=[[share["value"] - share["low"]], [share["high"] - share["value"]]],
                           error_kw={"elinewidth": 1, "capsize": 2},
                           label=legend)
                legend = None
        whole.set_title("Whole range: corrected (95% interval) and raw" if corrected else
                        "Whole range: raw only (no calibration for this model)", fontsize=9)
        whole.legend(loc="lower right", fontsize=7)
    else:
        whole.text(0.5, 0.5, "fewer than k visits", ha="center", transform=whole.transAxes)
    whole.set_yticks(positions, labels, fontsize=8)
    whole.invert_yaxis()
    whole.set_xlim(0, 1)
    whole.set_xlabel("share of visits")
    figure.text(0.01, 0.01, RECALIBRATE, fontsize=7, color="#4a5568")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(out / "emotion_mix.png", dpi=110)
    plt.close(figure)

// Draws the dashboard's charts from the JSON blocks the server rendered (no inline scripts: CSP).
"use strict";
(function () {
  const palette = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#97266d",
                   "#4a5568", "#dd6b20", "#38a169", "#e53e3e"];
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  // a bucket's start as the store's people read it, from its local ISO time (never converted to the browser's zone)
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const wallKey = (iso, bucket) => (bucket === "hour" ? iso.slice(0, 16) : iso.slice(0, 10));
  const label = (iso, bucket) => {
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    const day = `${DAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()]} ${d} ${MONTHS[m - 1]}`;
    return bucket === "hour" ? `${day}, ${iso.slice(11, 16)}` : bucket === "week" ? `week of ${day}` : day;
  };
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  // each bar's 95% interval as a whisker (datasets with `intervals`: [low, high] or null per bar)
  const whiskers = { id: "whiskers", afterDatasetsDraw(chart) {
    const ctx = chart.ctx;
    chart.data.datasets.forEach((dataset, i) => {
      const meta = chart.getDatasetMeta(i);
      if (!dataset.intervals || meta.hidden) return;
      ctx.save();
      ctx.strokeStyle = "#1a202c";
      ctx.lineWidth = 1.5;
      meta.data.forEach((bar, j) => {
        const interval = dataset.intervals[j];
        if (!interval) return;
        const top = chart.scales.y.getPixelForValue(interval[1]);
        const bottom = chart.scales.y.getPixelForValue(interval[0]);
        ctx.beginPath();
        for (const [x0, y0, x1, y1] of [[bar.x, top, bar.x, bottom], [bar.x - 5, top, bar.x + 5, top],
                                        [bar.x - 5, bottom, bar.x + 5, bottom]]) {
          ctx.moveTo(x0, y0);
          ctx.lineTo(x1, y1);
        }
        ctx.stroke();
      });
      ctx.restore();
    });
  } };
  const common = { animation: false, responsive: true, maintainAspectRatio: false };
  // the 95% interval as a band between two lines; imprecise points hollow (their interval is too wide)
  const band = (points, color) => [
    { type: "line", label: "95% interval", data: points.map((p) => p.satisfaction_high), borderWidth: 0,
      pointRadius: 0, backgroundColor: color + "33", fill: "+1", yAxisID: "y", spanGaps: false },
    { type: "line", label: "95% interval (low)", data: points.map((p) => p.satisfaction_low), borderWidth: 0,
      pointRadius: 0, fill: false, yAxisID: "y", spanGaps: false },
  ];
  const hollow = (points, color) => points.map((p) => (p.satisfaction_imprecise ? "#fff" : color));
  const noBand = { labels: { filter: (item) => !item.text.endsWith("(low)") } };

  const overview = read("overview-data");
  if (overview) {
    const stores = overview.stores;
    new Chart(document.getElementById("overview-chart"), {
      type: "bar",
      data: { labels: stores.map((s) => s.store), datasets: [
        // an imprecise index is not drawn as a bare bar (the table says "imprecise" with its interval)
        { label: "satisfaction, 7 days", data: stores.map((s) => s.satisfaction_7d_imprecise ? null : s.satisfaction_7d),
          backgroundColor: palette[0] },
        { label: "satisfaction, previous 7 days",
          data: stores.map((s) => s.satisfaction_7d === null || s.satisfaction_change_7d === null ||
                                  s.satisfaction_7d_imprecise ? null : s.satisfaction_7d - s.satisfaction_change_7d),
          backgroundColor: "#a0aec0" },
      ] },
      options: { ...common, scales: { y: { min: -1, max: 1, title: { display: true, text: "satisfaction index" } } } },
    });
  }

  const store = read("store-data");
  if (store) {
    const s = store.series;
    new Chart(document.getElementById("series-chart"), {
      data: { labels: s.series.map((p) => label(p.start, s.bucket)), datasets: [
        { type: "line", label: "satisfaction index", data: s.series.map((p) => p.satisfaction_index),
          borderColor: palette[0], backgroundColor: hollow(s.series, palette[0]), yAxisID: "y", spanGaps: false,
          pointRadius: 3 },
        ...band(s.series, palette[0]),
        { type: "line", label: "raw count (uncorrected)", data: s.series.map((p) => p.satisfaction_raw),
          borderColor: "#a0aec0",
          borderDash: [4, 3], pointRadius: 0, yAxisID: "y", spanGaps: false },
        { type: "bar", label: "visits", data: s.series.map((p) => p.visits), backgroundColor: "#cbd5e0",
          yAxisID: "visits" },
      ] },
      options: { ...common, plugins: { legend: noBand }, scales: {
        y: { min: -1, max: 1, position: "left", title: { display: true, text: "satisfaction index" } },
        visits: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
                  title: { display: true, text: "visits" } } } },
    });
    const mix = store.emotions;
    if (!mix.suppressed) {
      // the corrected share with its interval where the calibration backs one (else no bar: the table says
      // "not enough data"), and the raw share beside it, labelled raw
      const backed = (l) => {
        const i = (mix.intervals || {})[l];
        return i && i.method === "corrected" && i.value !== null && i.low !== null && i.high !== null && !i.imprecise
          ? i : null;
      };
      const datasets = [];
      if (mix.labels.some((l) => ((mix.intervals || {})[l] || {}).method === "corrected")) {
        datasets.push({ label: "corrected share (line: 95% interval)", backgroundColor: palette[0],
                        data: mix.labels.map((l) => (backed(l) ? backed(l).value : null)),
                        intervals: mix.labels.map((l) => (backed(l) ? [backed(l).low, backed(l).high] : null)) });
      }
      datasets.push({ label: "raw share (uncorrected)", backgroundColor: "#cbd5e0",
                      data: mix.labels.map((l) => mix.shares_raw[l]) });
      new Chart(document.getElementById("emotion-chart"), {
        type: "bar", data: { labels: mix.labels, datasets }, plugins: [whiskers],
        options: { ...common, scales: { y: { beginAtZero: true, ticks: { callback: (v) => `${Math.round(100 * v)}%` },
                                             title: { display: true, text: "share of visits" } } },
                   plugins: { tooltip: { callbacks: { label: (ctx) => {
                     const i = ctx.dataset.intervals ? ctx.dataset.intervals[ctx.dataIndex] : null;
                     const shown = `${ctx.dataset.label.split(" (")[0]}: ${pct(ctx.parsed.y)}`;
                     return i ? `${shown} (95% interval ${pct(i[0])} to ${pct(i[1])})` : shown;
                   } } } } },
      });
    }
  }

  const compare = read("compare-data");
  if (compare) {
    const bucket = compare.bucket;
    const periods = compare.mode === "periods";
    const dayNumber = (iso) => {
      const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
      return Date.UTC(y, m - 1, d) / 86400000;
    };
    const monday = (iso) => dayNumber(iso) - (new Date(dayNumber(iso) * 86400000).getUTCDay() + 6) % 7;
    // a point's place on the x axis: stores side by side at their buckets' local wall times; two periods of
    // one store at the bucket's place in its period (day 1, day 2, ...), so a missing bucket leaves a gap
    const place = (panel, p) => {
      if (!periods) return wallKey(p.start, bucket);
      if (bucket === "hour") {
        const hours = (iso) => dayNumber(iso) * 24 + Number(iso.slice(11, 13));
        return hours(p.start) - hours(panel.since);
      }
      return bucket === "day" ? dayNumber(p.start) - dayNumber(panel.since) : (monday(p.start) - monday(panel.since)) / 7;
    };
    const places = new Map();  // point -> its place; a wall hour seen twice (clocks set back) the second time "+.5"
    const named = new Map();  // place -> the x axis label
    for (const panel of compare.panels) {
      const seen = new Set();
      for (const p of panel.series) {
        let at = place(panel, p);
        if (seen.has(at)) at = periods ? at + 0.5 : `${at}#1`;
        seen.add(at);
        places.set(p, at);
        const repeated = periods ? at % 1 !== 0 : String(at).endsWith("#1");
        named.set(at, (periods ? `${bucket} ${Math.floor(at) + 1}` : label(p.start, bucket)) + (repeated ? " (again)" : ""));
      }
    }
    const axis = [...named.keys()].sort((a, b) => (periods ? a - b : a < b ? -1 : a > b ? 1 : 0));
    const rowsOf = (panel) => {
      const byPlace = new Map(panel.series.map((p) => [places.get(p), p]));
      return axis.map((at) => byPlace.get(at) || {});
    };
    for (const [id, key] of [["compare-chart", "satisfaction_index"], ["compare-visits-chart", "visits"]]) {
      const datasets = [];
      compare.panels.forEach((panel, i) => {
        const color = palette[i % 12];
        const rows = rowsOf(panel);
        datasets.push({ type: key === "visits" ? "bar" : "line", label: panel.label,
                        data: rows.map((p) => (p[key] === undefined ? null : p[key])),
                        borderColor: color, backgroundColor: color, pointRadius: 2, spanGaps: false });
        if (key !== "visits") {
          datasets.push(...band(rows.map((p) => ({ satisfaction_low: p.satisfaction_low ?? null,
                                                  satisfaction_high: p.satisfaction_high ?? null })), color)
            .map((d) => ({ ...d, label: `${panel.label} ${d.label}` })));
        }
      });
      new Chart(document.getElementById(id), {
        data: { labels: axis.map((at) => named.get(at)), datasets },
        options: { ...common, plugins: { legend: noBand },
                   scales: key === "visits" ? { y: { beginAtZero: true } } : { y: { min: -1, max: 1 } } },
      });
    }
  }
})();

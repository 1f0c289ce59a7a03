// Draws the dashboard's charts from the JSON blocks the server rendered (no inline scripts: CSP).
"use strict";
(function () {
  const palette = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#97266d",
                   "#4a5568", "#dd6b20", "#38a169", "#e53e3e"];
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  const label = (iso, bucket) => bucket === "hour" ? iso.slice(5, 16).replace("T", " ") : iso.slice(0, 10);
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
        { type: "line", label: "raw count", data: s.series.map((p) => p.satisfaction_raw), borderColor: "#a0aec0",
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
    new Chart(document.getElementById("emotion-chart"), {
      type: "doughnut",
      data: { labels: mix.labels, datasets: [{ label: "share of visits (corrected)",
        data: mix.labels.map((l) => mix.shares[l]), backgroundColor: mix.labels.map((_, i) => palette[i % 12]) }] },
      options: { ...common, plugins: { tooltip: { callbacks: { label: (ctx) => {
        const i = (mix.intervals || {})[ctx.label];
        const pct = (x) => `${(100 * x).toFixed(1)}%`;
        return i && i.low !== null ? `${pct(ctx.parsed)} (95%: ${pct(i.low)} to ${pct(i.high)})` : pct(ctx.parsed);
      } } } } },
    });
  }

  const compare = read("compare-data");
  if (compare) {
    const longest = compare.panels.reduce((a, p) => (p.series.length > a.series.length ? p : a), compare.panels[0]);
    const samePeriod = compare.mode !== "periods";  // stores side by side, each bucket by its local wall time
    const keys = new Map();  // a point's wall time, "#1" on the second of two equal ones (clocks set back)
    for (const panel of compare.panels) {
      const seen = new Map();
      for (const p of panel.series) {
        const w = label(p.start, compare.bucket);
        const n = seen.get(w) || 0;
        seen.set(w, n + 1);
        keys.set(p, n ? `${w}#${n}` : w);
      }
    }
    const wall = (p) => keys.get(p);
    const labels = longest.series.map((p, i) => samePeriod ? label(p.start, compare.bucket) : `#${i + 1}`);
    const align = (panel, key) => {
      if (!samePeriod) return panel.series.map((p) => p[key]);
      const byStart = new Map(panel.series.map((p) => [wall(p), p[key]]));
      return longest.series.map((p) => (byStart.has(wall(p)) ? byStart.get(wall(p)) : null));
    };
    for (const [id, key] of [["compare-chart", "satisfaction_index"], ["compare-visits-chart", "visits"]]) {
      const datasets = [];
      compare.panels.forEach((panel, i) => {
        const color = palette[i % 12];
        datasets.push({ type: key === "visits" ? "bar" : "line", label: panel.label, data: align(panel, key),
                        borderColor: color, backgroundColor: color, pointRadius: 2 });
        if (key !== "visits") {
          const rows = samePeriod ? longest.series.map((p) => panel.series.find((q) => wall(q) === wall(p)) || {})
                                  : panel.series;
          datasets.push(...band(rows, color).map((d) => ({ ...d, label: `${panel.label} ${d.label}` })));
        }
      });
      new Chart(document.getElementById(id), {
        data: { labels, datasets },
        options: { ...common, plugins: { legend: noBand },
                   scales: key === "visits" ? { y: { beginAtZero: true } } : { y: { min: -1, max: 1 } } },
      });
    }
  }
})();

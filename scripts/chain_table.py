"""The known-truth guide's tables from `edgeemo evaluate --chain --json` reports: each profile's visits
and store-day figures, and the far-versus-near drift of each estimator (the same faces, scenario and
store-day size) against the corrected index's interval half-width.

    python scripts/chain_table.py reports/chain/ferplus_cnn_int8_far.json reports/chain/ferplus_cnn_int8_near.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows_of(report: dict) -> dict[tuple[str, int, str], dict]:
    return {(r["scenario"], r["n"], r["estimator"]): r for r in report["chain"]}


def main() -> int:
    reports = {Path(p).stem: json.loads(Path(p).read_text()) for p in sys.argv[1:]}
    print("| report | boxes | simulated | recorded | recall | split | merged | false | label accuracy | chain s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, report in reports.items():
        v = report["visits"]
        print(f"| `{name}` | {report.get('chain_boxes', 'detector')} | {v['simulated']} | {v['recorded']} | "
              f"{v['recall']:.3f} | {v['split']:.3f} | {v['merged']:.3f} | {v['false']:.3f} | "
              f"{v['label_accuracy']:.3f} | {report.get('chain_seconds', 0):.0f} |")
    print()
    print("| report | scenario | n | MAE count | MAE corrected | corrected / count | bias corrected | coverage count "
          "| coverage corrected | mix MAE corrected | mix coverage min |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, report in reports.items():
        rows = rows_of(report)
        for (scenario, n, estimator), row in rows.items():
            if estimator != "corrected":
                continue
            count = rows[(scenario, n, "count")]
            ratio = row["mae_index"] / count["mae_index"] if count["mae_index"] else float("nan")
            low = row.get("coverage_mix_min")
            lowest = "" if low is None else f"{low:.3f} ({row['coverage_mix_min_label']})"
            print(f"| `{name}` | {scenario} | {n} | {count['mae_index']:.4f} | {row['mae_index']:.4f} | {ratio:.2f} | "
                  f"{row['bias_index']:+.4f} | {count['coverage_index']:.3f} | {row['coverage_index']:.3f} | "
                  f"{row['mae_mix']:.4f} | {lowest} |")
    far = next((r for n, r in reports.items() if n.endswith("_far")), None)
    near = next((r for n, r in reports.items() if n.endswith("_near")), None)
    if far is not None and near is not None:
        print()
        print("| scenario | n | raw drift (far - near) | corrected drift | corrected half-width (far, near) | within |")
        print("| --- | ---: | ---: | ---: | --- | --- |")
        a, b = rows_of(far), rows_of(near)
        for scenario, n, estimator in a:
            if estimator != "corrected" or (scenario, n, estimator) not in b:
                continue
            raw = a[(scenario, n, "count")]["bias_index"] - b[(scenario, n, "count")]["bias_index"]
            drift = a[(scenario, n, "corrected")]["bias_index"] - b[(scenario, n, "corrected")]["bias_index"]
            widths = (a[(scenario, n, "corrected")].get("half_width_index"),
                      b[(scenario, n, "corrected")].get("half_width_index"))
            within = "" if None in widths else ("yes" if abs(drift) <= min(w for w in widths if w is not None)
                                                else "no")
            shown = ", ".join("" if w is None else f"{w:.4f}" for w in widths)
            print(f"| {scenario} | {n} | {raw:+.4f} | {drift:+.4f} | {shown} | {within} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

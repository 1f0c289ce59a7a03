#!/bin/sh
# Short, equal-budget runs comparing ways to handle FER-2013's class imbalance.
# Judged on the validation split only (test is never used for a choice):
# accuracy, macro-F1 and disgust recall, from each run's sidecar.
#   sh scripts/compare_imbalance.sh ../shared/data/fer2013/train 5
set -eu
DATA=${1:?training data}
EPOCHS=${2:-5}
OUT=${3:-runs/imbalance}
mkdir -p "$OUT"
run() {
    name=$1; shift
    [ -f "$OUT/$name/model.json" ] || edgeemo train --data "$DATA" --out "$OUT/$name" --epochs "$EPOCHS" "$@" > "$OUT/$name.log" 2>&1
}
run smoothing     --class-weights none     --label-smoothing 0.1
run balanced      --class-weights balanced --label-smoothing 0
run sqrt_smoothed --class-weights sqrt     --label-smoothing 0.1
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
print("| variant | val accuracy | val macro-F1 | disgust recall | fear recall |")
print("| --- | ---: | ---: | ---: | ---: |")
for name in ("smoothing", "balanced", "sqrt_smoothed"):
    made = json.loads((Path(sys.argv[1]) / name / "model.json").read_text())["made_by"]
    recall = made["validation_recall"]
    print(f"| {name} | {made['validation_accuracy']:.4f} | {made['validation_macro_f1']:.4f} | "
          f"{recall['disgust']:.3f} | {recall['fear']:.3f} |")
PY

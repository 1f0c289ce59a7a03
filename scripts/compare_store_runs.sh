#!/bin/sh
# The store-camera candidates side by side on the honest validation split (never the test split): each
# run's float model at 48, 40, 32 and 24 px, sharp and behind JPEG q70, through the runtime's own resize.
# Writes reports/store_runs/NAME.json (edgeemo evaluate --sizes) and prints the model card's table.
#   sh scripts/compare_store_runs.sh ../shared/data/fer2013/train ../shared/data/ferplus/ferplus_votes.csv \
#       runs/ferplus_cnn_v2.keras runs/ferplus_store_a/model.keras runs/ferplus_store_c/model.keras \
#       runs/ferplus_store_long/model.keras
set -eu
DATA=${1:?the FER-2013 train folder}
VOTES=${2:?FER+ votes CSV, or - for FER-2013 labels}
shift 2
LABELS=""
[ "$VOTES" != "-" ] && LABELS="--votes $VOTES"
mkdir -p reports/store_runs
for model in "$@"; do
    name=$(basename "$(dirname "$model")")
    case "$name" in runs | models) name=$(basename "$model" .keras) ;; esac
    # shellcheck disable=SC2086  # LABELS is zero or two words
    edgeemo evaluate --model "$model" --data "$DATA" --split validation $LABELS --sizes 48,40,32,24 --jpeg 70 \
        --json > "reports/store_runs/$name.json"
done
python - "$@" <<'PY'
import json, sys
from pathlib import Path
print("| run | 48 px | 40 px | 32 px | 24 px | 32 px + JPEG q70 | 24 px + JPEG q70 | raw index 48 -> 32 px |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for model in sys.argv[1:]:
    path = Path(model)
    name = path.parent.name if path.parent.name not in ("runs", "models") else path.stem
    rows = {(r["width"], r["jpeg"]): r for r in json.loads(Path(f"reports/store_runs/{name}.json").read_text())["sizes"]["rows"]}
    cells = [f"{100 * rows[key]['accuracy']:.2f}%" for key in ((48, None), (40, None), (32, None), (24, None), (32, 70), (24, 70))]
    drift = rows[(32, None)]["index_raw"] - rows[(48, None)]["index_raw"]
    print(f"| `{name}` | " + " | ".join(cells) + f" | {drift:+.3f} |")
PY

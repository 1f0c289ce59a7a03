#!/bin/sh
# The 600M-MAC-budget model (v3 M, train/presets/ferplus_m.toml: 351M MACs) in one run, on a machine with an
# accelerator (a GPU that TensorFlow sees): train, convert to int8 against the FER+ calibration set behind
# the drift gate, evaluate on PublicTest at the store camera's sizes, and print the measured training speed.
#   sh scripts/train_on_accelerator.sh ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv runs/ferplus_m
# Refuses to start without an accelerator (on 2 CPU cores it is an estimated tens of hours: the preset says).
set -eu
FER=${1:?FER-2013 root holding train/ and test/}
VOTES=${2:?ferplus_votes.csv}
OUT=${3:-runs/ferplus_m}
export TF_USE_LEGACY_KERAS=1
python - <<'PY'
import sys
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
if not gpus:
    sys.exit("train_on_accelerator: TensorFlow sees no GPU here; run it where one is (see the preset's comment)")
print(f"accelerator: {', '.join(g.name for g in gpus)}")
PY
if [ -f "$OUT/checkpoint/state.json" ]; then
    edgeemo train --out "$OUT" --resume
else
    edgeemo train --config train/presets/ferplus_m.toml --data "$FER/train" --votes "$VOTES" --out "$OUT"
fi
python - "$OUT/history.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"training speed: {statistics.median(float(r['images_per_s']) for r in rows):.0f} images/s (median over "
      f"{len(rows)} epochs), {sum(float(r['seconds']) for r in rows) / 60:.0f} min in all")
PY
cp "$OUT/model.keras" models/ferplus_m.keras && cp "$OUT/model.json" models/ferplus_m.json
edgeemo convert --int8 --model models/ferplus_m.keras --calib calibration/ferplus_train_500.npz --data "$FER/train" \
    --votes "$VOTES" --max-drop 0.3 --min-agreement 0.985
edgeemo evaluate --model models/ferplus_m_int8.tflite --data "$FER" --split test --votes "$VOTES" \
    --sizes 48,40,32,24 --jpeg 70

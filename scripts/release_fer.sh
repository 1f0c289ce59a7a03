#!/bin/sh
# How a 7-class FER-2013 family member (not the default fer_cnn: scripts/release_model.sh) and its
# numbers in models/MODEL_CARD.md are made from a run:
#   sh scripts/release_fer.sh runs/fer_s ../shared/data/fer2013 fer_s
# Writes models/NAME.{keras,json}, models/NAME_int8.{tflite,json} (+ drift report) and the measurements
# under reports/NAME/ (FER-2013 PublicTest is only evaluated here, never used for a choice).
set -eu
RUN=${1:?run directory}
FER=${2:?FER-2013 root holding train/ and test/}
NAME=${3:?model name, e.g. fer_s}
OUT=reports/$NAME
mkdir -p "$OUT" models
. "$(dirname "$0")/release_lib.sh"
ship_model "$RUN" "$NAME"
# the model's confusion on its own validation split: the calibration the corrected index is made with
edgeemo evaluate --model "models/$NAME.keras" --data "$FER/train" --split validation --write-calibration --json \
    > "$OUT/float_validation.json"
logged "$OUT/convert.log" edgeemo convert --int8 --model "models/$NAME.keras" --data "$FER/train" \
    --max-drop 0.3 --min-agreement 0.985
logged "$OUT/edgetpu_check.txt" edgeemo edgetpu-check "models/${NAME}_int8.tflite"
# latency first, while nothing else runs on the machine; today's int8 models beside this one
logged "$OUT/latency.txt" python scripts/latency.py --model models/fer_cnn_int8.tflite \
    --model models/ferplus_cnn_int8.tflite --model "models/$NAME.keras" --model "models/${NAME}_int8.tflite" --n 1000
for kind in float int8; do
    model=models/$NAME.keras; [ $kind = int8 ] && model=models/${NAME}_int8.tflite
    edgeemo evaluate --model $model --data "$FER/test" --train-data "$FER/train" --out "$OUT/${kind}_test"
    edgeemo evaluate --model $model --data "$FER/test" --tta flip --json > "$OUT/${kind}_test_tta.json"
done
cp "$OUT/int8_test/confusion_matrix.png" "models/${NAME}_int8_publictest_confusion.png"
mkdir -p reports/quantify
edgeemo evaluate --model "models/${NAME}_int8.tflite" --data "$FER/test" --quantify --json \
    > "reports/quantify/${NAME}_int8_publictest.json"
edgeemo drift --float "models/$NAME.keras" --int8 "models/${NAME}_int8.tflite" --data "$FER/test" \
    --max-drop 0.3 --min-agreement 0.985 --out "$OUT/drift_test" || echo "drift targets missed on test"

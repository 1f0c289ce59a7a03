#!/bin/sh
# How the shipped FER+ models and the numbers in models/MODEL_CARD.md's FER+ section are made:
#   sh scripts/release_ferplus.sh runs/ferplus_std_light ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv
#   sh scripts/release_ferplus.sh runs/ferplus_s ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv ferplus_s
# Writes models/NAME.{keras,json} (NAME: ferplus_cnn unless given), calibration/ferplus_train_500.{npz,json},
# models/NAME_int8.{tflite,json} (+ drift report), and the measurements under reports/ferplus/
# (reports/NAME/ for another name; FER+ PublicTest is only evaluated here, never used for a choice).
set -eu
RUN=${1:?run directory}
FER=${2:?FER-2013 root holding train/ and test/}
VOTES=${3:?ferplus_votes.csv}
NAME=${4:-ferplus_cnn}
OUT=reports/ferplus
[ "$NAME" = ferplus_cnn ] || OUT=reports/$NAME
mkdir -p "$OUT" models calibration
. "$(dirname "$0")/release_lib.sh"
ship_model "$RUN" "$NAME"
# the model's confusion on its own validation split: the calibration the corrected index is made with
edgeemo evaluate --model "models/$NAME.keras" --data "$FER/train" --votes "$VOTES" --split validation \
    --write-calibration --json > "$OUT/float_validation.json"
[ -f calibration/ferplus_train_500.npz ] || logged "$OUT/calibrate.log" edgeemo calibrate --data "$FER/train" \
    --votes "$VOTES" --n 500 --out calibration/ferplus_train_500.npz
logged "$OUT/convert.log" edgeemo convert --int8 --model "models/$NAME.keras" \
    --calib calibration/ferplus_train_500.npz --data "$FER/train" --votes "$VOTES" --max-drop 0.3 --min-agreement 0.985
logged "$OUT/edgetpu_check.txt" edgeemo edgetpu-check "models/${NAME}_int8.tflite"
# latency first, while nothing else runs on the machine; today's int8 models beside this one
others=""
for shipped in fer_cnn_int8 ferplus_cnn_int8; do
    [ "$shipped" = "${NAME}_int8" ] || others="$others --model models/$shipped.tflite"
done
# shellcheck disable=SC2086
logged "$OUT/latency.txt" python scripts/latency.py $others --model "models/$NAME.keras" \
    --model "models/${NAME}_int8.tflite" --n 1000
for kind in float int8; do
    model=models/$NAME.keras; [ $kind = int8 ] && model=models/${NAME}_int8.tflite
    edgeemo evaluate --model $model --data "$FER/test" --votes "$VOTES" --train-data "$FER/train" \
        --out "$OUT/${kind}_test"
    edgeemo evaluate --model $model --data "$FER/test" --votes "$VOTES" --tta flip --json > "$OUT/${kind}_test_tta.json"
done
cp "$OUT/int8_test/confusion_matrix.png" "models/${NAME}_int8_publictest_confusion.png"
# convert wrote the int8 model's own calibration; how well the corrected figures come out (still faces):
mkdir -p reports/quantify
edgeemo evaluate --model "models/${NAME}_int8.tflite" --data "$FER/test" --votes "$VOTES" --quantify --json \
    > "reports/quantify/${NAME}_int8_publictest.json"
edgeemo drift --float "models/$NAME.keras" --int8 "models/${NAME}_int8.tflite" --data "$FER/test" \
    --votes "$VOTES" --max-drop 0.3 --min-agreement 0.985 --out "$OUT/drift_test" || echo "drift targets missed on test"

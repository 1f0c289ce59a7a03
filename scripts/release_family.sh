#!/bin/sh
# How a model of the family and its numbers in models/MODEL_CARD.md are made from a run: FER+ (8 classes)
# when the votes file is given, FER-2013's 7 classes without it. The default fer_cnn has its own,
# scripts/release_model.sh; scripts/release_ferplus.sh calls this one for the FER+ models.
#   sh scripts/release_family.sh runs/ferplus_s ../shared/data/fer2013 ferplus_s ../shared/data/ferplus/ferplus_votes.csv
#   sh scripts/release_family.sh runs/fer_s ../shared/data/fer2013 fer_s
# Writes models/NAME.{keras,json}, models/NAME_int8.{tflite,json} (+ drift report), for FER+ the calibration
# set calibration/ferplus_train_500.{npz,json} when missing, and the measurements under reports/NAME/
# (reports/ferplus/ for ferplus_cnn). The test split is only evaluated here, never used for a choice.
# shellcheck disable=SC2086  # LABELS, CALIB and others are zero or more words, split on purpose
set -eu
RUN=${1:?run directory}
FER=${2:?FER-2013 root holding train/ and test/}
NAME=${3:?model name, e.g. ferplus_s}
VOTES=${4:-}
OUT=reports/$NAME
[ "$NAME" = ferplus_cnn ] && OUT=reports/ferplus
LABELS=""      # how every data-reading command is told the labels: FER+ votes or FER-2013's folders
CALIB=""
mkdir -p "$OUT" models
if [ -n "$VOTES" ]; then
    LABELS="--votes $VOTES"
    CALIB="--calib calibration/ferplus_train_500.npz"
    mkdir -p calibration
fi
. "$(dirname "$0")/release_lib.sh"
ship_model "$RUN" "$NAME"
# the model's confusion on its own validation split: the calibration the corrected index is made with
edgeemo evaluate --model "models/$NAME.keras" --data "$FER/train" $LABELS --split validation \
    --write-calibration --json > "$OUT/float_validation.json"
if [ -n "$VOTES" ] && [ ! -f calibration/ferplus_train_500.npz ]; then
    logged "$OUT/calibrate.log" edgeemo calibrate --data "$FER/train" $LABELS --n 500 \
        --out calibration/ferplus_train_500.npz
fi
logged "$OUT/convert.log" edgeemo convert --int8 --model "models/$NAME.keras" $CALIB --data "$FER/train" $LABELS \
    --max-drop 0.3 --min-agreement 0.985
logged "$OUT/edgetpu_check.txt" edgeemo edgetpu-check "models/${NAME}_int8.tflite"
# latency first, while nothing else runs on the machine; today's int8 models beside this one
others=""
for shipped in fer_cnn_int8 ferplus_cnn_int8; do
    [ "$shipped" = "${NAME}_int8" ] || others="$others --model models/$shipped.tflite"
done
logged "$OUT/latency.txt" python scripts/latency.py $others --model "models/$NAME.keras" \
    --model "models/${NAME}_int8.tflite" --n 1000
for kind in float int8; do
    model=models/$NAME.keras; [ $kind = int8 ] && model=models/${NAME}_int8.tflite
    edgeemo evaluate --model $model --data "$FER/test" $LABELS --train-data "$FER/train" --out "$OUT/${kind}_test"
    edgeemo evaluate --model $model --data "$FER/test" $LABELS --tta flip --json > "$OUT/${kind}_test_tta.json"
done
cp "$OUT/int8_test/confusion_matrix.png" "models/${NAME}_int8_publictest_confusion.png"
# convert wrote the int8 model's own calibration; how well the corrected figures come out (still faces):
mkdir -p reports/quantify
edgeemo evaluate --model "models/${NAME}_int8.tflite" --data "$FER/test" $LABELS --quantify --json \
    > "reports/quantify/${NAME}_int8_publictest.json"
edgeemo drift --float "models/$NAME.keras" --int8 "models/${NAME}_int8.tflite" --data "$FER/test" $LABELS \
    --max-drop 0.3 --min-agreement 0.985 --out "$OUT/drift_test" || echo "drift targets missed on test"
